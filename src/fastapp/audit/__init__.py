"""Audit log: a tamper-evident record of authentication, administration and sensitive access.

Domains call ``record(ctx, Action..., ...)`` inside the transaction of the change they describe.
"""

from __future__ import annotations

from fastapp.audit.actions import Action
from fastapp.audit.services import Actor, record
from fastapp.platform.registry import Registry

__all__ = ["Action", "Actor", "record", "register"]


def register(registry: Registry) -> None:
    from fastapp.audit import api, pages

    registry.api_routers.append(api.router)
    registry.page_routers.append(pages.rt)
    registry.nav_items.append(("Audit log", pages.audit_page.to(), "scroll-text", pages.PERMISSION))
