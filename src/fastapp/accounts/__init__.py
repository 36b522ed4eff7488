"""Accounts: sign-up and sign-in, email verification, passwords, roles and permissions,
sessions and devices, API tokens."""

from __future__ import annotations

from fastapp.accounts import admin, api, pages
from fastapp.accounts.services import sync_built_in_roles
from fastapp.accounts.wiring import listen_for_invalidations
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
    registry.nav_items.append(("Roles", admin.roles_page.to(), "shield", admin.PERMISSION))
    registry.api_routers.extend([api.router, api.me_router, api.roles_router])
    registry.on_startup.append(sync_built_in_roles)
    registry.background.append(listen_for_invalidations)
    registry.sign_in_path = pages.sign_in_page.to()
    registry.user_detail_path = "/admin/users/{user_id}"
    registry.account_links.update(
        sign_in=pages.sign_in_page.to(),
        sign_up=pages.sign_up_page.to(),
        account=pages.security.to(),
        sign_out=pages.sign_out.to(),
    )
    for name, default in RATE_LIMITS.items():
        registry.add_rate_limit(name, default)
