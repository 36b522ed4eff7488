"""Privacy: consent.

The purposes a person can grant or withdraw (applications add theirs with
``registry.add_consent_purpose``), the cookie banner on every page, consent records for users and
visitors, ``has_consent`` for features and ``registry.consent_check`` for marketing mail, and the
consent section of /privacy. See ``services`` for the rules and ``web`` for the cookies.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete

from fastapp.config import Config
from fastapp.platform.context import Context
from fastapp.platform.privacy import ConsentPurpose, RetentionRule, SignUpHook
from fastapp.platform.registry import Registry
from fastapp.privacy.models import ConsentRecord

NECESSARY = ConsentPurpose(
    key="necessary",
    label="Strictly necessary",
    description=(
        "Signing in, keeping your session and forms secure, remembering the theme you pick and "
        "this very choice. The site cannot work without them."
    ),
    necessary=True,
)
BUILT_IN = (
    NECESSARY,
    ConsentPurpose(
        key="preferences",
        label="Preferences",
        description="Remembering choices that make the site work the way you like, beyond what you set yourself.",
    ),
    ConsentPurpose(
        key="analytics",
        label="Analytics",
        description="Counting visits and measuring how the site is used, so that we can improve it.",
    ),
    ConsentPurpose(
        key="marketing",
        label="Marketing",
        description="News, offers and product updates by email.",
    ),
)


async def merge_at_sign_up(ctx: Context, user_id: uuid.UUID, answers: Mapping[str, Any]) -> None:
    """The sign-up hook: the browser's visitor decisions become the new account's."""
    from fastapp.privacy.consent.services import merge_visitor

    visitor = answers.get("visitor_id")
    if isinstance(visitor, str) and visitor:
        await merge_visitor(ctx, visitor, user_id)


async def purge_visitor_records(ctx: Context, cutoff: datetime) -> int:
    """The ``visitor_consent`` retention rule: records of visitors who never signed up, older
    than the cutoff (their cookies have expired by then, so nothing can merge them any more)."""
    result = await ctx.session.execute(
        delete(ConsentRecord).where(ConsentRecord.user_id.is_(None), ConsentRecord.created_at < cutoff)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _visitor_consent_days(config: Config) -> int:
    return config.privacy.visitor_consent_days


async def check(ctx: Any, user_id: Any, purpose: str) -> bool:
    """``registry.consent_check`` (used by notifications for marketing mail)."""
    from fastapp.privacy.consent.services import user_has_consent

    return await user_has_consent(ctx, user_id, purpose)


def register(registry: Registry) -> None:
    """Routes, jobs and hooks of this part of the privacy domain."""
    from fastapp.privacy.consent import api, pages

    for purpose in BUILT_IN:
        registry.add_consent_purpose(purpose)
    registry.consent_check = check
    registry.sign_up_hooks.append(SignUpHook(created=merge_at_sign_up))
    registry.add_retention_rule(
        RetentionRule(
            key="visitor_consent",
            label="Consent records of visitors who never signed up",
            days=_visitor_consent_days,
            purge=purge_visitor_records,
            setting="FASTAPP_PRIVACY_VISITOR_CONSENT_DAYS",
        )
    )
    registry.page_notices.append(pages.banner_notice)
    registry.page_routers.append(pages.rt)
    registry.api_routers.append(api.router)
