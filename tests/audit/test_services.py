"""The audit chain: events commit with their change, form one chain under concurrency, and any
tampering (a changed field, a deleted or reordered row, a cut-off tail) is detected."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from fastapp.audit import Action, Actor, record
from fastapp.audit.chain import GENESIS, derive_key
from fastapp.audit.models import AuditEvent, AuditHead
from fastapp.audit.queries import page, parse_filter
from fastapp.audit.services import Verification, purge, verify
from fastapp.platform.context import Runtime, open_context
from tests.conftest import TEST_SECRET, root_of

KEY = derive_key(TEST_SECRET)


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def _events(runtime: Runtime, count: int, *, ip: str = "203.0.113.7") -> None:
    for n in range(count):
        async with open_context(runtime, request_id=f"r{n}", ip=ip, user_agent="Firefox") as ctx:
            await record(
                ctx,
                Action.SIGN_IN_FAILED,
                outcome="failure",
                data={"reason": "wrong password", "n": n},
                personal={"email": f"user{n}@example.com"},
            )


async def _verify(runtime: Runtime) -> Verification:
    async with runtime.backends.db.transaction() as session:
        return await verify(session, KEY)


async def _tamper(runtime: Runtime, *statements: str) -> None:
    """Change rows behind the service's back (on PostgreSQL, past the append-only trigger, as a
    superuser could)."""
    async with runtime.backends.db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await session.execute(text(statement))


async def test_events_chain_and_verify(runtime: Runtime) -> None:
    assert (await _verify(runtime)) == Verification(True, 0, 0, None)
    await _events(runtime, 3)
    result = await _verify(runtime)
    assert result == Verification(True, 3, 3, None)
    async with runtime.backends.db.transaction() as session:
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.seq))).all()
        head = await session.get(AuditHead, 1)
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert head is not None and (head.seq, head.hash) == (3, events[-1].hash)
    first = events[0]
    assert (first.action, first.outcome, first.actor_type, first.request_id) == (
        "auth.sign_in.failed",
        "failure",
        "anonymous",
        "r0",
    )
    assert json.loads(first.data) == {"n": 0, "reason": "wrong password"}
    assert json.loads(first.personal or "") == {"email": "user0@example.com"}
    assert (first.ip, first.user_agent) == ("203.0.113.7", "Firefox")


async def test_an_event_rolls_back_with_its_change(runtime: Runtime) -> None:
    async def failing_change() -> None:
        async with open_context(runtime, request_id="x", ip=None) as ctx:
            await record(ctx, Action.ROLE_CREATED, actor=Actor.system("test"))
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    await _events(runtime, 1)
    async with runtime.backends.db.transaction() as session:
        seqs = (await session.scalars(select(AuditEvent.seq))).all()
    assert seqs == [1]
    assert (await _verify(runtime)).ok


@pytest.mark.parametrize(
    ("statements", "problem"),
    [
        (["UPDATE audit_events SET outcome = 'success' WHERE seq = 3"], "event #3 was altered"),
        (["UPDATE audit_events SET data = '{}' WHERE seq = 2"], "event #2 was altered"),
        (["UPDATE audit_events SET ip = '198.51.100.1' WHERE seq = 4"], "event #4 was altered: its personal"),
        (["DELETE FROM audit_events WHERE seq = 3"], "event #3 is missing"),
        (["DELETE FROM audit_events WHERE seq = 5"], "the newest events are missing"),
        (["DELETE FROM audit_events WHERE seq = 1"], "events before #2 are missing"),
        (
            [
                "UPDATE audit_events SET seq = 100 WHERE seq = 2",
                "UPDATE audit_events SET seq = 2 WHERE seq = 3",
                "UPDATE audit_events SET seq = 3 WHERE seq = 100",
            ],
            "event #2 does not follow #1",
        ),
    ],
    ids=["outcome", "data", "personal-field", "middle-row", "newest-row", "first-row", "reorder"],
)
async def test_tampering_is_detected(runtime: Runtime, statements: list[str], problem: str) -> None:
    await _events(runtime, 5)
    await _tamper(runtime, *statements)
    result = await _verify(runtime)
    assert not result.ok
    assert result.problem is not None and problem in result.problem, result.problem


async def test_erasure_may_blank_personal_fields(runtime: Runtime) -> None:
    await _events(runtime, 3)
    async with runtime.backends.db.transaction() as session:
        await session.execute(
            text(
                "UPDATE audit_events SET actor_label = NULL, ip = NULL, user_agent = NULL, personal = NULL,"
                " erased_at = CURRENT_TIMESTAMP WHERE seq = 2"
            )
        )
    assert (await _verify(runtime)) == Verification(True, 3, 3, None)


async def test_postgres_refuses_changes_to_recorded_events(runtime: Runtime, backend: str) -> None:
    if backend != "services":
        pytest.skip("the append-only trigger is PostgreSQL's")
    await _events(runtime, 2)
    for statement in (
        "UPDATE audit_events SET outcome = 'success' WHERE seq = 1",
        "UPDATE audit_events SET ip = NULL WHERE seq = 1",  # blanking without marking it erased
        "DELETE FROM audit_events WHERE seq = 2",
        "TRUNCATE audit_events",
    ):
        with pytest.raises(Exception, match="append-only"):
            async with runtime.backends.db.transaction() as session:
                await session.execute(text(statement))
    assert (await _verify(runtime)).ok


async def test_concurrent_writers_form_one_chain(runtime: Runtime, backend: str) -> None:
    tasks, each = (20, 50) if backend == "services" else (5, 10)

    async def writer(w: int) -> None:
        for n in range(each):
            async with open_context(runtime, request_id=f"w{w}-{n}", ip=None) as ctx:
                await record(ctx, Action.TOKEN_CREATED, actor=Actor.system(f"writer-{w}"), data={"n": n})

    await asyncio.gather(*(writer(w) for w in range(tasks)))
    assert (await _verify(runtime)) == Verification(True, tasks * each, tasks * each, None)


async def test_purge_leaves_a_checkpoint_that_keeps_the_chain_verifiable(runtime: Runtime) -> None:
    await _events(runtime, 4)
    async with open_context(runtime, request_id="purge", ip=None) as ctx:
        assert await purge(ctx, before=ctx.clock.now() - timedelta(days=1)) == 0
    async with open_context(runtime, request_id="purge", ip=None) as ctx:
        assert await purge(ctx, before=ctx.clock.now() + timedelta(seconds=1)) == 4
    await _events(runtime, 2)
    assert (await _verify(runtime)) == Verification(True, 3, 3, None)
    async with runtime.backends.db.transaction() as session:
        checkpoint = await session.scalar(select(AuditEvent).where(AuditEvent.action == "audit.purged"))
    assert checkpoint is not None and checkpoint.seq == 5
    assert json.loads(checkpoint.data)["purged_through"] == 4
    assert checkpoint.actor_type == "system"

    await _tamper(runtime, "DELETE FROM audit_events WHERE seq = 5")  # removing the checkpoint itself
    result = await _verify(runtime)
    assert not result.ok and "events before #6 are missing" in (result.problem or "")


class _At:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


async def test_date_ranges_find_exactly_their_events(runtime: Runtime) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for day in range(10):
        async with open_context(runtime, request_id=f"d{day}", ip=None) as ctx:
            dated = replace(ctx, clock=_At(start + timedelta(days=day, hours=12)))
            await record(dated, Action.TOKEN_CREATED, actor=Actor.system("dated"), data={"day": day})

    async def days(**bounds: str) -> list[int]:
        async with runtime.backends.db.transaction() as session:
            rows, _ = await page(session, parse_filter(**bounds), limit=50)
        return [json.loads(r.data)["day"] for r in rows]

    assert await days(since="2026-01-04", until="2026-01-06") == [5, 4, 3]  # a bare until includes its day
    assert await days(since="2026-01-09T00:00") == [9, 8]
    assert await days(until="2026-01-01") == [0]
    assert await days(since="2027-01-01") == []
    assert await days(until="2025-12-31") == []
