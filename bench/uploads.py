"""Upload throughput and memory of the storage backends, through ``Storage.put_file`` (and
``put_stream``), to a local folder and to S3 (a moto server in its own process).

    uv run python bench/uploads.py [--sizes 100,20] [--runs 3] [--quick]

For each backend, size (MB) and method, ``--runs`` fresh child processes (``--child``) each build
the storage as the app does, warm it up with a 1 MB upload (imports, threads, the connection pool),
note their peak RSS (``ru_maxrss``), upload the test file once and report the seconds taken and how
much the peak RSS grew during the upload. The test file is written by this process beforehand (random
bytes, so nothing compresses) and the object deleted after each run. moto keeps objects in its
own memory, which is why it runs in a separate process: the child's RSS is the app's side only.

``put_file`` is what the files domain calls for an upload spooled to disk; ``put_stream`` is fed 1 MiB
chunks read from the file (an upload streamed straight through). The figures to compare are the RSS
growth at 20 MB against 100 MB (it must not grow with the file) and MB/s per backend. moto is a
Python server on the same 2 cores, so S3 MB/s here is a floor, not what AWS would give. Results are
appended to ``bench/results/uploads.jsonl``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "uploads.jsonl"
MB = 1_000_000
BUCKET = "bench"
CREDENTIALS = {"access_key_id": "bench", "secret_access_key": "bench-secret", "region": "us-east-1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()  # noqa: S310 - loopback
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("moto server did not start") from None
            time.sleep(0.2)
    return process, endpoint


def make_storage(backend: str, endpoint: str, folder: Path) -> Any:
    from fastapp.platform.storage import LocalStorage, S3Storage

    if backend == "local":
        return LocalStorage(folder)
    return S3Storage(bucket=BUCKET, endpoint_url=endpoint, path_style=True, **CREDENTIALS)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def child(backend: str, method: str, path: Path, endpoint: str, folder: Path) -> dict[str, Any]:
    storage = make_storage(backend, endpoint, folder)
    warm = folder.parent / "warm.bin"
    warm.write_bytes(os.urandom(MB))
    await storage.put_file("bench/warm", warm, content_type="application/octet-stream")
    await storage.delete("bench/warm")

    async def chunks() -> Any:
        with path.open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, 1024 * 1024):
                yield chunk

    before = peak_rss_mb()
    started = time.perf_counter()
    if method == "put_file":
        size = await storage.put_file("bench/object", path, content_type="application/octet-stream")
    else:
        size = await storage.put_stream("bench/object", chunks(), content_type="application/octet-stream")
    seconds = time.perf_counter() - started
    after = peak_rss_mb()
    expected = (await asyncio.to_thread(path.stat)).st_size
    assert size == expected, (size, expected)
    assert await storage.size("bench/object") == size
    await storage.delete("bench/object")
    await storage.close()
    return {"seconds": seconds, "peak_rss_before_mb": round(before, 1), "rss_growth_mb": round(after - before, 1)}


def run_child(backend: str, method: str, path: Path, endpoint: str, folder: Path) -> dict[str, Any]:
    answer = subprocess.run(
        [sys.executable, __file__, "--child", backend, method, str(path), endpoint, str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(answer.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,20", help="comma-separated file sizes in MB")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run of 20 MB")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backend, method, path, endpoint, folder = args.child
        print(json.dumps(asyncio.run(child(backend, method, Path(path), endpoint, Path(folder)))))
        return
    sizes = [20] if args.quick else [int(s) for s in args.sizes.split(",")]
    runs = 1 if args.quick else args.runs

    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    moto, endpoint = start_moto()
    try:
        import boto3

        boto3.session.Session(
            aws_access_key_id=CREDENTIALS["access_key_id"],
            aws_secret_access_key=CREDENTIALS["secret_access_key"],
            region_name=CREDENTIALS["region"],
        ).client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        rows = []
        with tempfile.TemporaryDirectory(
            prefix="bench-uploads-", dir=HERE.parent / "var" if (HERE.parent / "var").is_dir() else None
        ) as tmp:
            work = Path(tmp)
            for size_mb in sizes:
                path = work / f"{size_mb}mb.bin"
                with path.open("wb") as handle:
                    for _ in range(size_mb):
                        handle.write(os.urandom(MB))
                for backend in ("local", "s3"):
                    for method in ("put_file", "put_stream"):
                        results = [run_child(backend, method, path, endpoint, work / "files") for _ in range(runs)]
                        seconds = statistics.median(r["seconds"] for r in results)
                        row = {
                            "backend": backend,
                            "method": method,
                            "size_mb": size_mb,
                            "runs": runs,
                            "seconds_median": round(seconds, 3),
                            "mb_per_s_median": round(size_mb / seconds, 1),
                            "mb_per_s_range": [round(size_mb / r["seconds"], 1) for r in results],
                            "rss_growth_mb": [r["rss_growth_mb"] for r in results],
                            "rss_before_mb": results[0]["peak_rss_before_mb"],
                        }
                        rows.append(row)
                        print(
                            f"{backend:5} {method:10} {size_mb:4} MB  {row['mb_per_s_median']:7.1f} MB/s "
                            f"(runs {row['mb_per_s_range']})  peak RSS +{max(row['rss_growth_mb'])} MB "
                            f"(from {row['rss_before_mb']} MB)",
                            flush=True,
                        )
                path.unlink()
    finally:
        moto.terminate()
        moto.wait(10)
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "loadavg_before": loadavg_before,
        "quick": args.quick,
        "results": rows,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
