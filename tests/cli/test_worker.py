from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import select

from fastapp.app import new_runtime, start, stop
from fastapp.cli.database import upgrade_to_head
from fastapp.cli.worker import worker_config
from fastapp.config import load_config
from fastapp.platform.context import open_context
from fastapp.platform.jobs import Job, enqueue
from tests.conftest import make_config


async def _enqueue_and_read(*, enqueue_one: bool) -> list[Job]:
    """Enqueue a job (with no handler anywhere) and/or read the jobs, through the app's runtime."""
    config = load_config()
    config = config.model_copy(update={"jobs": config.jobs.model_copy(update={"in_process": False})})
    await upgrade_to_head(config)
    runtime = new_runtime(config)
    await start(runtime)
    try:
        if enqueue_one:
            async with open_context(runtime, request_id="t", ip=None) as ctx:
                await enqueue(ctx, "nobody.handles", {"n": 1}, max_attempts=1)
        async with runtime.backends.db.transaction() as session:
            return list((await session.scalars(select(Job))).all())
    finally:
        await stop(runtime)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


def test_worker_runs_jobs_serves_its_metrics_and_stops_on_sigterm(env: dict[str, str]) -> None:
    asyncio.run(_enqueue_and_read(enqueue_one=True))
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fastapp", "worker", "--concurrency", "2", "--grace", "1", "--metrics-port", str(port)],
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            jobs = {j.name: j for j in asyncio.run(_enqueue_and_read(enqueue_one=False))}
            job = jobs["nobody.handles"]
            if job.state == "dead":
                break
            time.sleep(0.2)
        assert job.state == "dead" and "no handler is registered" in (job.last_error or "")
        assert "privacy.retention" in jobs  # its scheduler enqueued the latest slot of the daily retention
        time.sleep(0.2)  # the failure is counted once it is recorded
        assert 'fastapp_jobs_dead_total{name="nobody.handles",queue="default"} 1.0' in _scrape(port)
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "queues default, email · 2 at a time" in err and "worker stopped" in err  # every declared queue
    assert f"metrics at http://127.0.0.1:{port}/metrics" in err


def test_worker_names_an_addon_it_cannot_load(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fastapp", "worker"],
        env={**os.environ, **env, "FASTAPP_ADDONS": "no_such_addon_module"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "FASTAPP_ADDONS: cannot import 'no_such_addon_module'" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_refuses_an_unsafe_production_configuration(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fastapp", "worker"],
        env={**os.environ, **env, "FASTAPP_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "FASTAPP_SECRET_KEY" in result.stderr and "FASTAPP_DATABASE_URL" in result.stderr


def test_a_workers_pool_has_a_connection_per_job_and_two_more() -> None:
    config = make_config(Path("var"), jobs={"concurrency": 4})
    assert config.database.pool_size == 10
    sized = worker_config(config, 16)
    assert (sized.jobs.concurrency, sized.jobs.in_process, sized.database.pool_size) == (16, False, 18)
    assert worker_config(config).database.pool_size == 10  # 4 + 2 fit the configured pool
    assert worker_config(config).jobs.concurrency == 4
