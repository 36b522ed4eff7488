"""Cold start of ``fastapp serve`` on an empty var/ folder: seconds from launch to the first 200
of the home page (imports, migrations, server start, first render).

    uv run python bench/cold_start.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx


def one_run() -> float:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as var:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FASTAPP_")}
        env["FASTAPP_VAR_DIR"] = var
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "fastapp", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                        return time.perf_counter() - started
                except httpx.TransportError:
                    time.sleep(0.02)
                if process.poll() is not None:
                    raise RuntimeError("fastapp serve exited")
        finally:
            process.terminate()
            process.wait(timeout=20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = [one_run() for _ in range(args.runs)]
    print(
        f"cold start to first 200: median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s over {len(times)} runs"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
