"""Audit log: a tamper-evident record of authentication, administration and sensitive access.

Domains call ``record(ctx, Action..., ...)`` inside the transaction of the change they describe.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapp.audit.actions import Action
from fastapp.audit.services import Actor, purge, record
from fastapp.platform.context import Context, Runtime
from fastapp.platform.registry import Registry

PURGE_JOB = "audit.purge"


async def purge_past_retention(runtime: Runtime, ctx: Context, _payload: dict[str, Any]) -> None:
    """The ``audit.purge`` job: events older than FASTAPP_AUDIT_RETENTION_DAYS go (the daily run is
    the ``audit`` rule of the privacy retention job; this job is for running it on demand)."""
    await purge(ctx, before=ctx.clock.now() - timedelta(days=runtime.config.audit.retention_days))


__all__ = ["PURGE_JOB", "Action", "Actor", "purge_past_retention", "record", "register"]


def register(registry: Registry) -> None:
    from fastapp.audit import api, pages, personal_data

    # Scheduled as the ``audit`` rule of the privacy domain's daily retention job (personal_data.py).
    registry.add_job(PURGE_JOB, purge_past_retention)
    personal_data.register(registry)
    registry.api_routers.append(api.router)
    registry.page_routers.append(pages.rt)
    registry.nav_items.append(("Audit log", pages.audit_page.to(), "scroll-text", pages.PERMISSION))
