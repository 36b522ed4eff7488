"""Durable jobs kept in the application database, and the worker that runs them.

Written here rather than taken from a broker library because the design needs what a separate
broker cannot give (ARCHITECTURE.md, "Jobs"): a job is inserted in the same transaction as the
change that causes it (the transactional outbox), so a crash loses neither; and a handler's own
writes commit in one transaction with marking its job done, so for database work a job's effect
happens once even though delivery is at least once.

- ``enqueue(ctx, name, payload, ...)`` adds a job to ``ctx``'s transaction; an ``idempotency_key``
  already used makes it a no-op; ``run_at`` delays it; ``priority`` (higher first) and ``queue``
  route it.
- A ``Worker`` claims ready jobs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises
  writers itself), holds a lease it renews while the handler runs, retries a failure with
  exponential backoff and jitter, and moves a job to ``dead`` after its last attempt. A job whose
  lease lapsed (its worker died) is claimed again. Stopping finishes running jobs for a grace
  period, then releases the rest for another worker.
- ``Schedule`` declares periodic work with a cron expression; every worker runs a scheduler that
  enqueues each slot with the slot as idempotency key, so several never double-run one
  (expressions are parsed by ``cronsim``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

import structlog
from cronsim import CronSim
from sqlalchemy import Index, Integer, String, Text, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from fastapp.platform.context import Context, Runtime, open_context, separate_context
from fastapp.platform.db import Base
from fastapp.platform.types import CreatedAt, Timestamp, UTCDateTime, UUIDPk

log = structlog.get_logger("fastapp.jobs")

JobHandler = Callable[[Runtime, Context, dict[str, Any]], Awaitable[None]]
"""Runs one job inside a transaction; raising fails the attempt (and rolls its writes back)."""

# Workers of this process, woken when a transaction that enqueued a job commits, so a job for the
# embedded worker starts at once instead of at its next poll.
_LOCAL_WORKERS: set[Worker] = set()


class JobState(StrEnum):
    ready = "ready"  # waiting for its run_at, or to be claimed
    running = "running"  # claimed; locked_until is the lease
    succeeded = "succeeded"
    dead = "dead"  # failed its last attempt; an admin may retry it


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[UUIDPk]
    queue: Mapped[str] = mapped_column(String(64), default="default")
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default=JobState.ready.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_at: Mapped[Timestamp]
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        # The claim: ready jobs of some queues whose time has come, best priority first.
        Index("ix_jobs_claim", "state", "queue", "priority", "run_at"),
    )


async def enqueue(
    ctx: Context,
    name: str,
    payload: Mapping[str, Any] | None = None,
    *,
    queue: str = "default",
    priority: int = 0,
    run_at: datetime | None = None,
    idempotency_key: str | None = None,
    max_attempts: int = 5,
    keep_on_rollback: bool = False,
) -> bool:
    """Add a job to ``ctx``'s transaction; False when ``idempotency_key`` was already used.

    ``keep_on_rollback`` is for work a refused request must still cause (a notice to the owner of
    an account under attack): if the transaction rolls back, the job is added in one of its own.
    """
    if keep_on_rollback:

        async def again() -> None:
            async with separate_context(ctx) as alone:
                await enqueue(
                    alone,
                    name,
                    payload,
                    queue=queue,
                    priority=priority,
                    run_at=run_at,
                    idempotency_key=idempotency_key,
                    max_attempts=max_attempts,
                )
            _wake_local_workers()

        ctx.on_rollback(again)
    values = {
        "id": uuid.uuid4(),
        "queue": queue,
        "name": name,
        "payload": json.dumps(dict(payload or {}), separators=(",", ":"), default=str),
        "priority": priority,
        "state": JobState.ready.value,
        "attempts": 0,
        "max_attempts": max(1, max_attempts),
        "run_at": run_at or ctx.clock.now(),
        "idempotency_key": idempotency_key,
        "created_at": ctx.clock.now(),
    }
    dialect = ctx.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(Job).values(values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    result = await ctx.session.execute(statement)
    if _LOCAL_WORKERS:
        ctx.on_commit(_wake_on_commit)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _wake_on_commit() -> None:
    _wake_local_workers()


def _wake_local_workers() -> None:
    for worker in list(_LOCAL_WORKERS):
        worker.wake()


def backoff(attempt: int, *, base: float = 2.0, cap: float = 3600.0) -> float:
    """Seconds before retry ``attempt`` (1, 2, ...): exponential, capped, with full jitter."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311 - spreading retries, not a secret


@dataclass
class Worker:
    """Claims and runs jobs of ``queues`` with up to ``concurrency`` at a time."""

    runtime: Runtime
    handlers: Mapping[str, JobHandler]
    queues: tuple[str, ...] = ("default",)
    concurrency: int = 4
    lease: timedelta = timedelta(seconds=60)
    poll_interval: float = 0.5
    grace: float = 10.0
    #: Seconds before retry number n (exponential with jitter; tests pass their own).
    retry_delay: Callable[[int], float] = backoff
    ident: str = field(default_factory=lambda: f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}")
    _running: dict[uuid.UUID, asyncio.Task[None]] = field(default_factory=dict)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def __hash__(self) -> int:
        return id(self)

    def wake(self) -> None:
        """Look for jobs now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then finish (or release) what is running."""
        heartbeat = asyncio.create_task(self._heartbeat(stop))
        _LOCAL_WORKERS.add(self)
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._running)
                claimed = await self.claim(free) if free > 0 else []
                for job_id, name, payload, attempts, max_attempts in claimed:
                    task = asyncio.create_task(self._run_one(job_id, name, payload, attempts, max_attempts))
                    self._running[job_id] = task
                    task.add_done_callback(partial(self._finished, job_id))
                if not claimed or len(claimed) < free:
                    self._wake.clear()
                    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
                    await asyncio.wait(waits, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
                    for waiter in waits:
                        waiter.cancel()
        finally:
            _LOCAL_WORKERS.discard(self)
            await self._drain()
            heartbeat.cancel()

    def _finished(self, job_id: uuid.UUID, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._wake.set()

    async def claim(self, limit: int) -> list[tuple[uuid.UUID, str, dict[str, Any], int, int]]:
        """Take up to ``limit`` jobs: ready ones whose time has come, or running ones whose lease
        lapsed (their worker is gone)."""
        db = self.runtime.backends.db
        now = self.runtime.backends.clock.now()
        claimable = or_(
            and_(Job.state == JobState.ready.value, Job.run_at <= now),
            and_(Job.state == JobState.running.value, Job.locked_until < now),
        )
        chosen = (
            select(Job.id)
            .where(claimable, Job.queue.in_(self.queues))
            .order_by(Job.priority.desc(), Job.run_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(Job)
            .where(Job.id.in_(chosen.scalar_subquery()))
            .values(
                state=JobState.running.value,
                locked_by=self.ident,
                locked_until=now + self.lease,
                attempts=Job.attempts + 1,
            )
            .returning(Job.id, Job.name, Job.payload, Job.attempts, Job.max_attempts)
            .execution_options(synchronize_session=False)
        )
        async with db.transaction() as session:
            rows = (await session.execute(statement)).all()
        return [(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    async def _run_one(self, job_id: uuid.UUID, name: str, payload: dict[str, Any], attempts: int, limit: int) -> None:
        handler = self.handlers.get(name)
        try:
            if handler is None:
                raise LookupError(f"no handler is registered for job {name!r}")
            async with open_context(self.runtime, request_id=f"job:{job_id}", ip=None) as ctx:
                await handler(self.runtime, ctx, payload)
                # Done in the handler's own transaction: its writes and this mark commit together,
                # and only while this worker still holds the lease.
                done = await ctx.session.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.locked_by == self.ident, Job.state == JobState.running.value)
                    .values(state=JobState.succeeded.value, finished_at=ctx.clock.now(), locked_until=None)
                    .execution_options(synchronize_session=False)
                )
                if not done.rowcount:  # type: ignore[attr-defined]
                    raise LeaseLost(f"job {job_id} was taken over by another worker")
        except LeaseLost:
            log.warning("job lease lost", job=str(job_id), name=name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing job is recorded, never fatal to the worker
            await self._failed(job_id, name, attempts, limit, exc)

    async def _failed(self, job_id: uuid.UUID, name: str, attempts: int, limit: int, exc: Exception) -> None:
        now = self.runtime.backends.clock.now()
        error = "".join(traceback.format_exception(exc))[-8000:]
        final = attempts >= limit
        values: dict[str, Any] = {"last_error": error, "locked_by": None, "locked_until": None}
        if final:
            values.update(state=JobState.dead.value, finished_at=now)
        else:
            values.update(state=JobState.ready.value, run_at=now + timedelta(seconds=self.retry_delay(attempts)))
        async with self.runtime.backends.db.transaction() as session:
            await session.execute(
                update(Job)
                .where(Job.id == job_id, Job.locked_by == self.ident)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        log.warning("job failed", job=str(job_id), name=name, attempt=attempts, dead=final, error=str(exc))

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Renew the leases of running jobs a few times per lease."""
        interval = self.lease.total_seconds() / 3
        while not stop.is_set():
            await asyncio.sleep(interval)
            if self._running:
                await self._renew(list(self._running))

    async def _renew(self, job_ids: Iterable[uuid.UUID]) -> None:
        until = self.runtime.backends.clock.now() + self.lease
        async with self.runtime.backends.db.transaction() as session:
            await session.execute(
                update(Job)
                .where(Job.id.in_(list(job_ids)), Job.locked_by == self.ident)
                .values(locked_until=until)
                .execution_options(synchronize_session=False)
            )

    async def _drain(self) -> None:
        """Give running jobs ``grace`` seconds, then cancel and release them for another worker."""
        running = dict(self._running)
        stuck: list[uuid.UUID] = []
        if running:
            _done, pending = await asyncio.wait(running.values(), timeout=self.grace)
            stuck = [job_id for job_id, task in running.items() if task in pending]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2)
        if stuck:
            async with self.runtime.backends.db.transaction() as session:
                await session.execute(
                    update(Job)
                    .where(Job.id.in_(stuck), Job.locked_by == self.ident)
                    .values(state=JobState.ready.value, locked_by=None, locked_until=None, attempts=Job.attempts - 1)
                    .execution_options(synchronize_session=False)
                )
            log.warning("jobs released at shutdown", count=len(stuck))


class LeaseLost(Exception):
    """Another worker claimed the job after this one's lease lapsed: roll back, let it finish."""


@dataclass(frozen=True)
class Schedule:
    """Periodic work declared in code: enqueue job ``job`` at every slot of ``cron`` (UTC)."""

    name: str
    cron: str
    job: str
    payload: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        CronSim(self.cron, datetime.now(UTC))  # refuse a bad expression when it is declared

    def latest_slot(self, now: datetime, *, lookback: timedelta = timedelta(days=1)) -> datetime | None:
        """The newest slot at or before ``now`` within ``lookback`` (a slot missed while no
        scheduler ran still runs once), or None."""
        latest = None
        for slot in CronSim(self.cron, now - lookback):
            if slot > now:
                break
            latest = slot
        return latest


async def enqueue_due(runtime: Runtime, schedules: Iterable[Schedule]) -> int:
    """Enqueue each schedule's latest slot; the slot is the idempotency key, so any number of
    schedulers (every worker runs one) enqueue it once. Returns how many were new."""
    added = 0
    async with open_context(runtime, request_id="scheduler", ip=None) as ctx:
        now = ctx.clock.now()
        for schedule in schedules:
            slot = schedule.latest_slot(now)
            if slot is None:
                continue
            key = f"schedule:{schedule.name}:{slot.isoformat()}"
            added += await enqueue(ctx, schedule.job, schedule.payload, run_at=slot, idempotency_key=key)
    return added


async def run_scheduler(runtime: Runtime, stop: asyncio.Event, *, every: float = 30.0) -> None:
    """Enqueue due schedules every ``every`` seconds until ``stop``."""
    schedules = list(runtime.registry.schedules)
    while schedules and not stop.is_set():
        try:
            await enqueue_due(runtime, schedules)
        except Exception:
            log.exception("scheduler tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


@dataclass(frozen=True)
class QueueStats:
    queue: str
    counts: dict[str, int]
    #: Seconds the oldest job that is due has been waiting, or None when none is due.
    oldest_ready_age: float | None


async def stats(ctx: Context) -> list[QueueStats]:
    """Jobs per queue and state, and how long the oldest due job has waited (the backlog signal)."""
    now = ctx.clock.now()
    rows = (await ctx.session.execute(select(Job.queue, Job.state, func.count()).group_by(Job.queue, Job.state))).all()
    oldest = dict(
        (
            await ctx.session.execute(
                select(Job.queue, func.min(Job.run_at))
                .where(Job.state == JobState.ready.value, Job.run_at <= now)
                .group_by(Job.queue)
            )
        ).all()
    )
    queues: dict[str, dict[str, int]] = {}
    for queue, state, count in rows:
        queues.setdefault(queue, {s.value: 0 for s in JobState})[state] = int(count)
    return [
        QueueStats(q, counts, (now - oldest[q]).total_seconds() if oldest.get(q) else None)
        for q, counts in sorted(queues.items())
    ]


async def dead_jobs(ctx: Context, *, limit: int = 50) -> list[Job]:
    query = select(Job).where(Job.state == JobState.dead.value).order_by(Job.finished_at.desc()).limit(limit)
    return list((await ctx.session.scalars(query)).all())


async def retry_dead(ctx: Context, job_id: uuid.UUID) -> Job:
    """Give a dead job a fresh set of attempts, due now; ``LookupError`` unless it is dead."""
    job = await ctx.session.get(Job, job_id)
    if job is None or job.state != JobState.dead.value:
        raise LookupError("No dead job with that id.")
    job.state, job.attempts, job.run_at, job.finished_at = JobState.ready.value, 0, ctx.clock.now(), None
    job.locked_by = job.locked_until = None
    await ctx.session.flush()
    return job


async def discard_dead(ctx: Context, job_id: uuid.UUID) -> Job:
    """Delete a dead job for good; ``LookupError`` unless it is dead."""
    job = await ctx.session.get(Job, job_id)
    if job is None or job.state != JobState.dead.value:
        raise LookupError("No dead job with that id.")
    await ctx.session.delete(job)
    await ctx.session.flush()
    return job
