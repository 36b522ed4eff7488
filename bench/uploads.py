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

    uv run python bench/uploads.py --app [--sizes 20,100,300] [--runs 3]

``--app`` measures the whole app instead: ``POST /api/v1/files`` (bearer token, multipart field
``file`` streamed from disk by httpx) to a real ``fastapp serve`` on the embedded SQLite default,
storing to the local folder and to S3 (moto, its own process). Each upload gets a fresh server
process: after the sign-in and a 1 MB warm-up upload, its peak RSS (``VmHWM`` in
``/proc/<pid>/status``) is reset to its current RSS (``clear_refs``) and read after the measured
upload, so the growth is that upload's alone. MB/s is the file size over the request's wall
time (body sent, spooled, hashed, sniffed, stored, recorded). The files are CSV (random hex, so
a ``document`` the pipeline accepts as text; nothing on the way compresses it).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
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
from collections.abc import Iterator
from contextlib import contextmanager
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


# -- through the app (--app) ----------------------------------------------------------------------

EMAIL = "bench@example.com"
PASSWORD = "benchmark passphrase with words 7"
LINE = 100  # bytes per CSV line: 49 hex digits, a comma, 49 hex digits, a newline


def write_csv(path: Path, size: int) -> str:
    """``size`` bytes of CSV made of random hex (valid UTF-8, no markup); its SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        left = size
        while left > 0:
            lines = min(left, MB) // LINE
            hexed = os.urandom(lines * 49).hex()
            block = "".join(
                f"{hexed[i : i + 49]},{hexed[i + 49 : i + 98]}\n" for i in range(0, lines * 98, 98)
            ).encode()
            block += b"0" * (min(left, MB) - len(block))  # sizes that are not a multiple of LINE
            digest.update(block)
            handle.write(block)
            left -= len(block)
    return digest.hexdigest()


def vm(pid: int) -> dict[str, float]:
    """``VmHWM`` (peak RSS) and ``VmRSS`` of ``pid`` in MB (the kernel reports kB)."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in {"VmHWM", "VmRSS"}:
            found[name] = round(int(value.split()[0]) * 1024 / MB, 1)
    return found


def base_env(folder: Path, port: int, settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTAPP_")}
    env.update(
        FASTAPP_VAR_DIR=str(folder / "var"),
        FASTAPP_SITE_URL=f"http://127.0.0.1:{port}",
        FASTAPP_LOG_LEVEL="WARNING",
        FASTAPP_FILES_MAX_UPLOAD_BYTES=str(512 * 1024 * 1024),
        **settings,
    )
    return env


@contextmanager
def fastapp_serve(folder: Path, settings: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A fresh ``fastapp serve`` (one process) on the instance in ``folder``; SIGTERM at the end."""
    import httpx

    port = free_port()
    env = base_env(folder, port, settings)
    with (folder / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "fastapp", "serve", "--port", str(port)],
            env=env,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"fastapp serve did not start; see {folder / 'server.log'}")
            time.sleep(0.1)
        yield process, url
    finally:
        process.terminate()
        process.wait(timeout=30)


def create_admin(folder: Path, settings: dict[str, str]) -> None:
    """``fastapp users create-admin`` against the instance, as an operator runs it."""
    subprocess.run(
        [sys.executable, "-m", "fastapp", "users", "create-admin", "--email", EMAIL, "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        env=base_env(folder, free_port(), settings),
        cwd=folder,
        check=True,
        capture_output=True,
    )


def post_file(client: Any, url: str, token: str, path: Path) -> tuple[float, dict[str, Any]]:
    """``POST /api/v1/files`` of ``path`` (httpx streams the open file); seconds taken and the answer."""
    with path.open("rb") as handle:
        started = time.perf_counter()
        answer = client.post(
            url + "/api/v1/files",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": (path.name, handle, "text/csv")},
            data={"purpose": "document"},
        )
        seconds = time.perf_counter() - started
    if answer.status_code != 201:
        raise SystemExit(f"upload of {path.name} answered {answer.status_code}: {answer.text[:500]}")
    return seconds, dict(answer.json())


def sign_in(client: Any, url: str) -> str:
    """An access token that works.

    The token route's transaction commits after its response is sent, and a session not found
    is cached as ended for a minute, so a token used at once can be refused for that minute
    (seen in about 1 of 10 tries here): wait a moment, check it, take another if refused.
    """
    for _ in range(5):
        answer = client.post(url + "/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
        answer.raise_for_status()
        token = str(answer.json()["access_token"])
        time.sleep(0.5)
        if client.get(url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200:
            return token
    raise SystemExit("no working access token after 5 sign-ins")


def app_run(folder: Path, settings: dict[str, str], path: Path, sha256: str, warm: Path) -> dict[str, Any]:
    """One measured upload on a fresh server: sign in, warm up, then ``path``."""
    import httpx

    with fastapp_serve(folder, settings) as (process, url), httpx.Client(timeout=600) as client:
        token = sign_in(client, url)
        post_file(client, url, token, warm)
        before = vm(process.pid)
        # Reset the high-water mark to the current RSS (Linux 4.0+): the start-up (migrations,
        # imports) peaks above an upload's working set and would hide any growth below it.
        Path(f"/proc/{process.pid}/clear_refs").write_text("5")
        reset = vm(process.pid)
        load = [round(x, 2) for x in os.getloadavg()]
        seconds, stored = post_file(client, url, token, path)
        after = vm(process.pid)
    size = path.stat().st_size
    assert stored["size"] == size, stored
    assert stored["sha256"] == sha256, stored
    assert stored["content_type"] == "text/csv", stored
    return {
        "seconds": seconds,
        "loadavg": load,
        "hwm_start_mb": before["VmHWM"],
        "rss_before_mb": reset["VmRSS"],
        "peak_during_mb": after["VmHWM"],
        "peak_growth_mb": round(after["VmHWM"] - reset["VmRSS"], 1),
        "rss_after_mb": after["VmRSS"],
    }


def empty_bucket(endpoint: str) -> None:
    """Drop the objects the app stored in moto (behind its back), so moto's memory stays flat."""
    import boto3

    client = boto3.session.Session(
        aws_access_key_id=CREDENTIALS["access_key_id"],
        aws_secret_access_key=CREDENTIALS["secret_access_key"],
        region_name=CREDENTIALS["region"],
    ).client("s3", endpoint_url=endpoint)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])


def app_benchmark(sizes: list[int], runs: int) -> dict[str, Any]:
    """``POST /api/v1/files`` of each size, ``runs`` times, to the local folder and to S3."""
    import boto3

    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    moto, endpoint = start_moto()
    rows = []
    try:
        boto3.session.Session(
            aws_access_key_id=CREDENTIALS["access_key_id"],
            aws_secret_access_key=CREDENTIALS["secret_access_key"],
            region_name=CREDENTIALS["region"],
        ).client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        backends = {
            "local": {},
            "s3": {
                "FASTAPP_STORAGE_BACKEND": "s3",
                "FASTAPP_S3_BUCKET": BUCKET,
                "FASTAPP_S3_ENDPOINT_URL": endpoint,
                "FASTAPP_S3_REGION": CREDENTIALS["region"],
                "FASTAPP_S3_ACCESS_KEY_ID": CREDENTIALS["access_key_id"],
                "FASTAPP_S3_SECRET_ACCESS_KEY": CREDENTIALS["secret_access_key"],
                "FASTAPP_S3_PATH_STYLE": "true",
            },
        }
        with tempfile.TemporaryDirectory(
            prefix="bench-uploads-app-", dir=HERE.parent / "var" if (HERE.parent / "var").is_dir() else None
        ) as tmp:
            work = Path(tmp)
            warm = work / "warm.csv"
            write_csv(warm, MB)
            for backend, settings in backends.items():
                (work / backend).mkdir()
                create_admin(work / backend, settings)
            for size_mb in sizes:
                path = work / f"upload-{size_mb}mb.csv"
                sha256 = write_csv(path, size_mb * MB)
                for backend, settings in backends.items():
                    results = []
                    for _ in range(runs):
                        results.append(app_run(work / backend, settings, path, sha256, warm))
                        if backend == "s3":
                            empty_bucket(endpoint)
                    seconds = statistics.median(r["seconds"] for r in results)
                    row = {
                        "backend": backend,
                        "method": "POST /api/v1/files",
                        "size_mb": size_mb,
                        "runs": runs,
                        "seconds_median": round(seconds, 3),
                        "mb_per_s_median": round(size_mb / seconds, 1),
                        "mb_per_s_range": [round(size_mb / r["seconds"], 1) for r in results],
                        "hwm_start_mb": [r["hwm_start_mb"] for r in results],
                        "rss_before_mb": [r["rss_before_mb"] for r in results],
                        "peak_during_mb": [r["peak_during_mb"] for r in results],
                        "peak_growth_mb": [r["peak_growth_mb"] for r in results],
                        "rss_after_mb": [r["rss_after_mb"] for r in results],
                        "loadavg": [r["loadavg"] for r in results],
                    }
                    rows.append(row)
                    print(
                        f"{backend:5} POST /api/v1/files {size_mb:4} MB  {row['mb_per_s_median']:7.1f} MB/s "
                        f"(runs {row['mb_per_s_range']})  RSS {row['rss_before_mb']} MB, peak during upload "
                        f"+{row['peak_growth_mb']} MB  load {[load[0] for load in row['loadavg']]}",
                        flush=True,
                    )
                path.unlink()
    finally:
        moto.terminate()
        moto.wait(10)
    return {"mode": "app", "uptime_before": uptime, "loadavg_before": loadavg_before, "results": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="comma-separated file sizes in MB (100,20; --app: 20,100,300)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one run of 20 MB")
    parser.add_argument("--app", action="store_true", help="upload through fastapp serve (POST /api/v1/files)")
    parser.add_argument("--no-save", action="store_true", help="do not append to results/uploads.jsonl")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backend, method, path, endpoint, folder = args.child
        print(json.dumps(asyncio.run(child(backend, method, Path(path), endpoint, Path(folder)))))
        return
    default_sizes = "20,100,300" if args.app else "100,20"
    sizes = [20] if args.quick else [int(s) for s in (args.sizes or default_sizes).split(",")]
    runs = 1 if args.quick else args.runs
    if args.app:
        save(app_benchmark(sizes, runs), quick=args.quick, no_save=args.no_save)
        return

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
    save({"loadavg_before": loadavg_before, "results": rows}, quick=args.quick, no_save=args.no_save)


def save(record: dict[str, Any], *, quick: bool, no_save: bool) -> None:
    record = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count(), "quick": quick, **record}
    if no_save:
        return
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
