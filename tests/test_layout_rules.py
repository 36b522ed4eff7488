"""Rules of the code base that no linter enforces for us."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "fastapp"
ENV_ACCESS = re.compile(r"\bos\.environ\b|\bgetenv\(|\bload_dotenv\(")
FOREIGN = re.compile(r"https?://(cdn\.|unpkg\.com|cdnjs\.|fonts\.(googleapis|gstatic)\.com|cdn\.jsdelivr)")


def _python_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_only_config_reads_the_environment() -> None:
    offenders = [
        str(p.relative_to(SRC)) for p in _python_files() if p.name != "config.py" and ENV_ACCESS.search(p.read_text())
    ]
    assert offenders == []


def test_no_source_names_a_cdn() -> None:
    offenders = [str(p.relative_to(SRC)) for p in _python_files() if FOREIGN.search(p.read_text())]
    assert offenders == []


def test_modules_stay_small() -> None:
    """STYLE.md: past 800 lines a module becomes a subpackage."""
    too_long = {str(p.relative_to(SRC)): n for p in _python_files() if (n := len(p.read_text().splitlines())) > 800}
    assert too_long == {}


def test_every_built_asset_in_the_manifest_exists() -> None:
    import json

    dist = SRC / "static" / "dist"
    manifest = json.loads((dist / "manifest.json").read_text())
    assert {"app.css", "app.js", "htmx.js", "franken.css", "franken.js", "icons.js"} <= set(manifest)
    for name in manifest.values():
        assert (dist / name).is_file(), name
    unlisted = {p.name for p in dist.iterdir()} - set(manifest.values()) - {"manifest.json"}
    assert unlisted == set()


def test_every_setting_is_documented() -> None:
    from fastapp.config import Config

    sections = [field.annotation for field in Config.model_fields.values()]
    docs = (SRC.parent.parent / "docs" / "configuration.md").read_text()
    missing = [
        f"{cls.model_config['env_prefix']}{name}".upper()
        for cls in sections
        for name in cls.model_fields
        if f"`{cls.model_config['env_prefix']}{name}`".upper() not in docs.upper()
    ]
    assert missing == []
