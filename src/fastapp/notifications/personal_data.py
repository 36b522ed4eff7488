"""What notifications and the email service keep about a user, for exports, erasure and retention
(``platform.privacy``).

Two sources: ``notifications`` (the in-app inbox and the user's preferences) and ``email`` (every
mail sent to the user, by account or by address, with its delivery events, and the address's
suppression and soft-bounce records). Erasure deletes all of it. A mail's ``context`` is left out
of exports: it may hold sign-in and reset links, which are secrets.

Retention: read notifications and email records older than their configured number of days are
deleted by the privacy domain's daily retention job.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select

from fastapp.config import Config
from fastapp.notifications.models import (
    EmailEvent,
    EmailMessage,
    EmailSoftBounce,
    EmailSuppression,
    Notification,
    NotificationPreference,
)
from fastapp.platform.context import Context
from fastapp.platform.privacy import ErasureSubject, ExportedData, PersonalData, RetentionRule
from fastapp.platform.registry import Registry

ERASE_ORDER = 20


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _address_of(ctx: Context, user_id: uuid.UUID) -> str | None:
    """The user's address, asked of accounts through ``registry.recipients``."""
    lookup = ctx.runtime.registry.recipients if ctx.runtime is not None else None
    if lookup is None:
        return None
    found = (await lookup(ctx, [user_id])).get(user_id)
    return str(found.email).lower() if found is not None else None


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


async def export_notifications(ctx: Context, user_id: uuid.UUID) -> ExportedData:
    inbox = (
        await ctx.session.scalars(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.created_at)
        )
    ).all()
    preferences = (
        await ctx.session.scalars(
            select(NotificationPreference)
            .where(NotificationPreference.user_id == user_id)
            .order_by(NotificationPreference.category)
        )
    ).all()
    return ExportedData(
        records={
            "notifications": [
                {
                    "kind": n.kind,
                    "category": n.category,
                    "title": n.title,
                    "body": n.body,
                    "link": n.link,
                    "data": json.loads(n.data or "{}"),
                    "created_at": _when(n.created_at),
                    "read_at": _when(n.read_at),
                    "archived_at": _when(n.archived_at),
                }
                for n in inbox
            ],
            "preferences": [
                {
                    "category": p.category,
                    "in_app": p.in_app,
                    "email": p.email,
                    "email_frequency": p.email_frequency,
                    "updated_at": _when(p.updated_at),
                }
                for p in preferences
            ],
        }
    )


async def erase_notifications(ctx: Context, subject: ErasureSubject) -> int:
    changed = 0
    for table, column in (
        (Notification, Notification.user_id),
        (NotificationPreference, NotificationPreference.user_id),
    ):
        changed += _rowcount(await ctx.session.execute(delete(table).where(column == subject.user_id)))
    return changed


def _mail_of(user_id: uuid.UUID, address: str | None) -> ColumnElement[bool]:
    if address:
        return or_(EmailMessage.user_id == user_id, func.lower(EmailMessage.to_address) == address)
    return EmailMessage.user_id == user_id


async def export_email(ctx: Context, user_id: uuid.UUID) -> ExportedData:
    address = await _address_of(ctx, user_id)
    messages = (
        await ctx.session.scalars(
            select(EmailMessage).where(_mail_of(user_id, address)).order_by(EmailMessage.created_at)
        )
    ).all()
    events = (
        await ctx.session.scalars(
            select(EmailEvent)
            .where(EmailEvent.message_id.in_([m.id for m in messages]))
            .order_by(EmailEvent.occurred_at)
        )
    ).all()
    by_message: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for event in events:
        by_message.setdefault(event.message_id, []).append(
            {"type": event.type, "occurred_at": _when(event.occurred_at), "detail": json.loads(event.detail or "{}")}
        )
    suppressions = (
        (await ctx.session.scalars(select(EmailSuppression).where(EmailSuppression.address == address))).all()
        if address
        else []
    )
    bounces = (
        (await ctx.session.scalars(select(EmailSoftBounce).where(EmailSoftBounce.address == address))).all()
        if address
        else []
    )
    return ExportedData(
        records={
            "messages": [
                {
                    "to": m.to_address,
                    "subject": m.subject,
                    "template": m.template,
                    "category": m.category,
                    "status": m.status,
                    "created_at": _when(m.created_at),
                    "sent_at": _when(m.sent_at),
                    "delivered_at": _when(m.delivered_at),
                    "opened_at": _when(m.opened_at),
                    "clicked_at": _when(m.clicked_at),
                    "open_count": m.open_count,
                    "click_count": m.click_count,
                    "events": by_message.get(m.id, []),
                }
                for m in messages
            ],
            "suppressions": [
                {"address": s.address, "reason": s.reason, "source": s.source, "created_at": _when(s.created_at)}
                for s in suppressions
            ],
            "soft_bounces": [
                {"address": b.address, "count": b.count, "first_at": _when(b.first_at), "last_at": _when(b.last_at)}
                for b in bounces
            ],
        }
    )


async def erase_email(ctx: Context, subject: ErasureSubject) -> int:
    address = subject.email.lower()
    ids = (await ctx.session.scalars(select(EmailMessage.id).where(_mail_of(subject.user_id, address)))).all()
    changed = 0
    if ids:
        await ctx.session.execute(delete(EmailEvent).where(EmailEvent.message_id.in_(ids)))
        changed += _rowcount(await ctx.session.execute(delete(EmailMessage).where(EmailMessage.id.in_(ids))))
    if address:
        for table, column in ((EmailSuppression, EmailSuppression.address), (EmailSoftBounce, EmailSoftBounce.address)):
            changed += _rowcount(await ctx.session.execute(delete(table).where(func.lower(column) == address)))
    return changed


async def purge_read_notifications(ctx: Context, cutoff: datetime) -> int:
    """Notifications read before ``cutoff``; unread ones stay, however old."""
    result = await ctx.session.execute(
        delete(Notification).where(Notification.read_at.is_not(None), Notification.read_at < cutoff)
    )
    return _rowcount(result)


async def purge_email_records(ctx: Context, cutoff: datetime) -> int:
    """Email messages created before ``cutoff``, with their delivery events."""
    old = select(EmailMessage.id).where(EmailMessage.created_at < cutoff)
    await ctx.session.execute(delete(EmailEvent).where(EmailEvent.message_id.in_(old)))
    return _rowcount(await ctx.session.execute(delete(EmailMessage).where(EmailMessage.created_at < cutoff)))


def _read_notification_days(config: Config) -> int:
    return config.privacy.read_notification_days


def _email_record_days(config: Config) -> int:
    return config.privacy.email_record_days


def register(registry: Registry) -> None:
    registry.add_personal_data(
        PersonalData(
            key="notifications",
            label="Notifications",
            description="Your in-app notifications (title, text, link, read and archived times) and your "
            "notification preferences per category.",
            legal_basis="Contract (Art. 6(1)(b)): telling you about your account and what you asked to follow.",
            retention="Read notifications are deleted after FASTAPP_PRIVACY_READ_NOTIFICATION_DAYS; "
            "preferences until you delete your account.",
            tables=("notifications", "notification_preferences"),
            export=export_notifications,
            erase=erase_notifications,
            erase_order=ERASE_ORDER,
        )
    )
    registry.add_personal_data(
        PersonalData(
            key="email",
            label="Email",
            description="Every email sent to you: address, subject, template, delivery status and events "
            "(delivered, opened, clicked, bounced); whether your address is suppressed after bounces "
            "or complaints.",
            legal_basis="Contract (Art. 6(1)(b)) and legitimate interests (Art. 6(1)(f)): delivering mail "
            "reliably and not mailing addresses that bounce or complain.",
            retention="Email records are deleted after FASTAPP_PRIVACY_EMAIL_RECORD_DAYS; suppressions "
            "until you delete your account.",
            tables=("email_messages", "email_events", "email_suppressions", "email_soft_bounces"),
            export=export_email,
            erase=erase_email,
            erase_order=ERASE_ORDER,
        )
    )
    registry.add_retention_rule(
        RetentionRule(
            key="read_notifications",
            label="Read notifications",
            days=_read_notification_days,
            purge=purge_read_notifications,
            setting="FASTAPP_PRIVACY_READ_NOTIFICATION_DAYS",
        )
    )
    registry.add_retention_rule(
        RetentionRule(
            key="email_records",
            label="Email records and their delivery events",
            days=_email_record_days,
            purge=purge_email_records,
            setting="FASTAPP_PRIVACY_EMAIL_RECORD_DAYS",
        )
    )
