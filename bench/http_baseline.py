"""Requests per second and p99 latency of FastApp's home page and /healthz on one worker, beside
a bare Starlette JSON endpoint measured in the same run.

    uv run python bench/http_baseline.py [--seconds 10] [--connections 32]

Needs ``wrk`` (Debian: ``apt-get install wrk``). Each server runs as one uvicorn process on
127.0.0.1; wrk runs with one thread, so on a 2-core machine the server has a core to itself.
Absolute numbers drift on shared machines: compare the ratios. Results are appended to
``bench/results/http_baseline.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "http_baseline.jsonl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(command: list[str], env: dict[str, str], health: str) -> Iterator[None]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(health, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {' '.join(command)}")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        process.wait(timeout=20)


def wrk(url: str, seconds: int, connections: int, *, header: str | None = None) -> dict[str, float]:
    extra = ["-H", header] if header else []
    subprocess.run(["wrk", "-t1", "-c8", "-d2s", *extra, url], check=True, capture_output=True)  # warm up
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_value, p99_unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99_unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99_ms": float(p99_value) * scale, "non_2xx": float(errors.group(1)) if errors else 0.0}


def measure_reference(module: str, env: dict[str, str], seconds: int, connections: int) -> dict[str, float]:
    """req/s and p99 of a reference ASGI app in ``bench/`` (``module:app``), served by uvicorn alone."""
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", module, "--port", str(port), "--no-access-log", "--app-dir", str(HERE)]
    with server(cmd, env, f"http://127.0.0.1:{port}/"):
        return wrk(f"http://127.0.0.1:{port}/", seconds, connections)


def report(results: dict[str, dict[str, float]], reference: str, path: Path, **meta: object) -> None:
    """Print req/s, p99 and the ratio to ``reference``, and append the run to ``path`` (JSON lines)."""
    base = results[reference]["rps"]
    ratios = {k: round(v["rps"] / base, 3) for k, v in results.items()}
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        **meta,
        "results": results,
        f"ratio_to_{reference}": ratios,
    }
    path.parent.mkdir(exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(record) + "\n")
    print(f"{'endpoint':<18}{'req/s':>10}{'p99 ms':>10}{'ratio':>10}")
    for name, values in results.items():
        print(f"{name:<18}{values['rps']:>10.0f}{values['p99_ms']:>10.2f}{ratios[name]:>10.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2

    results: dict[str, dict[str, float]] = {}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("FASTAPP_")}
    with tempfile.TemporaryDirectory() as var:
        port = free_port()
        env = {**base_env, "FASTAPP_VAR_DIR": var, "FASTAPP_SITE_URL": f"http://127.0.0.1:{port}"}
        cmd = [sys.executable, "-m", "fastapp", "serve", "--port", str(port)]
        with server(cmd, env, f"http://127.0.0.1:{port}/healthz"):
            results["fastapp_home"] = wrk(f"http://127.0.0.1:{port}/", args.seconds, args.connections)
            results["fastapp_healthz"] = wrk(f"http://127.0.0.1:{port}/healthz", args.seconds, args.connections)
    results["starlette_json"] = measure_reference("bare_app:app", base_env, args.seconds, args.connections)

    report(results, "starlette_json", RESULTS, seconds=args.seconds, connections=args.connections)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
