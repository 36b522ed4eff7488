"""Finding audit events: one filter for the viewer, the API and exports, newest first, by keyset.

Pages are cut by ``seq`` (``WHERE seq < :cursor ORDER BY seq DESC LIMIT n``), never by offset, so
the millionth page costs what the first does. Each filter has an index that leads with it and
ends with ``seq``; on PostgreSQL, ``action`` compares bytewise (collation "C") so an action prefix
such as ``auth.`` is an index range.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from fastapp.audit.actions import Action
from fastapp.audit.models import AuditEvent
from fastapp.platform.errors import Invalid

OUTCOMES = ("success", "failure")
MAX_PAGE = 200


@dataclass(frozen=True)
class EventFilter:
    """What to look for; empty fields do not filter."""

    #: A user or token id, a system job's name, or the email address the actor had.
    actor: str = ""
    #: An action name, or a prefix ending in "." (``auth.`` for every sign-in related event).
    action: str = ""
    #: ``type:id`` (``user:0b6f...``) or a bare id of any type.
    target: str = ""
    outcome: str = ""
    ip: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        e = AuditEvent
        found: list[ColumnElement[bool]] = []
        if actor := self.actor.strip():
            if "@" in actor:  # addresses are kept in lower case
                found.append(e.actor_label == actor.lower())
            else:
                found.append(e.actor_id == actor)
        if action := self.action.strip():
            found.append(e.action.startswith(action, autoescape=True) if action.endswith(".") else e.action == action)
        if target := self.target.strip():
            kind, _, ident = target.rpartition(":")
            found.append(e.target_id == ident if not kind else (e.target_type == kind) & (e.target_id == ident))
        if self.outcome:
            found.append(e.outcome == self.outcome)
        if ip := self.ip.strip():
            found.append(e.ip == ip)
        if self.since is not None:
            found.append(e.occurred_at >= self.since)
        if self.until is not None:
            found.append(e.occurred_at < self.until)
        return found

    def as_query(self) -> dict[str, str]:
        """The non-empty fields as query parameters (for links to the next page and exports)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v.isoformat() if isinstance(v, datetime) else str(v) for k, v in values.items() if v}


def _select(f: EventFilter) -> Select[AuditEvent]:
    return select(AuditEvent).where(*f.conditions())


async def page(
    session: AsyncSession, f: EventFilter, *, before: int | None = None, limit: int = 50
) -> tuple[list[AuditEvent], int | None]:
    """Up to ``limit`` events older than ``before`` (newest first), and the cursor of the next page."""
    limit = max(1, min(limit, MAX_PAGE))
    query = _select(f).where(*await _seq_bounds(session, f))
    if before is not None:
        query = query.where(AuditEvent.seq < before)
    rows = list((await session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit + 1))).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].seq if more else None)


# Events are numbered in the order they are appended, with the clock read under the chain's lock,
# so time and ``seq`` rise together; app servers whose clocks disagree by a little can interleave
# them at the edges, which the margin absorbs (the time conditions themselves still apply).
SEQ_MARGIN = 1000


async def _seq_bounds(session: AsyncSession, f: EventFilter) -> list[ColumnElement[bool]]:
    """A date range as a range of ``seq``, found on the time index: without it, PostgreSQL walks
    the primary key from the newest event down to the range (a full scan for the oldest week)."""
    bounds: list[ColumnElement[bool]] = []
    if f.since is not None:
        first = await session.scalar(
            select(AuditEvent.seq).where(AuditEvent.occurred_at >= f.since).order_by(AuditEvent.occurred_at).limit(1)
        )
        bounds.append(AuditEvent.seq >= (first if first is not None else _AFTER_ALL) - SEQ_MARGIN)
    if f.until is not None:
        last = await session.scalar(
            select(AuditEvent.seq)
            .where(AuditEvent.occurred_at < f.until)
            .order_by(AuditEvent.occurred_at.desc())
            .limit(1)
        )
        bounds.append(AuditEvent.seq <= (last if last is not None else -SEQ_MARGIN) + SEQ_MARGIN)
    return bounds


_AFTER_ALL = 2**62


async def stream(session: AsyncSession, f: EventFilter, *, batch: int = 1000) -> AsyncIterator[AuditEvent]:
    """Every matching event, newest first, fetched in keyset batches (flat memory for exports)."""
    before: int | None = None
    while True:
        rows, before = await page(session, f, before=before, limit=min(batch, MAX_PAGE))
        for row in rows:
            yield row
        session.expunge_all()
        if before is None:
            return


async def one(session: AsyncSession, seq: int) -> AuditEvent | None:
    return await session.get(AuditEvent, seq)


async def for_user(session: AsyncSession, user_id: uuid.UUID, *, limit: int = 20) -> list[AuditEvent]:
    """A user's own security history: what they did, and what was done to their account."""
    ident = str(user_id)
    query = (
        select(AuditEvent)
        .where(or_(AuditEvent.actor_id == ident, (AuditEvent.target_type == "user") & (AuditEvent.target_id == ident)))
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def parse_filter(
    *,
    actor: str = "",
    action: str = "",
    target: str = "",
    outcome: str = "",
    ip: str = "",
    since: str = "",
    until: str = "",
) -> EventFilter:
    """An ``EventFilter`` from form or query values; ``Invalid`` names each bad field.

    Dates are ISO 8601 (``2026-11-25`` or with a time; without an offset they mean UTC);
    ``until`` on a bare date includes that whole day.
    """
    errors: dict[str, str] = {}
    if outcome and outcome not in OUTCOMES:
        errors["outcome"] = "Choose success or failure."
    if len(actor) > 320 or len(action) > 64 or len(target) > 100 or len(ip) > 45:
        errors["filter"] = "A filter value is too long."
    bounds: dict[str, datetime | None] = {}
    for name, text in (("since", since), ("until", until)):
        bounds[name] = None
        if text.strip():
            try:
                moment = datetime.fromisoformat(text.strip())
            except ValueError:
                errors[name] = "Use a date like 2026-11-25 or 2026-11-25T14:30."
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            if name == "until" and len(text.strip()) == 10:
                moment += timedelta(days=1)  # a bare date: through the end of that day
            bounds[name] = moment
    if errors:
        raise Invalid("Check the filters: " + "; ".join(errors.values()), fields=errors)
    return EventFilter(
        actor=actor.strip(),
        action=action.strip(),
        target=target.strip(),
        outcome=outcome,
        ip=ip.strip(),
        since=bounds["since"],
        until=bounds["until"],
    )


def event_record(event: AuditEvent) -> dict[str, Any]:
    """An event as plain JSON-ready data: the API's item, an export line, the detail view."""
    try:
        description = Action(event.action).description
    except ValueError:  # an action since renamed: still shown, as it was recorded
        description = event.action
    return {
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "action": event.action,
        "description": description,
        "outcome": event.outcome,
        "actor": {"type": event.actor_type, "id": event.actor_id, "label": event.actor_label},
        "target": {"type": event.target_type, "id": event.target_id},
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "data": json.loads(event.data),
        "personal": json.loads(event.personal) if event.personal else None,
        "erased": event.erased_at is not None,
        "hash": event.hash,
    }
