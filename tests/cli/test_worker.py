from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

from sqlalchemy import select

from fastapp.app import new_runtime, start, stop
from fastapp.cli.database import upgrade_to_head
from fastapp.config import load_config
from fastapp.platform.context import open_context
from fastapp.platform.jobs import Job, enqueue


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


def test_worker_runs_jobs_and_stops_on_sigterm(env: dict[str, str]) -> None:
    asyncio.run(_enqueue_and_read(enqueue_one=True))
    process = subprocess.Popen(
        [sys.executable, "-m", "fastapp", "worker", "--concurrency", "2", "--grace", "1"],
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
        assert "audit.purge" in jobs  # its scheduler enqueued the latest slot of the daily purge
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "queues default · 2 at a time" in err and "worker stopped" in err
