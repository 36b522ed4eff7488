"""Users, roles and permissions, browser sessions (devices) and API refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fastapp.platform.crypto import EncryptedString
from fastapp.platform.db import Base
from fastapp.platform.types import CreatedAt, UTCDateTime, UUIDPk


class UserStatus(StrEnum):
    pending = "pending"  # signed up, email not verified yet
    active = "active"
    deactivated = "deactivated"
    deletion_requested = "deletion_requested"
    erased = "erased"


class User(Base):
    __tablename__ = "users"

    id: Mapped[UUIDPk]
    email: Mapped[str] = mapped_column(String(320))
    #: Lower-cased email: the unique, case-insensitive identity.
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), default=UserStatus.pending.value)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[CreatedAt]
    #: TOTP secret once two-factor sign-in is on (encrypted); ``totp_pending`` while being set up.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedString("users.totp_secret"), nullable=True)
    totp_pending: Mapped[str | None] = mapped_column(EncryptedString("users.totp_pending"), nullable=True)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: The last time step whose code was accepted: a code works once (no replay).
    totp_last_step: Mapped[int | None] = mapped_column(nullable=True)
    # Profile and preferences (issue #7).
    bio: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: Fields an application adds to profiles (JSON object), validated by its registered schema.
    profile_extra: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    locale: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    #: How dates and times are shown: ``iso`` (2026-11-25), ``dmy`` (25/11/2026), ``mdy`` (11/25/2026).
    date_format: Mapped[str] = mapped_column(String(8), default="iso", server_default="iso")
    #: ``24h`` or ``12h``.
    time_format: Mapped[str] = mapped_column(String(4), default="24h", server_default="24h")
    theme: Mapped[str] = mapped_column(String(8), default="system", server_default="system")
    #: The uploaded avatar (a ``files`` row of purpose ``avatar``); None shows generated initials.
    avatar_file_id: Mapped[uuid.UUID | None] = mapped_column(
        # use_alter: users and files refer to each other; the cycle is broken when creating tables.
        Uuid,
        ForeignKey("files.id", ondelete="SET NULL", use_alter=True),
        nullable=True,
    )
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Set by an administrator: the next sign-in must choose a new password first.
    password_reset_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    __table_args__ = (
        Index("ix_users_status_created", "status", "created_at"),
        Index("ix_users_created", "created_at", "id"),
    )

    roles: Mapped[list[Role]] = relationship(secondary="user_roles", lazy="selectin", viewonly=True)


class Role(Base):
    """A named set of permissions; a role also holds every permission of the roles below it."""

    __tablename__ = "roles"

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    #: The role this one extends (owner -> admin -> member); None for the bottom role.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("roles.id"), nullable=True)
    built_in: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[CreatedAt]

    permissions: Mapped[list[RolePermission]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", back_populates="role"
    )


class RolePermission(Base):
    __tablename__ = "role_permissions"

    role_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    permission: Mapped[str] = mapped_column(String(64), primary_key=True)

    role: Mapped[Role] = relationship(back_populates="permissions")


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class AuthSession(Base):
    """A signed-in browser or API client: one device row the user can see and end."""

    __tablename__ = "auth_sessions"

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: SHA-256 of the opaque cookie token; the token itself is never stored.
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # "browser" or "api"
    device: Mapped[str] = mapped_column(String(200))
    user_agent: Mapped[str] = mapped_column(Text, default="")
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[CreatedAt]
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the user last proved who they are (password or second factor): "sudo mode".
    authenticated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    remember: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Bumped on privilege or password change so the CSRF token rotates.
    csrf_generation: Mapped[int] = mapped_column(default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RefreshToken(Base):
    """An opaque API refresh token, rotated on every use; reuse revokes its whole family."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family", "family_id"), UniqueConstraint("token_hash"))

    id: Mapped[UUIDPk]
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("auth_sessions.id", ondelete="CASCADE"))
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RecoveryCode(Base):
    """A single-use code for signing in without the authenticator; only its hash is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[CreatedAt]
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PersonalAccessToken(Base):
    """A long-lived API token for scripts and CI: named, scoped, expiring, revocable."""

    __tablename__ = "personal_access_tokens"

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Space-separated permissions the token may use (never more than its owner holds).
    scopes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[CreatedAt]
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
