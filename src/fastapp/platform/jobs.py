"""Durable jobs kept in the application database, and the worker that runs them.

Written here rather than taken from a broker library because the design needs what a separate
broker cannot give (ARCHITECTURE.md, "Jobs"): a job is inserted in the same transaction as the
change that causes it (the transactional outbox), so a crash loses neither; and a handler's own
writes commit in one transaction with marking its job done, so for database work a job's effect
happens once even though delivery is at least once.

- ``enqueue(ctx, name, payload, ...)`` adds a job to ``ctx``'s transaction; an ``idempotency_key``
  already used makes it a no-op; ``run_at`` delays it; ``priority`` (higher first) and ``queue``
  route it. ``enqueue_many(ctx, name, payloads, ...)`` adds many in a few multi-row inserts.
- A ``Worker`` claims ready jobs in batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite
  serialises writers itself) through a partial index that holds only the ready backlog, holds a
  lease it renews while the handler runs, retries a failure with exponential backoff and jitter,
  and moves a job to ``dead`` after its last attempt. Jobs whose lease lapsed (their worker died)
  are put back by a separate query every quarter lease, not by every claim; one that lapses on its
  last attempt is dead (a job that kills its worker must not loop forever). Stopping finishes
  running jobs for a grace period, renewing their leases, then releases the rest for another
  worker.
- Counters and a duration histogram per queue and job name go to the process's Prometheus
  registry (``platform/metrics.py``): enqueued (counted when the transaction commits), succeeded,
  failed (will retry), lapsed, dead, and retried by an administrator.
- ``Schedule`` declares periodic work with a cron expression; every worker runs a scheduler that
  enqueues each slot with the slot as idempotency key, so several never double-run one
  (expressions are parsed by ``cronsim``).

A handler runs in a context whose ``request_id`` is ``job:<job id>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import time
import traceback
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

import structlog
from cronsim import CronSim
from sqlalchemy import (
    ColumnElement,
    Index,
    Integer,
    String,
    Text,
    Update,
    case,
    delete,
    event,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Mapped, Session, mapped_column

from fastapp.platform.context import Context, Runtime, open_context, separate_context
from fastapp.platform.db import Base
from fastapp.platform.metrics import JobMetrics, metrics_of
from fastapp.platform.types import CreatedAt, Timestamp, UTCDateTime, UUIDPk

log = structlog.get_logger("fastapp.jobs")

JobHandler = Callable[[Runtime, Context, dict[str, Any]], Awaitable[None]]
"""Runs one job inside a transaction; raising fails the attempt (and rolls its writes back)."""

ClaimedJob = tuple[uuid.UUID, str, str, dict[str, Any], int, int]
"""A claimed job: id, queue, name, payload, attempts (this one included), max attempts."""

#: Rows per INSERT in ``enqueue_many``: 11 parameters a row stays far below every driver's limit.
INSERT_CHUNK = 500
#: ``session.info`` key of the jobs a transaction enqueued, counted and announced on commit.
_PENDING = "fastapp.jobs.pending"

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


def _only(state: JobState) -> dict[str, Any]:
    """Partial-index options: rows in ``state`` only (same predicate on both backends)."""
    predicate = Job.state == state.value
    return {"postgresql_where": predicate, "sqlite_where": predicate}


# Partial indexes: each holds only the rows one query looks for, so none grows with the history
# of finished jobs. The claim reads ready jobs of a queue in priority order straight off the first
# (no sort of the backlog); lease upkeep finds running jobs whose lease lapsed; the admin page
# lists the newest dead jobs; its counts per state and queue use the last.
Index("ix_jobs_ready", Job.queue, Job.priority.desc(), Job.run_at, **_only(JobState.ready))
Index("ix_jobs_running_until", Job.locked_until, **_only(JobState.running))
Index("ix_jobs_dead_finished", Job.finished_at, **_only(JobState.dead))
Index("ix_jobs_state_queue", Job.state, Job.queue)


def _in(state: JobState) -> ColumnElement[bool]:
    """``state = '<state>'`` with the value written into the SQL: PostgreSQL's generic plan for a
    prepared statement cannot prove a bound parameter matches a partial index's predicate, and
    would fall back to scanning and sorting the table."""
    return Job.state == literal(state.value, literal_execute=True)


def _row(
    ctx: Context,
    name: str,
    payload: Mapping[str, Any] | None,
    *,
    queue: str,
    priority: int,
    run_at: datetime | None,
    idempotency_key: str | None,
    max_attempts: int,
) -> dict[str, Any]:
    now = ctx.clock.now()
    return {
        "id": uuid.uuid4(),
        "queue": queue,
        "name": name,
        "payload": json.dumps(dict(payload or {}), separators=(",", ":"), default=str),
        "priority": priority,
        "state": JobState.ready.value,
        "attempts": 0,
        "max_attempts": max(1, max_attempts),
        "run_at": run_at or now,
        "idempotency_key": idempotency_key,
        "created_at": now,
    }


async def _insert(ctx: Context, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows`` skipping used idempotency keys; returns how many were new."""
    insert = pg_insert if ctx.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Job).values(rows).on_conflict_do_nothing(index_elements=["idempotency_key"])
    result = await ctx.session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]


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

        ctx.on_rollback(again)
    row = _row(
        ctx,
        name,
        payload,
        queue=queue,
        priority=priority,
        run_at=run_at,
        idempotency_key=idempotency_key,
        max_attempts=max_attempts,
    )
    added = await _insert(ctx, [row])
    _note_enqueued(ctx, queue, name, added)
    return bool(added)


async def enqueue_many(
    ctx: Context,
    name: str,
    payloads: Iterable[Mapping[str, Any]],
    *,
    queue: str = "default",
    priority: int = 0,
    run_at: datetime | None = None,
    idempotency_keys: Sequence[str | None] | None = None,
    max_attempts: int = 5,
) -> int:
    """Add one job per payload to ``ctx``'s transaction in multi-row inserts (a round trip per
    ``INSERT_CHUNK`` jobs rather than per job); returns how many were added.

    ``idempotency_keys``, when given, pairs a key (or None) with each payload; a key already used
    skips its job, as with ``enqueue``.
    """
    payloads = list(payloads)
    keys: Sequence[str | None] = idempotency_keys if idempotency_keys is not None else [None] * len(payloads)
    if len(keys) != len(payloads):
        raise ValueError("idempotency_keys must pair one key (or None) with each payload")
    rows = [
        _row(
            ctx,
            name,
            payload,
            queue=queue,
            priority=priority,
            run_at=run_at,
            idempotency_key=key,
            max_attempts=max_attempts,
        )
        for payload, key in zip(payloads, keys, strict=True)
    ]
    added = 0
    for start in range(0, len(rows), INSERT_CHUNK):
        added += await _insert(ctx, rows[start : start + INSERT_CHUNK])
    _note_enqueued(ctx, queue, name, added)
    return added


def _note_enqueued(ctx: Context, queue: str, name: str, count: int) -> None:
    """Count ``count`` new jobs and wake this process's workers once the transaction commits.

    Hooked on the session itself rather than ``ctx.on_commit``, so it holds for every way a
    transaction ends (``separate_context`` runs no commit actions); a rollback forgets them.
    """
    if not count:
        return
    session = ctx.session.sync_session
    pending: Counter[tuple[str, str]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = Counter()
        jobs = metrics_of(ctx.runtime).jobs if ctx.runtime is not None else None
        event.listen(session, "after_commit", partial(_committed, jobs=jobs))
        event.listen(session, "after_rollback", _rolled_back)
    pending[(queue, name)] += count


def _committed(session: Session, *, jobs: JobMetrics | None) -> None:
    pending: Counter[tuple[str, str]] = session.info[_PENDING]
    if not pending:
        return
    if jobs is not None:
        for (queue, name), count in pending.items():
            jobs.enqueued.labels(queue, name).inc(count)
    pending.clear()
    for worker in list(_LOCAL_WORKERS):
        worker.wake()


def _rolled_back(session: Session) -> None:
    session.info[_PENDING].clear()


def backoff(attempt: int, *, base: float = 2.0, cap: float = 3600.0) -> float:
    """Seconds before retry ``attempt`` (1, 2, ...): exponential, capped, with full jitter."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311 - spreading retries, not a secret


@dataclass
class Worker:
    """Claims and runs jobs of ``queues`` with up to ``concurrency`` at a time.

    Its database pool needs ``concurrency + 2`` connections (the jobs, a claim, the lease upkeep);
    ``fastapp worker`` sizes it so.
    """

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

    @property
    def batch(self) -> int:
        """Free slots worth a claim of their own: half of them. Fewer wait for the next poll, so
        a busy worker claims several jobs per round trip instead of one per finished job."""
        return max(1, self.concurrency // 2)

    def wake(self) -> None:
        """Look for jobs now rather than at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then finish (or release) what is running."""
        metrics = metrics_of(self.runtime).jobs
        upkeep = asyncio.create_task(self._upkeep(stop))
        _LOCAL_WORKERS.add(self)
        clock = asyncio.get_running_loop().time
        last_claim = -float("inf")
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._running)
                overdue = clock() - last_claim >= self.poll_interval
                if free >= self.batch or (free > 0 and (overdue or not self._running)):
                    self._wake.clear()  # before claiming: a job enqueued meanwhile wakes the next round
                    last_claim = clock()
                    claimed = await self._claim_or_log(free)
                    for job in claimed:
                        task = asyncio.create_task(self._run_one(job, metrics))
                        self._running[job[0]] = task
                        task.add_done_callback(partial(self._finished, job[0]))
                    if claimed and len(claimed) == free:
                        continue  # a full batch: more may be waiting
                timeout = self.poll_interval - min(clock() - last_claim, self.poll_interval)
                waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
                await asyncio.wait(waits, timeout=timeout or self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waits:
                    waiter.cancel()
        finally:
            _LOCAL_WORKERS.discard(self)
            try:
                await self._drain()
            finally:
                upkeep.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await upkeep

    @contextlib.asynccontextmanager
    async def _statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection in autocommit mode, for the worker's own bookkeeping: each is a single
        statement, atomic by itself, so it needs no BEGIN and COMMIT (two round trips fewer)."""
        async with self.runtime.backends.db.engine.connect() as conn:
            yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    def _finished(self, job_id: uuid.UUID, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self._wake.set()

    async def _claim_or_log(self, limit: int) -> list[ClaimedJob]:
        try:
            return await self.claim(limit)
        except Exception:
            # The database is away or refused: try again at the next poll rather than stop working.
            log.exception("claiming jobs failed", worker=self.ident)
            return []

    async def claim(self, limit: int) -> list[ClaimedJob]:
        """Take up to ``limit`` ready jobs whose time has come, best priority first, oldest due
        first (read off ``ix_jobs_ready``; rows other workers are claiming are skipped)."""
        statement = self.claim_statement(self.runtime.backends.clock.now(), limit)
        async with self._statement() as conn:
            rows = (await conn.execute(statement)).all()
        return [(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    def claim_statement(self, now: datetime, limit: int) -> Update:
        """The claim as one ``UPDATE ... RETURNING`` (public so a test can check its plan)."""
        in_queues = Job.queue == self.queues[0] if len(self.queues) == 1 else Job.queue.in_(self.queues)
        chosen = (
            select(Job.id)
            .where(_in(JobState.ready), in_queues, Job.run_at <= now)
            .order_by(Job.priority.desc(), Job.run_at)
            # Written into the SQL too: with LIMIT as a parameter a generic plan cannot tell the
            # subquery yields a handful of rows, and joins it to a scan of the whole table.
            .limit(literal(limit, literal_execute=True))
            .with_for_update(skip_locked=True)
        )
        return (
            update(Job)
            .where(Job.id.in_(chosen.scalar_subquery()))
            .values(
                state=JobState.running.value,
                locked_by=self.ident,
                locked_until=now + self.lease,
                attempts=Job.attempts + 1,
            )
            .returning(Job.id, Job.queue, Job.name, Job.payload, Job.attempts, Job.max_attempts)
        )

    async def reclaim_lapsed(self) -> int:
        """Put back running jobs whose lease lapsed (their worker died or hung): ready again, or
        dead when that was their last attempt. Returns how many were ready again."""
        now = self.runtime.backends.clock.now()
        last = Job.attempts >= Job.max_attempts
        note = literal("lease lapsed: worker ") + func.coalesce(Job.locked_by, "?") + literal(" went silent")
        statement = (
            update(Job)
            .where(_in(JobState.running), Job.locked_until < now)
            .values(
                state=case((last, JobState.dead.value), else_=JobState.ready.value),
                finished_at=case((last, now), else_=None),
                locked_by=None,
                locked_until=None,
                last_error=note,
            )
            .returning(Job.id, Job.queue, Job.name, Job.state)
        )
        async with self._statement() as conn:
            rows = (await conn.execute(statement)).all()
        metrics = metrics_of(self.runtime).jobs
        for job_id, queue, name, state in rows:
            metrics.lapsed.labels(queue, name).inc()
            (metrics.dead if state == JobState.dead.value else metrics.failed).labels(queue, name).inc()
            log.warning("job lease lapsed", job=str(job_id), name=name, dead=state == JobState.dead.value)
        return sum(1 for row in rows if row[3] == JobState.ready.value)

    async def _run_one(self, job: ClaimedJob, metrics: JobMetrics) -> None:
        job_id, queue, name, payload, _attempts, _limit = job
        handler = self.handlers.get(name)
        began = time.perf_counter()
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
            metrics.duration.labels(queue, name).observe(time.perf_counter() - began)
            metrics.succeeded.labels(queue, name).inc()
        except LeaseLost:
            # Counted as lapsed by the worker that put it back.
            log.warning("job lease lost", job=str(job_id), name=name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing job is recorded, never fatal to the worker
            metrics.duration.labels(queue, name).observe(time.perf_counter() - began)
            await self._failed(job, exc, metrics)

    async def _failed(self, job: ClaimedJob, exc: Exception, metrics: JobMetrics) -> None:
        job_id, queue, name, _payload, attempts, limit = job
        now = self.runtime.backends.clock.now()
        error = "".join(traceback.format_exception(exc))[-8000:]
        final = attempts >= limit
        values: dict[str, Any] = {"last_error": error, "locked_by": None, "locked_until": None}
        if final:
            values.update(state=JobState.dead.value, finished_at=now)
        else:
            values.update(state=JobState.ready.value, run_at=now + timedelta(seconds=self.retry_delay(attempts)))
        try:
            async with self._statement() as conn:
                marked = await conn.execute(
                    update(Job).where(Job.id == job_id, Job.locked_by == self.ident).values(**values)
                )
        except Exception:
            # Not recorded: the lease lapses and another worker takes the job again.
            log.exception("recording a job failure failed", job=str(job_id), name=name)
            return
        if marked.rowcount:
            (metrics.dead if final else metrics.failed).labels(queue, name).inc()
        log.warning("job failed", job=str(job_id), name=name, attempt=attempts, dead=final, error=str(exc))

    async def _upkeep(self, stop: asyncio.Event) -> None:
        """Every quarter lease: renew the leases of running jobs (until cancelled, so they hold
        through the grace period too) and, until ``stop``, put back jobs whose lease lapsed."""
        period = self.lease.total_seconds() / 4
        while True:
            try:
                if self._running:
                    await self._renew(list(self._running))
                if not stop.is_set() and await self.reclaim_lapsed():
                    self.wake()
            except Exception:
                log.exception("job lease upkeep failed", worker=self.ident)
            await asyncio.sleep(period)

    async def _renew(self, job_ids: Iterable[uuid.UUID]) -> None:
        until = self.runtime.backends.clock.now() + self.lease
        async with self._statement() as conn:
            await conn.execute(
                update(Job).where(Job.id.in_(list(job_ids)), Job.locked_by == self.ident).values(locked_until=until)
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
            async with self._statement() as conn:
                await conn.execute(
                    update(Job)
                    .where(Job.id.in_(stuck), Job.locked_by == self.ident)
                    .values(state=JobState.ready.value, locked_by=None, locked_until=None, attempts=Job.attempts - 1)
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
                .where(_in(JobState.ready), Job.run_at <= now)
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
    query = select(Job).where(_in(JobState.dead)).order_by(Job.finished_at.desc()).limit(limit)
    return list((await ctx.session.scalars(query)).all())


async def retry_dead(ctx: Context, job_id: uuid.UUID) -> Job:
    """Give a dead job a fresh set of attempts, due now; ``LookupError`` unless it is dead."""
    job = await ctx.session.get(Job, job_id)
    if job is None or job.state != JobState.dead.value:
        raise LookupError("No dead job with that id.")
    job.state, job.attempts, job.run_at, job.finished_at = JobState.ready.value, 0, ctx.clock.now(), None
    job.locked_by = job.locked_until = None
    await ctx.session.flush()
    if ctx.runtime is not None:
        counter = metrics_of(ctx.runtime).jobs.retried.labels(job.queue, job.name)

        async def count() -> None:
            counter.inc()

        ctx.on_commit(count)
    return job


async def discard_dead(ctx: Context, job_id: uuid.UUID) -> Job:
    """Delete a dead job for good; ``LookupError`` unless it is dead."""
    job = await ctx.session.get(Job, job_id)
    if job is None or job.state != JobState.dead.value:
        raise LookupError("No dead job with that id.")
    await ctx.session.delete(job)
    await ctx.session.flush()
    return job


PURGE_JOB = "jobs.purge"
#: Finished jobs one purge run deletes; a run that hits it enqueues the next at once.
PURGE_BATCH = 50_000


async def purge_succeeded(ctx: Context, *, before: datetime, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` jobs that succeeded before ``before``; how many went.

    Dead jobs stay until an admin retries or discards them.
    """
    doomed = (
        select(Job.id)
        .where(Job.state == JobState.succeeded.value, Job.finished_at < before)
        .limit(limit)
        .scalar_subquery()
    )
    result = await ctx.session.execute(
        delete(Job).where(Job.id.in_(doomed)).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def purge_past_retention(runtime: Runtime, ctx: Context, _payload: dict[str, Any]) -> None:
    """The ``jobs.purge`` job: succeeded jobs older than FASTAPP_JOBS_RETENTION_DAYS go (their
    payloads may name people); a full batch enqueues another run behind it. The daily run is the
    ``finished_jobs`` rule of the privacy retention job (``platform/jobs_data.py``)."""
    before = ctx.clock.now() - timedelta(days=runtime.config.jobs.retention_days)
    if await purge_succeeded(ctx, before=before) >= PURGE_BATCH:
        await enqueue(ctx, PURGE_JOB)
