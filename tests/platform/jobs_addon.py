"""A test add-on for worker processes started by tests (``FASTAPP_ADDONS=tests.platform.jobs_addon``,
importable with the repository on ``PYTHONPATH``): jobs that leave a trace of every run.

Its tables are not part of the app's schema; a test creates them with ``metadata.create_all``.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, func, insert, select

from fastapp.platform.context import Context, Runtime
from fastapp.platform.registry import Registry

RECORD = "test.record"
HANG_ONCE = "test.hang_once"

metadata = MetaData()
#: Every run that got as far as its end, written in a transaction of its own: seen even when the
#: job's own transaction never commits.
runs = Table(
    "test_job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(36), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started", Float, nullable=False),
    Column("ended", Float),
)
#: The jobs' effect, written in the job's own transaction: a row per run that committed.
effects = Table(
    "test_job_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(36), nullable=False),
    Column("pid", Integer, nullable=False),
)


def job_id(ctx: Context) -> str:
    """The running job's id: a job's context is ``job:<id>``."""
    return ctx.request_id.removeprefix("job:")


async def record(runtime: Runtime, ctx: Context, _payload: dict[str, Any]) -> None:
    """Write the effect in the job's transaction, then note the run (start, end, process)."""
    started = time.time()
    await ctx.session.execute(insert(effects).values(job_id=job_id(ctx), pid=os.getpid()))
    await asyncio.sleep(random.uniform(0, 0.002))  # noqa: S311 - a run lasts a little, so overlaps could show
    async with runtime.backends.db.transaction() as session:
        await session.execute(
            insert(runs).values(job_id=job_id(ctx), pid=os.getpid(), started=started, ended=time.time())
        )


async def hang_once(runtime: Runtime, ctx: Context, _payload: dict[str, Any]) -> None:
    """Announce the run, write the effect in the job's transaction, and on the job's first run
    hang there (until the test kills the process); a later run finishes."""
    async with runtime.backends.db.transaction() as session:
        earlier = await session.scalar(select(func.count()).select_from(runs).where(runs.c.job_id == job_id(ctx)))
        await session.execute(insert(runs).values(job_id=job_id(ctx), pid=os.getpid(), started=time.time()))
    await ctx.session.execute(insert(effects).values(job_id=job_id(ctx), pid=os.getpid()))
    if not earlier:
        await asyncio.sleep(3600)


def register(registry: Registry) -> None:
    registry.add_job(RECORD, record)
    registry.add_job(HANG_ONCE, hang_once)
