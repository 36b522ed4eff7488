"""The audit log's tables: append-only events and the head of their hash chain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fastapp.platform.db import Base
from fastapp.platform.types import Timestamp, UTCDateTime

# SQLite keeps 64-bit integers in INTEGER; PostgreSQL gets BIGINT.
Seq = BigInteger().with_variant(Integer, "sqlite")
# Bytewise comparison on PostgreSQL, so a prefix (``auth.``) is an index range (SQLite's default).
Name = String(64).with_variant(String(64, collation="C"), "postgresql")


class AuditEvent(Base):
    """One recorded action. ``seq`` is its place in the chain; ``hash`` covers every field but the
    personal ones, which enter through their keyed digest so erasure can blank them."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Seq, primary_key=True, autoincrement=False)
    occurred_at: Mapped[Timestamp]
    actor_type: Mapped[str] = mapped_column(String(16))  # user, token, system, anonymous
    actor_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(Name)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # success, failure
    request_id: Mapped[str | None] = mapped_column(String(128))
    #: Canonical JSON of the structured, non-personal details (before/after values, counts).
    data: Mapped[str] = mapped_column(Text)
    # Personal fields: erasure may blank them; the chain keeps only their digest.
    actor_label: Mapped[str | None] = mapped_column(String(320))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    personal: Mapped[str | None] = mapped_column(Text)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pii_digest: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_events_actor", "actor_id", "seq"),
        Index("ix_audit_events_action", "action", "seq"),
        Index("ix_audit_events_target", "target_id", "seq"),
        Index("ix_audit_events_actor_label", "actor_label", "seq"),
        Index("ix_audit_events_occurred_at", "occurred_at"),
        Index("ix_audit_events_ip", "ip", "seq"),
    )


class AuditHead(Base):
    """The single row naming the newest event: appending locks it, so writers form one chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Seq)
    hash: Mapped[str] = mapped_column(String(64))
