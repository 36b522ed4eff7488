"""Refresh the committed pins: ``uv run python scripts/lock.py [--upgrade]``.

``uv.lock`` records registry addresses, so it is not committed. Instead this writes
``requirements.lock`` (every package, exact version and hashes, no host) for images and
``pip install --require-hashes``, and copies the same versions into ``[tool.uv]
constraint-dependencies`` in pyproject.toml so that ``uv run`` on a fresh clone resolves exactly
these versions. ``.ci/run`` fails when the two drift from what uv resolves.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPORT = ["uv", "export", "--frozen", "--all-groups", "--no-emit-project", "--format", "requirements-txt"]
BLOCK = re.compile(r"(?ms)^constraint-dependencies = \[\n.*?^\]\n")


def export() -> str:
    return subprocess.run(EXPORT, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def pins(requirements: str) -> list[str]:
    """``name==version ; marker`` for each package of an exported requirements file."""
    found = []
    for line in requirements.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            found.append(line.rstrip(" \\"))
    return sorted(found, key=str.lower)


def main() -> int:
    lock = ["uv", "lock"] + (["--upgrade"] if "--upgrade" in sys.argv else [])
    subprocess.run(lock, cwd=ROOT, check=True)
    requirements = export()
    (ROOT / "requirements.lock").write_text(requirements)
    block = "constraint-dependencies = [\n" + "".join(f'    "{p}",\n' for p in pins(requirements)) + "]\n"
    pyproject = ROOT / "pyproject.toml"
    text = pyproject.read_text()
    text = BLOCK.sub(block, text) if BLOCK.search(text) else text.replace("[tool.uv]\n", "[tool.uv]\n" + block)
    pyproject.write_text(text)
    print(f"pinned {len(pins(requirements))} packages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
