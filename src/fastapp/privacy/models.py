"""Privacy's tables: data exports, erasure requests, consent records, policy versions and their
acceptances."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fastapp.platform.db import Base
from fastapp.platform.types import Timestamp, UTCDateTime, UUIDPk


class ExportStatus(StrEnum):
    pending = "pending"
    running = "running"
    ready = "ready"
    expired = "expired"
    failed = "failed"


class DataExport(Base):
    """A user's request for a copy of their data, and the ZIP it produced."""

    __tablename__ = "privacy_exports"

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ExportStatus.pending.value)
    #: 0 to 100, and what the job is doing now ("Files", "Packing").
    progress: Mapped[int] = mapped_column(Integer, default=0)
    stage: Mapped[str] = mapped_column(String(100), default="")
    requested_at: Mapped[Timestamp]
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: After this the ZIP is deleted from storage and the export shows as expired.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    storage_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    download_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_privacy_exports_user", "user_id", "requested_at"),
        Index("ix_privacy_exports_expires", "status", "expires_at"),
    )


class ErasureStatus(StrEnum):
    scheduled = "scheduled"  # waiting for the grace period to end
    cancelled = "cancelled"  # the user signed in and cancelled
    completed = "completed"
    failed = "failed"


class ErasureRequest(Base):
    """A user's request to be forgotten: executed when ``due_at`` passes, unless cancelled or
    held. The row outlives the erasure as proof that it happened (it holds no personal data)."""

    __tablename__ = "privacy_erasures"

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ErasureStatus.scheduled.value)
    requested_at: Mapped[Timestamp]
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: A legal hold pauses the erasure until released; the reason is shown to administrators.
    hold_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    held_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    held_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_privacy_erasures_due", "status", "due_at"),
        Index("ix_privacy_erasures_user", "user_id", "requested_at"),
    )


class ConsentRecord(Base):
    """One decision about one purpose, by a user or by an anonymous visitor (merged into the user
    at sign-up). The current state of a purpose is its newest record."""

    __tablename__ = "consent_records"

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    #: The anonymous visitor's random id (its cookie), until the visitor signs up.
    visitor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    purpose: Mapped[str] = mapped_column(String(64))
    granted: Mapped[bool] = mapped_column(Boolean)
    #: The privacy policy version in force when the decision was made ("" when none is published).
    policy_version: Mapped[str] = mapped_column(String(32), default="")
    #: banner, settings, sign-up, api
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[Timestamp]

    __table_args__ = (
        Index("ix_consent_records_user", "user_id", "purpose", "created_at"),
        Index("ix_consent_records_visitor", "visitor_id", "created_at"),
    )


class PolicyKind(StrEnum):
    privacy = "privacy"
    terms = "terms"


class PolicyVersion(Base):
    """A published version of the privacy policy or the terms; it applies from ``effective_at``."""

    __tablename__ = "policy_versions"

    id: Mapped[UUIDPk]
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    #: Markdown source; rendered with raw HTML disabled.
    body: Mapped[str] = mapped_column(Text)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[Timestamp]
    published_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )

    __table_args__ = (
        UniqueConstraint("kind", "version"),
        Index("ix_policy_versions_effective", "kind", "effective_at"),
    )


class PolicyAcceptance(Base):
    """A user accepted one policy version (at sign-up, on the accept page, or through the API)."""

    __tablename__ = "policy_acceptances"

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    policy_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("policy_versions.id", ondelete="CASCADE"))
    accepted_at: Mapped[Timestamp]
    #: sign-up, page, api
    source: Mapped[str] = mapped_column(String(16))

    __table_args__ = (UniqueConstraint("user_id", "policy_id"),)
