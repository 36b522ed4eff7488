"""What accounts keep about a user, for exports and erasure (``platform.privacy``).

Two sources: ``accounts`` (the account itself, its roles, sessions and devices, API refresh
tokens, recovery codes and personal access tokens) and ``profile`` (what the user tells about
themselves and how they like pages shown, with the avatar). Secrets never leave: no password
or token hashes, no TOTP secret, no recovery code hashes.

Erasure keeps the user row, anonymized and marked ``erased``, so that references to it (audit
events, erasure requests, a policy version's publisher) still resolve to "Deleted user"; every
other accounts row of the user is deleted. The row goes last (``USER_ROW_ORDER``): other
erasers may still read it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import delete, select

from fastapp.accounts import avatars, wiring
from fastapp.accounts.models import (
    AuthSession,
    PersonalAccessToken,
    RecoveryCode,
    RefreshToken,
    Role,
    User,
    UserRole,
    UserStatus,
)
from fastapp.accounts.pats import _key as pat_cache_key
from fastapp.accounts.services import drop_principal
from fastapp.files.models import StoredFile
from fastapp.files.scanning import storage_of
from fastapp.platform.context import Context
from fastapp.platform.privacy import ErasureSubject, ExportedData, ExportedFile, PersonalData, delete_user_rows
from fastapp.platform.registry import Registry

#: The user row is anonymized after every other eraser ran.
USER_ROW_ORDER = 1000
#: Before files (which deletes the avatar's file row the profile eraser looks up).
PROFILE_ORDER = 50
ERASED_NAME = "Deleted user"
#: Not an Argon2 hash: ``verify_password`` answers False for it, so nobody can sign in.
UNUSABLE_PASSWORD = "!erased"  # noqa: S105 - a marker, not a secret
ERASED_DOMAIN = "erased.invalid"


def erased_address(user_id: uuid.UUID) -> str:
    """The placeholder address of an erased user: unique (``email_key`` is) and undeliverable."""
    return f"erased-{user_id}@{ERASED_DOMAIN}"


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def export_account(ctx: Context, user_id: uuid.UUID) -> ExportedData:
    user = await ctx.session.get(User, user_id)
    if user is None:
        return ExportedData(records={})
    roles = (
        await ctx.session.scalars(
            select(Role.name).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user_id)
        )
    ).all()
    sessions = (
        await ctx.session.scalars(
            select(AuthSession).where(AuthSession.user_id == user_id).order_by(AuthSession.created_at)
        )
    ).all()
    refresh = (
        await ctx.session.scalars(
            select(RefreshToken)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(AuthSession.user_id == user_id)
            .order_by(RefreshToken.created_at)
        )
    ).all()
    codes = (await ctx.session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user_id))).all()
    tokens = (
        await ctx.session.scalars(
            select(PersonalAccessToken)
            .where(PersonalAccessToken.user_id == user_id)
            .order_by(PersonalAccessToken.created_at)
        )
    ).all()
    account = {
        "id": str(user.id),
        "email": user.email,
        "display_name": user.display_name,
        "status": user.status,
        "created_at": _when(user.created_at),
        "email_verified_at": _when(user.email_verified_at),
        "password_changed_at": _when(user.password_changed_at),
        "two_factor_enabled_at": _when(user.totp_enabled_at),
        "deactivated_at": _when(user.deactivated_at),
        "roles": sorted(roles),
    }
    return ExportedData(
        records={
            "account": [account],
            "sessions": [
                {
                    "id": str(s.id),
                    "kind": s.kind,
                    "device": s.device,
                    "user_agent": s.user_agent,
                    "ip": s.ip,
                    "created_at": _when(s.created_at),
                    "last_seen_at": _when(s.last_seen_at),
                    "expires_at": _when(s.expires_at),
                    "revoked_at": _when(s.revoked_at),
                }
                for s in sessions
            ],
            "api_refresh_tokens": [
                {
                    "session_id": str(r.session_id),
                    "created_at": _when(r.created_at),
                    "expires_at": _when(r.expires_at),
                    "used_at": _when(r.used_at),
                }
                for r in refresh
            ],
            "recovery_codes": [
                {
                    "total": len(codes),
                    "unused": sum(1 for c in codes if c.used_at is None),
                    "used_at": sorted(_when(c.used_at) for c in codes if c.used_at is not None),
                }
            ]
            if codes
            else [],
            "personal_access_tokens": [
                {
                    "name": t.name,
                    "scopes": t.scopes.split(),
                    "created_at": _when(t.created_at),
                    "expires_at": _when(t.expires_at),
                    "last_used_at": _when(t.last_used_at),
                    "revoked_at": _when(t.revoked_at),
                }
                for t in tokens
            ],
        }
    )


async def erase_account(ctx: Context, subject: ErasureSubject) -> int:
    """Delete the user's sessions (their refresh tokens with them), recovery codes, tokens and
    roles, anonymize the row, and drop the cached principals of the ended sessions."""
    user_id = subject.user_id
    session_ids = (await ctx.session.scalars(select(AuthSession.id).where(AuthSession.user_id == user_id))).all()
    token_hashes = (
        await ctx.session.scalars(select(PersonalAccessToken.token_hash).where(PersonalAccessToken.user_id == user_id))
    ).all()
    if session_ids:
        await ctx.session.execute(delete(RefreshToken).where(RefreshToken.session_id.in_(session_ids)))
    changed = await delete_user_rows(
        ctx, user_id, AuthSession.user_id, RecoveryCode.user_id, PersonalAccessToken.user_id, UserRole.user_id
    )
    user = await ctx.session.get(User, user_id)
    if user is not None and (user.status != UserStatus.erased.value or user.email != erased_address(user_id)):
        address = erased_address(user_id)
        user.email = address
        user.email_key = address
        user.display_name = ERASED_NAME
        user.password_hash = UNUSABLE_PASSWORD
        user.status = UserStatus.erased.value
        user.totp_secret = None
        user.totp_pending = None
        user.totp_enabled_at = None
        user.totp_last_step = None
        user.password_reset_required = False
        changed += 1
    await ctx.session.flush()
    if ctx.runtime is not None and (session_ids or token_hashes):
        runtime = ctx.runtime

        async def forget() -> None:
            # After the commit: a request arriving before it would cache the session again.
            for session_id in session_ids:
                await drop_principal(runtime.backends.cache, session_id, wiring.kit(runtime).local)
            for digest in token_hashes:
                await runtime.backends.cache.delete(pat_cache_key(digest))

        ctx.on_commit(forget)
    return changed


async def export_profile(ctx: Context, user_id: uuid.UUID) -> ExportedData:
    user = await ctx.session.get(User, user_id)
    if user is None:
        return ExportedData(records={})
    files: list[ExportedFile] = []
    avatar = await ctx.session.get(StoredFile, user.avatar_file_id) if user.avatar_file_id else None
    if avatar is not None:
        files.append(ExportedFile(name=f"avatar/{avatar.name}", storage_key=avatar.storage_key))
    profile = {
        "display_name": user.display_name,
        "bio": user.bio,
        "fields": json.loads(user.profile_extra or "{}"),
        "locale": user.locale,
        "timezone": user.timezone,
        "date_format": user.date_format,
        "time_format": user.time_format,
        "theme": user.theme,
        "avatar": f"files/avatar/{avatar.name}" if avatar is not None else None,
    }
    return ExportedData(records={"profile": [profile]}, files=files)


async def erase_profile(ctx: Context, subject: ErasureSubject) -> int:
    """Reset the profile and preferences to their defaults and clear the avatar; its square
    sizes (kept beside the file by accounts) leave storage after the commit, the avatar's file
    row and bytes go with the user's other files (the files eraser)."""
    user = await ctx.session.get(User, subject.user_id)
    if user is None:
        return 0
    avatar_ids = (
        await ctx.session.scalars(
            select(StoredFile.id).where(StoredFile.owner_id == subject.user_id, StoredFile.purpose == "avatar")
        )
    ).all()
    defaults = {
        "bio": "",
        "profile_extra": "{}",
        "locale": "en",
        "timezone": "UTC",
        "date_format": "iso",
        "time_format": "24h",
        "theme": "system",
        "avatar_file_id": None,
    }
    changed = any(getattr(user, name) != value for name, value in defaults.items())
    for name, value in defaults.items():
        setattr(user, name, value)
    await ctx.session.flush()
    if avatar_ids:
        storage = storage_of(ctx)

        async def forget_sizes() -> None:
            for file_id in avatar_ids:
                for size in avatars.SIZES:
                    await storage.delete(avatars.size_key(file_id, size))

        ctx.on_commit(forget_sizes)
    return int(changed)


def register(registry: Registry) -> None:
    registry.add_personal_data(
        PersonalData(
            key="accounts",
            label="Account",
            description=(
                "Your account: email address, display name, status and dates, roles; signed-in "
                "sessions and devices (device name, IP address, user agent, times); API refresh "
                "tokens and personal access tokens (names, scopes, dates; never the token); how many "
                "recovery codes you have and when they were used (never the codes)."
            ),
            legal_basis="Contract (Art. 6(1)(b)): needed to provide and secure your account.",
            retention=(
                "Until you delete your account; ended sessions are deleted after "
                "FASTAPP_PRIVACY_ENDED_SESSION_DAYS, accounts never verified after "
                "FASTAPP_PRIVACY_UNVERIFIED_ACCOUNT_DAYS."
            ),
            tables=(
                "users",
                "user_roles",
                "auth_sessions",
                "refresh_tokens",
                "recovery_codes",
                "personal_access_tokens",
            ),
            export=export_account,
            erase=erase_account,
            erase_order=USER_ROW_ORDER,
        )
    )
    registry.add_personal_data(
        PersonalData(
            key="profile",
            label="Profile",
            description=(
                "What you tell about yourself: bio, the application's profile fields, avatar picture; "
                "and how pages are shown to you: language, timezone, date and time formats, theme."
            ),
            legal_basis="Contract (Art. 6(1)(b)): you provide it to use the service your way.",
            retention="Until you change it or delete your account.",
            tables=("users",),
            export=export_profile,
            erase=erase_profile,
            erase_order=PROFILE_ORDER,
        )
    )
