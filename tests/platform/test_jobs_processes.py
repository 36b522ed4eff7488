"""The queue across real ``fastapp worker`` processes: a worker killed mid-job (SIGKILL) and one
that finishes its job once the lease lapsed; four workers sharing 2,000 jobs on PostgreSQL with
each job run once and never twice at the same time. Handlers come from the test add-on
``tests.platform.jobs_addon`` (FASTAPP_ADDONS)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import select

from fastapp.app import AddonError, build_registry
from fastapp.config import Config
from fastapp.platform.context import Runtime, open_context
from fastapp.platform.jobs import Job, JobState, enqueue, enqueue_many
from tests.conftest import make_config, root_of
from tests.platform import jobs_addon

REPO = Path(__file__).resolve().parents[2]
LEASE_S = 5  # the shortest FASTAPP_JOBS_LEASE_SECONDS allows: the killed worker's job waits this long


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    """No worker inside the app: the worker processes are the ones studied."""
    return make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})


@pytest.fixture
async def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    async with found.backends.db.engine.begin() as conn:
        await conn.run_sync(jobs_addon.metadata.create_all)
    return found


class Workers:
    """``fastapp worker`` processes on the test's database, with the test add-on loaded."""

    def __init__(self, database_url: str, var_dir: Path) -> None:
        self.var_dir = var_dir
        clean = {k: v for k, v in os.environ.items() if not k.startswith("FASTAPP_")}
        self.env = {
            **clean,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), clean.get("PYTHONPATH", "")])),
            "FASTAPP_DATABASE_URL": database_url,
            "FASTAPP_VAR_DIR": str(var_dir),
            "FASTAPP_ENCRYPTION_KEYS": "k1:" + "A" * 43,  # not a generated file several processes race for
            "FASTAPP_LOG_LEVEL": "WARNING",
            "FASTAPP_ADDONS": "tests.platform.jobs_addon",
            "FASTAPP_JOBS_LEASE_SECONDS": str(LEASE_S),
        }
        self.processes: list[subprocess.Popen[str]] = []
        self._logs: list[IO[str]] = []

    def start(self, count: int) -> None:
        for n in range(count):
            log = (self.var_dir / f"worker-{len(self.processes)}-{n}.log").open("w+")
            self._logs.append(log)
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "fastapp", "worker", "--grace", "2"],
                    cwd=REPO,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    text=True,
                )
            )

    def log(self, process: subprocess.Popen[str]) -> str:
        handle = self._logs[self.processes.index(process)]
        handle.flush()
        return Path(handle.name).read_text()

    def ident(self, process: subprocess.Popen[str]) -> str:
        """The worker identity it printed at start-up ("worker host:abcd1234 · ...")."""
        first = next(line for line in self.log(process).splitlines() if line.startswith("worker "))
        return first.split()[1]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for handle in self._logs:
            handle.close()


@contextmanager
def workers(database_url: str, var_dir: Path) -> Iterator[Workers]:
    group = Workers(database_url, var_dir)
    try:
        yield group
    finally:
        group.stop()


async def until(check: Callable[[], Awaitable[Any]], *, what: str, seconds: float = 60) -> Any:
    """Poll ``check`` every 100 ms until it returns something truthy; fail after ``seconds``."""
    for _ in range(int(seconds * 10)):
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {seconds:g} s: {what}")


@asynccontextmanager
async def reading(runtime: Runtime) -> AsyncIterator[Any]:
    async with runtime.backends.db.transaction() as session:
        yield session


async def test_a_killed_workers_job_is_finished_by_another_once(
    runtime: Runtime, database_url: str, tmp_path: Path
) -> None:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await enqueue(ctx, jobs_addon.HANG_ONCE)

    async def first_run() -> Any:
        async with reading(runtime) as session:
            return (await session.execute(select(jobs_addon.runs.c.job_id, jobs_addon.runs.c.pid))).first()

    async def finished() -> Job | None:
        async with reading(runtime) as session:
            job = await session.scalar(select(Job).where(Job.name == jobs_addon.HANG_ONCE))
        return job if job is not None and job.state != JobState.running.value and job.attempts > 1 else None

    with workers(database_url, tmp_path / "var") as group:
        group.start(2)
        job_id, pid = await until(first_run, what="a worker starts the job")
        (victim,) = [p for p in group.processes if p.pid == pid]
        (survivor,) = [p for p in group.processes if p is not victim]
        victim.send_signal(signal.SIGKILL)  # in the middle of the job: its transaction is open
        assert victim.wait(timeout=10) == -signal.SIGKILL
        job = await until(finished, what="another worker finishes the job once the lease lapsed")
        survivor_ident = group.ident(survivor)

    assert (job.state, job.attempts, job.locked_by) == (JobState.succeeded.value, 2, survivor_ident)
    assert "lease lapsed" in (job.last_error or "")
    async with reading(runtime) as session:
        ran = (await session.execute(select(jobs_addon.runs.c.pid).order_by(jobs_addon.runs.c.id))).scalars().all()
        effects = (await session.execute(select(jobs_addon.effects.c.job_id, jobs_addon.effects.c.pid))).all()
    assert ran == [victim.pid, survivor.pid]
    assert [tuple(e) for e in effects] == [(job_id, survivor.pid)]  # the killed run's write rolled back
    assert survivor.returncode == 0


async def test_four_workers_run_each_of_2000_jobs_once(
    runtime: Runtime, database_url: str, tmp_path: Path, backend: str
) -> None:
    if backend != "services":
        pytest.skip("several worker processes share a queue on PostgreSQL (SQLite serialises them anyway)")
    count = 2000
    with workers(database_url, tmp_path / "var") as group:
        group.start(4)

        async def all_started() -> bool:
            return all("at a time" in group.log(p) for p in group.processes)

        await until(all_started, what="four workers start")
        async with open_context(runtime, request_id="t", ip=None) as ctx:
            assert await enqueue_many(ctx, jobs_addon.RECORD, [{"n": n} for n in range(count)]) == count

        async def all_done() -> bool:
            async with reading(runtime) as session:
                pending = await session.scalar(
                    select(Job.id).where(Job.state.in_([JobState.ready.value, JobState.running.value])).limit(1)
                )
            return pending is None

        await until(all_done, what=f"{count} jobs done", seconds=120)
        processes = list(group.processes)

    assert [p.returncode for p in processes] == [0, 0, 0, 0]
    async with reading(runtime) as session:
        jobs = {str(j.id): j for j in (await session.scalars(select(Job).where(Job.name == jobs_addon.RECORD)))}
        effects = (await session.execute(select(jobs_addon.effects.c.job_id, jobs_addon.effects.c.pid))).all()
        runs = (await session.execute(select(jobs_addon.runs).order_by(jobs_addon.runs.c.started))).all()
    assert len(jobs) == count
    assert Counter((j.state, j.attempts) for j in jobs.values()) == {(JobState.succeeded.value, 1): count}
    # Exactly one run committed its effect per job, and every run (committed or not) was alone.
    assert Counter(job_id for job_id, _pid in effects) == dict.fromkeys(jobs, 1)
    by_job: defaultdict[str, list[Any]] = defaultdict(list)
    for run in runs:
        by_job[run.job_id].append(run)
    assert set(by_job) == set(jobs)
    overlapping = [
        job_id
        for job_id, seen in by_job.items()
        if any(later.started < earlier.ended for earlier, later in itertools.pairwise(seen))
    ]
    assert overlapping == []
    assert len({pid for _job, pid in effects}) > 1  # the work was shared between processes


def test_addons_register_after_the_domains_and_fail_clearly() -> None:
    registry = build_registry(["tests.platform.jobs_addon"])
    assert {jobs_addon.RECORD, jobs_addon.HANG_ONCE} <= set(registry.jobs)
    with pytest.raises(AddonError, match=r"cannot import 'tests\.platform\.no_such_addon'"):
        build_registry(["tests.platform.no_such_addon"])
    with pytest.raises(AddonError, match="has no register"):
        build_registry(["tests.platform"])
