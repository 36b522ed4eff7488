"""Accounts: sign-up and sign-in, email verification, passwords, roles and permissions,
sessions and devices, API tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select

from fastapp.accounts import (
    admin,
    admin_api,
    api,
    directory,
    pages,
    personal_data,
    profile_api,
    profile_pages,
    retention,
    users_admin,
)
from fastapp.accounts.models import Role, User, UserRole, UserStatus
from fastapp.accounts.profile import display_preferences
from fastapp.accounts.services import PASSWORD_CHANGED_NOTICE, ROLE_GRANTED, sync_built_in_roles
from fastapp.accounts.wiring import listen_for_invalidations
from fastapp.notifications import Category, Channel, NotificationKind, Recipient
from fastapp.platform.context import Context
from fastapp.platform.registry import Registry

RATE_LIMITS = {
    "login.ip": "20 per minute; 100 per hour",
    "login.account": "10 per minute; 50 per hour",
    "signup.ip": "10 per hour",
    "mail.address": "3 per 10 minutes; 10 per day",
    "mail.ip": "10 per 10 minutes",
    "token.ip": "30 per minute",
    "mfa.account": "5 per minute; 30 per hour",
}


def register(registry: Registry) -> None:
    registry.page_routers.extend([pages.rt, admin.rt])
    registry.page_routers.append(users_admin.rt)
    registry.page_routers.append(profile_pages.rt)
    registry.nav_items.append(("Users", users_admin.users_page.to(), "users", users_admin.PERMISSION))
    registry.nav_items.append(("Roles", admin.roles_page.to(), "shield", admin.PERMISSION))
    registry.api_routers.extend([api.router, api.me_router, api.roles_router])
    registry.api_routers.append(admin_api.router)
    registry.api_routers.append(profile_api.router)
    registry.display_preferences = display_preferences
    registry.on_startup.append(sync_built_in_roles)
    registry.background.append(listen_for_invalidations)
    registry.sign_in_path = pages.sign_in_page.to()
    registry.user_detail_path = "/admin/users/{user_id}"
    registry.account_links.update(
        sign_in=pages.sign_in_page.to(),
        sign_up=pages.sign_up_page.to(),
        account=pages.security.to(),
        profile=profile_pages.profile_page.to(),
        avatar="/avatars/{user_id}/64",
        sign_out=pages.sign_out.to(),
    )
    for name, default in RATE_LIMITS.items():
        registry.add_rate_limit(name, default)
    _register_notifications(registry)
    personal_data.register(registry)
    retention.register(registry)


def _register_notifications(registry: Registry) -> None:
    """The notification categories and kinds of this domain, and who their recipients are."""
    registry.recipients = notification_recipients
    registry.user_roles = user_roles
    registry.add_notification_category(
        Category(
            key="security",
            label="Security",
            description="Sign-ins, password and two-factor changes.",
            mandatory=True,
            urgent=True,
        )
    )
    registry.add_notification_category(
        Category(key="account", label="Your account", description="Roles and access changes.")
    )
    registry.add_notification_kind(
        NotificationKind(
            key=ROLE_GRANTED,
            category="account",
            title="You now have the {role} role",
            body="{by} gave you the {role} role. It applies from your next page.",
            link=pages.security.to(),
            sample={"role": "admin", "by": "Ada Lovelace"},
        )
    )
    registry.add_notification_kind(
        NotificationKind(
            key=PASSWORD_CHANGED_NOTICE,
            category="security",
            title="Your password was changed",
            body="If this was not you, reset your password now and end your other sessions.",
            link=pages.security.to(),
            # The security mail about it is sent by the accounts domain itself (password_changed).
            channels=frozenset({Channel.in_app}),
        )
    )
    for kind in directory.notification_kinds(pages.security.to()):  # what administrators' actions send
        registry.add_notification_kind(kind)


async def user_roles(ctx: Context, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    """``registry.user_roles``: the names of the roles each of ``user_ids`` holds directly."""
    rows = await ctx.session.execute(
        select(UserRole.user_id, Role.name)
        .join(Role, Role.id == UserRole.role_id)
        .where(UserRole.user_id.in_(list(user_ids)))
    )
    found: dict[uuid.UUID, set[str]] = {}
    for user_id, name in rows.all():
        found.setdefault(user_id, set()).add(name)
    return found


async def notification_recipients(ctx: Context, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Recipient]:
    """``registry.recipients``: every existing user among ``user_ids`` with their address and
    name; only active accounts with a confirmed address receive anything."""
    rows = await ctx.session.execute(
        select(User.id, User.email, User.display_name, User.status, User.email_verified_at).where(
            User.id.in_(list(user_ids))
        )
    )
    return {
        ident: Recipient(ident, email, name, active=status == UserStatus.active.value and verified_at is not None)
        for ident, email, name, status, verified_at in rows.all()
    }
