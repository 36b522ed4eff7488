"""Recording audit events in the caller's transaction, checking the chain, and purging old events."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from fastapp.audit.actions import Action
from fastapp.audit.chain import GENESIS, ChainCheck, canonical_json, event_hash, personal_digest
from fastapp.audit.models import AuditEvent, AuditHead
from fastapp.platform.context import Context, separate_context

HEAD_ID = 1
_state: dict[str, bytes] = {}


def set_key(key: bytes | None) -> None:
    """The HMAC key for personal-field digests of this process (set at start-up)."""
    if key is None:
        _state.pop("key", None)
    else:
        _state["key"] = key


def active_key() -> bytes:
    key = _state.get("key")
    if key is None:
        raise RuntimeError("the audit key is not set: the app sets it at start-up")
    return key


@dataclass(frozen=True)
class Actor:
    """Who acted: a user (browser or API session), an API token, a system job, or nobody known."""

    type: str
    id: str | None = None
    label: str | None = None

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls("system", name)

    @classmethod
    def user(cls, user_id: object, email: str | None = None) -> Actor:
        # Kept in lower case, as accounts compare addresses: the viewer finds it however typed.
        return cls("user", str(user_id), email.lower() if email else None)


ANONYMOUS = Actor("anonymous")


def actor_of(ctx: Context) -> Actor:
    principal = ctx.principal
    if principal is None:
        return ANONYMOUS
    if principal.via == "token":
        return Actor("token", str(principal.session_id), principal.email.lower() or None)
    return Actor.user(principal.user_id, principal.email or None)


async def record(
    ctx: Context,
    action: Action,
    *,
    target: tuple[str, object] | None = None,
    outcome: str = "success",
    data: Mapping[str, Any] | None = None,
    personal: Mapping[str, Any] | None = None,
    actor: Actor | None = None,
    keep_on_rollback: bool = False,
) -> AuditEvent:
    """Append an event in ``ctx``'s transaction: it commits or rolls back with the change it describes.

    ``data`` holds non-personal details (before/after values; never secrets); ``personal`` holds
    personal ones (e.g. an email address typed at sign-in), which erasure may blank later.
    Appending locks the chain's head row until the transaction ends, so concurrent writers on
    PostgreSQL and SQLite form one linear chain.

    ``keep_on_rollback`` is for refusals (a failed sign-in raises, which rolls the transaction
    back): should that happen, the event is written again in a transaction of its own.
    """
    who = actor or actor_of(ctx)
    if keep_on_rollback:

        async def again() -> None:
            async with separate_context(ctx) as alone:
                await record(alone, action, target=target, outcome=outcome, data=data, personal=personal, actor=who)

        ctx.on_rollback(again)
    session = ctx.session
    seq, prev_hash = (
        await session.execute(
            update(AuditHead)
            .where(AuditHead.id == HEAD_ID)
            .values(seq=AuditHead.seq + 1)
            .returning(AuditHead.seq, AuditHead.hash)
        )
    ).one()
    personal_text = canonical_json(personal) if personal else None
    user_agent = ctx.user_agent[:512] or None
    event = AuditEvent(
        seq=seq,
        occurred_at=ctx.clock.now(),
        actor_type=who.type,
        actor_id=who.id,
        action=str(action),
        target_type=target[0] if target else None,
        target_id=str(target[1]) if target else None,
        outcome=outcome,
        request_id=ctx.request_id or None,
        data=canonical_json(data or {}),
        actor_label=who.label,
        ip=ctx.ip,
        user_agent=user_agent,
        personal=personal_text,
        pii_digest=personal_digest(
            active_key(), actor_label=who.label, ip=ctx.ip, user_agent=user_agent, personal=personal_text
        ),
        prev_hash=prev_hash,
        hash="",
    )
    event.hash = event_hash(event)
    row = insert(AuditEvent).values({c.key: getattr(event, c.key) for c in AuditEvent.__table__.columns})
    advance = update(AuditHead).where(AuditHead.id == HEAD_ID).values(hash=event.hash)
    if session.get_bind().dialect.name == "postgresql":
        # One round trip for both while the head row is locked: it bounds how many events per
        # second the chain takes (bench/README.md).
        await session.execute(row.add_cte(advance.cte("advance")))
    else:
        await session.execute(row)
        await session.execute(advance)
    return event


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    total: int
    problem: str | None


async def verify(
    session: AsyncSession, key: bytes, *, batch: int = 2000, progress: Callable[[int, int], None] | None = None
) -> Verification:
    """Walk the whole chain in ``seq`` order; report the first broken link or that all verify.

    ``progress(done, total)`` is called after each batch.
    """
    total = int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    head = await session.get(AuditHead, HEAD_ID)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    check = ChainCheck(key)
    first = await session.scalar(select(func.min(AuditEvent.seq)))
    if first is None:
        check.finish(head_seq, head_hash)
        return Verification(check.problem is None, 0, 0, check.problem)
    check.start(first, GENESIS if first == 1 else await _checkpoint_anchor(session, first - 1))
    after = first - 1
    while check.problem is None:
        rows = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(batch)
            )
        ).all()
        if not rows:
            break
        check.feed(rows)
        after = rows[-1].seq
        if progress is not None:
            progress(check.checked, total)
        session.expunge_all()  # keep memory flat over millions of rows
    check.finish(head_seq, head_hash)
    return Verification(check.problem is None, check.checked, total, check.problem)


async def _checkpoint_anchor(session: AsyncSession, purged_through: int) -> str | None:
    """The hash recorded by the purge that removed events up to ``purged_through``, if any."""
    rows = await session.scalars(
        select(AuditEvent.data).where(AuditEvent.action == str(Action.AUDIT_PURGED)).order_by(AuditEvent.seq.desc())
    )
    for raw in rows:
        data = json.loads(raw)
        if data.get("purged_through") == purged_through:
            return str(data["last_hash"])
    return None


async def purge(ctx: Context, *, before: datetime) -> int:
    """Delete events older than ``before`` and append a checkpoint naming the last one removed.

    On PostgreSQL the append-only trigger lets deletes through only inside this transaction.
    """
    session = ctx.session
    last = await session.scalar(select(func.max(AuditEvent.seq)).where(AuditEvent.occurred_at < before))
    if last is None:
        return 0
    last_hash = await session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == last))
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        await session.execute(text("SET LOCAL fastapp.audit_purge = 'on'"))
    removed = (await session.execute(delete(AuditEvent).where(AuditEvent.seq <= last))).rowcount  # type: ignore[attr-defined]
    if postgres:
        await session.execute(text("SET LOCAL fastapp.audit_purge = 'off'"))
    await record(
        ctx,
        Action.AUDIT_PURGED,
        actor=Actor.system("audit.purge"),
        data={"purged_through": last, "count": removed, "last_hash": last_hash, "before": before.isoformat()},
    )
    return int(removed)
