"""What the audit log keeps about a user, for exports and erasure (``platform.privacy``).

Events stay (they are the operator's evidence, and deleting one would break the chain); erasure
blanks only their personal fields (actor label, IP, user agent, personal details) and stamps
``erased_at``: exactly the update the PostgreSQL guard of migration 0005 lets through, and the
chain still verifies because it covers those fields only through their digest (``chain.py``).
An event is the user's when they acted, when it is about them, or when its personal fields
carry their address (a sign-in attempt typing it, a suppression of it), or when nobody known acted
from one of the IP addresses their sessions came from.

Retention: events older than FASTAPP_AUDIT_RETENTION_DAYS are deleted (with a checkpoint that
keeps the chain verifiable) by the privacy domain's daily retention job, rule ``audit``.

An export holds the events the user did with everything recorded, and the events about them
without the acting person's label, IP and user agent (those are someone else's).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update

from fastapp.audit.models import AuditEvent
from fastapp.audit.services import purge
from fastapp.config import Config
from fastapp.platform.context import Context
from fastapp.platform.privacy import ErasureSubject, ExportedData, PersonalData, RetentionRule
from fastapp.platform.registry import Registry

ERASE_ORDER = 30
#: The actor types whose ``actor_id`` is a user id (a token's is its session's id).
USER_ACTOR = "user"
USER_TARGET = "user"
ANONYMOUS = "anonymous"


def _acted(user_id: uuid.UUID) -> ColumnElement[bool]:
    return and_(AuditEvent.actor_type == USER_ACTOR, AuditEvent.actor_id == str(user_id))


def _about(user_id: uuid.UUID) -> ColumnElement[bool]:
    return and_(AuditEvent.target_type == USER_TARGET, AuditEvent.target_id == str(user_id))


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


async def export_events(ctx: Context, user_id: uuid.UUID) -> ExportedData:
    rows = (
        await ctx.session.scalars(
            select(AuditEvent).where(or_(_acted(user_id), _about(user_id))).order_by(AuditEvent.seq)
        )
    ).all()
    events: list[dict[str, Any]] = []
    for event in rows:
        mine = event.actor_type == USER_ACTOR and event.actor_id == str(user_id)
        record: dict[str, Any] = {
            "seq": event.seq,
            "occurred_at": event.occurred_at.isoformat(),
            "action": event.action,
            "outcome": event.outcome,
            "by_you": mine,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "personal": _json(event.personal),
        }
        if mine:
            record.update(
                data=_json(event.data),
                actor_label=event.actor_label,
                ip=event.ip,
                user_agent=event.user_agent,
            )
        events.append(record)
    return ExportedData(records={"events": events})


async def erase_events(ctx: Context, subject: ErasureSubject) -> int:
    """Blank the personal fields of the subject's events not blanked yet; how many were."""
    email = subject.email.lower()
    mentions: list[ColumnElement[bool]] = [_acted(subject.user_id), _about(subject.user_id)]
    if subject.ips:
        # Anonymous events (a failed sign-in, a sign-up) from the subject's addresses are theirs to
        # erase; an identified other user's event from a shared address stays theirs.
        mentions.append(and_(AuditEvent.actor_type == ANONYMOUS, AuditEvent.ip.in_(sorted(subject.ips))))
    if email:
        mentions += [
            func.lower(AuditEvent.actor_label) == email,
            func.lower(AuditEvent.personal).contains(email, autoescape=True),
        ]
    result = await ctx.session.execute(
        update(AuditEvent)
        .where(AuditEvent.erased_at.is_(None), or_(*mentions))
        .values(actor_label=None, ip=None, user_agent=None, personal=None, erased_at=ctx.clock.now())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def purge_old_events(ctx: Context, cutoff: datetime) -> int:
    """Events older than ``cutoff`` go; a checkpoint event keeps the chain verifiable."""
    return await purge(ctx, before=cutoff)


def _audit_days(config: Config) -> int:
    return config.audit.retention_days


def register(registry: Registry) -> None:
    registry.add_personal_data(
        PersonalData(
            key="audit",
            label="Audit log",
            description=(
                "Security and administration events you did or that concern you (sign-ins, changes "
                "to your account, downloads), with the email address, IP address and user agent "
                "they came from."
            ),
            legal_basis=(
                "Legitimate interests (Art. 6(1)(f)) and legal obligation (Art. 6(1)(c)): keeping the "
                "service and your account secure and accountable."
            ),
            retention=(
                "Events are deleted after FASTAPP_AUDIT_RETENTION_DAYS; when you delete your account "
                "their personal fields are blanked, the events themselves stay."
            ),
            tables=("audit_events",),
            export=export_events,
            erase=erase_events,
            erase_order=ERASE_ORDER,
        )
    )
    registry.add_retention_rule(
        RetentionRule(
            key="audit",
            label="Audit events",
            days=_audit_days,
            purge=purge_old_events,
            setting="FASTAPP_AUDIT_RETENTION_DAYS",
        )
    )
