"""Files' tables: stored files, each user's usage, and per-user quota overrides."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from fastapp.platform.db import Base
from fastapp.platform.types import Timestamp, UTCDateTime, UUIDPk

# SQLite keeps 64-bit integers in INTEGER; PostgreSQL gets BIGINT.
Bytes = BigInteger().with_variant(Integer, "sqlite")


class FileStatus(StrEnum):
    pending_scan = "pending_scan"  # stored, waiting for the virus scanner: never served
    clean = "clean"  # scanned, nothing found
    infected = "infected"  # quarantined: never served
    unscanned = "unscanned"  # no scanner configured (embedded default): served only to its owner


class StoredFile(Base):
    """One uploaded file. Its bytes live in storage under ``storage_key`` (never a user-chosen name)."""

    __tablename__ = "files"

    id: Mapped[UUIDPk]
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"))
    #: What it was uploaded for (``avatar``, ``document``, ...): decides the accepted types.
    purpose: Mapped[str] = mapped_column(String(32))
    #: The sanitized display name, with extension.
    name: Mapped[str] = mapped_column(String(255))
    #: The sniffed type (never just the declared one).
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(Bytes)
    #: Of the stored bytes (an image's after re-encoding), so a download can be verified.
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    #: The threat's name when infected; the last scanner error while pending.
    scan_detail: Mapped[str | None] = mapped_column(String(500))
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
    #: Soft delete: restorable until the purge job removes it (30 days later).
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ix_files_owner", "owner_id", "deleted_at", "created_at"),
        Index("ix_files_status", "status"),
        Index("ix_files_deleted", "deleted_at"),
    )


class FileUsage(Base):
    """What one user's files take, kept up to date in the transaction of every change so a quota
    is enforced with one conditional UPDATE (parallel uploads cannot exceed it together)."""

    __tablename__ = "file_usage"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    bytes: Mapped[int] = mapped_column(Bytes, default=0)
    files: Mapped[int] = mapped_column(Integer, default=0)


class FileQuota(Base):
    """An admin's override of one user's quota; None keeps the default of the user's roles."""

    __tablename__ = "file_quotas"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    max_bytes: Mapped[int | None] = mapped_column(Bytes, nullable=True)
    max_files: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[Timestamp]
