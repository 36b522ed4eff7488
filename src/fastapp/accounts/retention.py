"""Accounts' retention rules, run by the privacy domain's daily retention job.

- ``unverified_accounts``: sign-ups whose address was never confirmed, created before the
  cutoff, are deleted. Their rows in other tables go by foreign-key cascade (sessions, roles,
  inbox, files rows); stored file objects are deleted through the files eraser after the commit.
  Mail and audit records naming them keep their own retention.
- ``ended_sessions``: sessions (devices, with IP and user agent) revoked or expired before the
  cutoff are deleted, with their refresh tokens (cascade).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select

from fastapp.accounts.models import AuthSession, User, UserStatus
from fastapp.config import Config
from fastapp.files.personal_data import erase_files
from fastapp.platform.context import Context
from fastapp.platform.privacy import ErasureSubject, RetentionRule
from fastapp.platform.registry import Registry


async def purge_unverified_accounts(ctx: Context, cutoff: datetime) -> int:
    stale = (
        await ctx.session.execute(
            select(User.id, User.email, User.display_name).where(
                User.status == UserStatus.pending.value,
                User.email_verified_at.is_(None),
                User.created_at < cutoff,
            )
        )
    ).all()
    for user_id, email, name in stale:
        await erase_files(ctx, ErasureSubject(user_id=user_id, email=email, display_name=name))
    if not stale:
        return 0
    result = await ctx.session.execute(delete(User).where(User.id.in_([row[0] for row in stale])))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def purge_ended_sessions(ctx: Context, cutoff: datetime) -> int:
    result = await ctx.session.execute(
        delete(AuthSession).where(or_(AuthSession.revoked_at < cutoff, AuthSession.expires_at < cutoff))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _unverified_days(config: Config) -> int:
    return config.privacy.unverified_account_days


def _ended_session_days(config: Config) -> int:
    return config.privacy.ended_session_days


def register(registry: Registry) -> None:
    registry.add_retention_rule(
        RetentionRule(
            key="unverified_accounts",
            label="Accounts never verified",
            days=_unverified_days,
            purge=purge_unverified_accounts,
            setting="FASTAPP_PRIVACY_UNVERIFIED_ACCOUNT_DAYS",
        )
    )
    registry.add_retention_rule(
        RetentionRule(
            key="ended_sessions",
            label="Ended and expired sessions",
            days=_ended_session_days,
            purge=purge_ended_sessions,
            setting="FASTAPP_PRIVACY_ENDED_SESSION_DAYS",
        )
    )
