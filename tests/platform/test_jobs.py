"""The durable job queue on SQLite and PostgreSQL: transactional enqueue (one and many),
idempotency, retries, dead jobs, leases taken over (and dead when that was the last attempt) or
held through the grace period, priorities, delays, graceful release, and no job run twice."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cronsim import CronSimError
from sqlalchemy import select

from fastapp.app import build_registry, create_app
from fastapp.config import Config
from fastapp.platform.context import Context, Runtime, open_context
from fastapp.platform.jobs import (
    INSERT_CHUNK,
    Job,
    JobState,
    Schedule,
    Worker,
    backoff,
    enqueue,
    enqueue_due,
    enqueue_many,
    purge_past_retention,
)
from tests.conftest import make_config, root_of, started


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    """No worker inside the app: each test runs the workers it studies."""
    return make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def _jobs(runtime: Runtime) -> list[Job]:
    async with runtime.backends.db.transaction() as session:
        return list((await session.scalars(select(Job).order_by(Job.created_at))).all())


async def _add(runtime: Runtime, name: str, **kwargs: Any) -> bool:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        return await enqueue(ctx, name, kwargs.pop("payload", {}), **kwargs)


async def _work_until(worker: Worker, done: Callable[[], bool]) -> None:
    """Run ``worker`` until ``done()`` holds (checked every 20 ms, for at most 10 s)."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(500):
            if done():
                break
            await asyncio.sleep(0.02)
        assert done(), "the worker did not get there in 10 s"
    finally:
        stop.set()
        await task


def _worker(runtime: Runtime, handlers: dict[str, Any], **kwargs: Any) -> Worker:
    return Worker(runtime, handlers, poll_interval=0.02, retry_delay=lambda _n: 0.0, **kwargs)


async def test_a_job_commits_with_its_transaction_and_once_per_key(runtime: Runtime) -> None:
    async def failing_change() -> None:
        async with open_context(runtime, request_id="t", ip=None) as ctx:
            await enqueue(ctx, "mail.send", {"to": "a@example.com"})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert await _jobs(runtime) == []
    assert await _add(runtime, "mail.send", idempotency_key="welcome:1") is True
    assert await _add(runtime, "mail.send", idempotency_key="welcome:1") is False
    assert await _add(runtime, "mail.send") is True
    assert len(await _jobs(runtime)) == 2


async def test_many_jobs_are_enqueued_in_a_few_inserts_with_their_keys(runtime: Runtime) -> None:
    assert await _add(runtime, "bulk", idempotency_key="bulk:1") is True
    count = INSERT_CHUNK * 2 + 3

    async def failing_change() -> None:
        async with open_context(runtime, request_id="t", ip=None) as ctx:
            await enqueue_many(ctx, "bulk", [{"n": n} for n in range(count)])
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert [j.name for j in await _jobs(runtime)] == ["bulk"]
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        keys = [f"bulk:{n}" if n < 3 else None for n in range(count)]
        added = await enqueue_many(ctx, "bulk", [{"n": n} for n in range(count)], queue="q", idempotency_keys=keys)
        with pytest.raises(ValueError, match="one key"):
            await enqueue_many(ctx, "bulk", [{}, {}], idempotency_keys=["a"])
    assert added == count - 1  # bulk:1 was used already
    jobs = [j for j in await _jobs(runtime) if j.queue == "q"]
    assert len(jobs) == count - 1 and {j.state for j in jobs} == {JobState.ready.value}
    assert sorted(json.loads(j.payload)["n"] for j in jobs) == [n for n in range(count) if n != 1]


async def test_a_job_that_lapses_on_its_last_attempt_is_dead(runtime: Runtime) -> None:
    """A job whose worker dies every time (it kills the process) must not loop forever."""
    await _add(runtime, "fatal", max_attempts=2)
    lost = _worker(runtime, {}, lease=timedelta(seconds=0.05))
    sweeper = _worker(runtime, {})
    for attempt in (1, 2):
        assert len(await lost.claim(1)) == 1  # claimed, then its process "dies"
        await asyncio.sleep(0.1)
        assert await sweeper.reclaim_lapsed() == (1 if attempt == 1 else 0)
    (job,) = await _jobs(runtime)
    assert (job.state, job.attempts, job.locked_by) == (JobState.dead.value, 2, None)
    assert f"lease lapsed: worker {lost.ident} went silent" in (job.last_error or "")


async def test_leases_are_renewed_through_the_grace_period(runtime: Runtime) -> None:
    """Stopping waits for a running job; its lease must hold meanwhile, or another worker would
    take the job over and run it a second time."""
    started = asyncio.Event()
    runs: list[str] = []

    async def slow(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(1.0)
        runs.append("slow")

    await _add(runtime, "slow")
    stopping = _worker(runtime, {"slow": slow}, lease=timedelta(seconds=0.4), grace=5)
    stop = asyncio.Event()
    task = asyncio.create_task(stopping.run(stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()  # the job has a second to go: four leases
    other = _worker(runtime, {"slow": slow}, lease=timedelta(seconds=0.4))
    await _work_until(other, task.done)
    await task
    (job,) = await _jobs(runtime)
    assert (job.state, job.attempts, job.locked_by) == (JobState.succeeded.value, 1, stopping.ident)
    assert runs == ["slow"]


async def test_a_worker_runs_jobs_by_priority_and_queue(runtime: Runtime) -> None:
    ran: list[str] = []

    async def handler(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
        ran.append(payload["label"])

    await _add(runtime, "note", payload={"label": "low"}, priority=0)
    await _add(runtime, "note", payload={"label": "high"}, priority=10)
    await _add(runtime, "note", payload={"label": "elsewhere"}, queue="reports")
    await _add(runtime, "note", payload={"label": "later"}, run_at=runtime.backends.clock.now() + timedelta(hours=1))
    await _work_until(_worker(runtime, {"note": handler}, concurrency=1), lambda: len(ran) == 2)
    assert ran == ["high", "low"]
    states = Counter((j.queue, j.state) for j in await _jobs(runtime))
    assert states == {("default", "succeeded"): 2, ("reports", "ready"): 1, ("default", "ready"): 1}


async def test_failures_retry_then_die_with_their_traceback(runtime: Runtime) -> None:
    attempts: list[int] = []

    async def flaky(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
        attempts.append(1)
        raise ValueError(f"attempt {len(attempts)} failed")

    await _add(runtime, "flaky", max_attempts=3)
    await _add(runtime, "nobody-handles-this")
    await _work_until(
        _worker(runtime, {"flaky": flaky}),
        lambda: len(attempts) == 3,
    )
    await asyncio.sleep(0.1)
    jobs = {j.name: j for j in await _jobs(runtime)}
    dead = jobs["flaky"]
    assert (dead.state, dead.attempts) == (JobState.dead.value, 3)
    assert "ValueError: attempt 3 failed" in (dead.last_error or "")
    assert "no handler is registered" in (jobs["nobody-handles-this"].last_error or "")


async def test_a_handlers_writes_roll_back_when_it_fails(runtime: Runtime) -> None:
    from fastapp.audit import Action, Actor, record
    from fastapp.audit.models import AuditEvent

    async def half_done(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
        await record(ctx, Action.TOKEN_CREATED, actor=Actor.system("job"))
        raise RuntimeError("then it broke")

    await _add(runtime, "half", max_attempts=1)
    worker = _worker(runtime, {"half": half_done})
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(200):
        if (await _jobs(runtime))[0].state == JobState.dead.value:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await task
    async with runtime.backends.db.transaction() as session:
        assert (await session.scalars(select(AuditEvent))).all() == []


async def test_a_silent_workers_job_is_taken_over_and_runs_once(runtime: Runtime) -> None:
    runs: list[str] = []

    async def handler(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
        runs.append(payload["n"])

    await _add(runtime, "once", payload={"n": "a"})
    crashed = _worker(runtime, {"once": handler}, lease=timedelta(seconds=0.3))
    assert len(await crashed.claim(1)) == 1  # claimed, then its process "dies": no run, no heartbeat
    survivor = _worker(runtime, {"once": handler}, lease=timedelta(seconds=30))
    assert await survivor.claim(1) == []  # the lease still holds
    await asyncio.sleep(0.4)
    await _work_until(survivor, lambda: len(runs) == 1)
    await asyncio.sleep(0.05)
    (job,) = await _jobs(runtime)
    assert (job.state, job.attempts, job.locked_by) == (JobState.succeeded.value, 2, survivor.ident)
    assert runs == ["a"]


async def test_stopping_releases_what_does_not_finish_in_the_grace_period(runtime: Runtime) -> None:
    started = asyncio.Event()

    async def slow(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(30)

    await _add(runtime, "slow")
    worker = _worker(runtime, {"slow": slow}, grace=0.1)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(started.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)
    (job,) = await _jobs(runtime)
    assert (job.state, job.attempts, job.locked_by) == (JobState.ready.value, 0, None)


async def test_several_workers_never_run_a_job_twice(runtime: Runtime, backend: str) -> None:
    count = 400 if backend == "services" else 60
    seen: Counter[int] = Counter()

    async def handler(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
        seen[payload["n"]] += 1
        await asyncio.sleep(0)

    async with open_context(runtime, request_id="bulk", ip=None) as ctx:
        for n in range(count):
            await enqueue(ctx, "count", {"n": n})
    workers = [_worker(runtime, {"count": handler}, concurrency=8) for _ in range(4)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    for _ in range(1200):
        if sum(seen.values()) >= count:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks)
    assert len(seen) == count and set(seen.values()) == {1}
    assert Counter(j.state for j in await _jobs(runtime)) == {"succeeded": count}


async def test_the_claim_reads_the_ready_index_in_a_generic_plan(runtime: Runtime, backend: str) -> None:
    """PostgreSQL switches a prepared statement to a generic plan after a few runs: the claim must
    still read ``ix_jobs_ready`` (its state and LIMIT are written into the SQL for that), not scan
    and sort the table with its history of finished jobs."""
    if backend != "services":
        pytest.skip("PostgreSQL's plans")
    fill = (
        "INSERT INTO jobs (id, queue, name, payload, priority, state, attempts, max_attempts, run_at, created_at)"
        " SELECT gen_random_uuid(), 'default', 'x', '{}', 0, CASE WHEN g % 5 = 0 THEN 'ready' ELSE 'succeeded' END,"
        " 1, 5, now(), now() FROM generate_series(1, 100000) AS g"
    )
    statement = _worker(runtime, {}).claim_statement(runtime.backends.clock.now(), 4)
    async with runtime.backends.db.engine.connect() as conn:
        compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        values = ", ".join(f"'{compiled.params[name]}'" for name in compiled.positiontup or [])
        await conn.exec_driver_sql(fill)
        await conn.exec_driver_sql("ANALYZE jobs")
        await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        await conn.exec_driver_sql(f"PREPARE claim AS {compiled}")
        plan = "\n".join(row[0] for row in await conn.exec_driver_sql(f"EXPLAIN EXECUTE claim({values})"))
        await conn.rollback()
    assert "Index Scan using ix_jobs_ready" in plan, plan
    assert "Seq Scan" not in plan and "Sort" not in plan, plan


def test_backoff_grows_and_is_capped() -> None:
    assert all(0 <= backoff(1) <= 2 for _ in range(50))
    assert all(0 <= backoff(5) <= 32 for _ in range(50))
    assert all(backoff(40) <= 3600 for _ in range(50))


async def test_the_web_process_runs_jobs_in_the_embedded_default(tmp_path: Path, database_url: str) -> None:
    """With FASTAPP_JOBS_IN_PROCESS (the default), ``serve`` alone runs what is enqueued."""
    done = asyncio.Event()
    seen: list[dict[str, Any]] = []

    async def echo(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
        seen.append(payload)
        done.set()

    registry = build_registry()
    registry.add_job("test.echo", echo)
    config = make_config(tmp_path, database_url, jobs={"in_process": True})
    application = create_app(config, registry=registry)
    async with started(application):
        runtime: Runtime = root_of(application).state.runtime
        async with open_context(runtime, request_id="t", ip=None) as ctx:
            await enqueue(ctx, "test.echo", {"hello": "world"})
        await asyncio.wait_for(done.wait(), 10)
    assert seen == [{"hello": "world"}]
    with pytest.raises(ValueError, match="registered twice"):
        registry.add_job("test.echo", echo)


def test_a_schedule_names_its_latest_slot() -> None:
    daily = Schedule("nightly", "0 3 * * *", "report")
    at = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    assert daily.latest_slot(at) == datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    assert daily.latest_slot(at.replace(hour=2)) == datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    assert daily.latest_slot(at, lookback=timedelta(minutes=30)) is None
    with pytest.raises(CronSimError):
        Schedule("broken", "every day", "report")


async def test_several_schedulers_enqueue_each_slot_once(runtime: Runtime) -> None:
    schedules = [Schedule("every-minute", "* * * * *", "tick"), Schedule("hourly", "0 * * * *", "tock")]
    first = await enqueue_due(runtime, schedules)
    second = await enqueue_due(runtime, schedules)  # another worker's scheduler, same slots
    assert (first, second) == (2, 0)
    jobs = await _jobs(runtime)
    assert sorted(j.name for j in jobs) == ["tick", "tock"]
    assert all((j.idempotency_key or "").startswith("schedule:") for j in jobs)


async def test_the_audit_purge_keeps_what_retention_allows(runtime: Runtime) -> None:
    from dataclasses import replace

    from fastapp.audit import PURGE_JOB, Action, Actor, purge_past_retention, record
    from fastapp.audit.models import AuditEvent

    # Run daily as the ``audit`` rule of the privacy retention job (tests/privacy/test_retention.py).
    assert PURGE_JOB in runtime.registry.jobs and "audit" in runtime.registry.retention_rules
    old = _At(runtime.backends.clock.now() - timedelta(days=runtime.config.audit.retention_days + 5))
    async with open_context(runtime, request_id="old", ip=None) as ctx:
        await record(replace(ctx, clock=old), Action.TOKEN_CREATED, actor=Actor.system("then"))
    async with open_context(runtime, request_id="new", ip=None) as ctx:
        await record(ctx, Action.TOKEN_CREATED, actor=Actor.system("now"))
    async with open_context(runtime, request_id="purge", ip=None) as ctx:
        await purge_past_retention(runtime, ctx, {})
    async with runtime.backends.db.transaction() as session:
        kept = [(e.actor_id, e.action) for e in (await session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))]
    assert kept == [("now", "token.created"), ("audit.purge", "audit.purged")]


class _At:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


async def test_succeeded_jobs_past_retention_are_purged_and_dead_ones_kept(runtime: Runtime) -> None:
    for name in ("old", "recent", "broken"):
        await _add(runtime, name)
    now = datetime.now(UTC)
    days = runtime.config.jobs.retention_days
    async with runtime.backends.db.transaction() as session:
        for job in (await session.scalars(select(Job))).all():
            job.state = JobState.dead.value if job.name == "broken" else JobState.succeeded.value
            age = timedelta(days=days, hours=1) if job.name != "recent" else timedelta(days=days) - timedelta(hours=1)
            job.finished_at = now - age
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await purge_past_retention(runtime, ctx, {})
    assert sorted(j.name for j in await _jobs(runtime)) == ["broken", "recent"]
    assert "finished_jobs" in build_registry().retention_rules  # run daily by the privacy retention job
