"""Notifications' tables: the in-app inbox, preferences, and every email with its delivery events.

User references are foreign keys by table name only: the accounts domain owns ``users``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fastapp.platform.crypto import EncryptedString
from fastapp.platform.db import Base
from fastapp.platform.types import Timestamp, UTCDateTime, UUIDPk


class EmailState(StrEnum):
    """A notification's email: none due, sent on its own, or waiting for / included in a digest."""

    queued = "queued"
    digest = "digest"
    digested = "digested"


class Notification(Base):
    """One in-app notification for one user (also the record a digest mail is built from)."""

    __tablename__ = "notifications"

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(500))
    #: JSON object: the data the kind's templates were filled from.
    data: Mapped[str] = mapped_column(Text, default="{}")
    #: False when only an email was due (the user turned the in-app channel off for the category).
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    email_state: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[Timestamp]
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        # The inbox: one user's newest first (keyset on created_at, id).
        Index("ix_notifications_inbox", "user_id", "created_at", "id"),
        Index("ix_notifications_email_state", "email_state", "user_id"),
    )


class NotificationPreference(Base):
    """A user's choices for one category; None means "the category's default"."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    in_app: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    email: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    #: ``immediately`` or ``daily`` (a digest); None is immediately.
    email_frequency: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[Timestamp]


class MailStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    delivered = "delivered"
    opened = "opened"
    clicked = "clicked"
    deferred = "deferred"
    bounced = "bounced"
    complained = "complained"
    failed = "failed"
    suppressed = "suppressed"


class EmailMessage(Base):
    """One email to one recipient, from the moment it is queued; its status is the latest event
    that matters (``record_event`` in ``delivery.py`` decides)."""

    __tablename__ = "email_messages"

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    to_address: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(64))
    #: Security and account mails: no tracking, no unsubscribe, cannot be turned off.
    mandatory: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The template's data (JSON), encrypted (it may hold sign-in links); blanked once final.
    context: Mapped[str | None] = mapped_column(EncryptedString("email_messages.context"), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default=MailStatus.queued.value)
    #: Our RFC 5322 Message-ID, ``<hex@site-host>``.
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    #: The id the provider gave the message (SES MessageId, Postmark MessageID), or our Message-ID.
    provider_message_id: Mapped[str | None] = mapped_column(String(255), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    open_count: Mapped[int] = mapped_column(Integer, default=0)
    click_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[Timestamp]
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deferred_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    complained_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    suppressed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_email_messages_template_created", "template", "created_at"),
        Index("ix_email_messages_created", "created_at"),
        Index("ix_email_messages_to_address", "to_address", "created_at"),
    )


class EmailEvent(Base):
    """Something that happened to a message: sent, delivered, opened, clicked, deferred, bounced..."""

    __tablename__ = "email_events"

    id: Mapped[UUIDPk]
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("email_messages.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[Timestamp]
    #: JSON object: SMTP reply, bounce type, clicked URL, user agent, provider payload excerpt.
    detail: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (Index("ix_email_events_message", "message_id", "occurred_at"),)


class EmailSuppression(Base):
    """An address no mail is sent to: hard bounce, complaint, too many soft bounces, or an admin."""

    __tablename__ = "email_suppressions"

    #: Lower-cased address.
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32))  # hard_bounce, complaint, soft_bounces, manual
    source: Mapped[str] = mapped_column(String(32))  # ses, postmark, smtp, admin
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[Timestamp]


class EmailSoftBounce(Base):
    """Soft bounces of an address since its last delivery; past a threshold it is suppressed."""

    __tablename__ = "email_soft_bounces"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[Timestamp]
    last_at: Mapped[Timestamp]
