"""Privacy: erasure (the right to be forgotten) with a grace period, cancelling at sign-in,
reminders, legal holds, and the job that runs every registered eraser."""

from __future__ import annotations

from fastapp.platform.registry import Registry


def register(registry: Registry) -> None:
    """Pages (the privacy page's section, the cancel offer's target, ``/admin/privacy``), the
    API, the sweep and run jobs and the sweep's schedule."""
    from fastapp.privacy.erasure import admin, api, pages, services, tasks

    registry.page_routers.extend([pages.rt, admin.rt])
    registry.api_routers.extend([api.router, api.admin_router])
    registry.nav_items.append(("Privacy (admin)", admin.privacy_admin.to(), "shield-alert", admin.PERMISSION))
    registry.cancel_erasure_path = pages.cancel_erasure.to()
    registry.add_job(services.SWEEP_JOB, tasks.sweep)
    registry.add_job(services.RUN_JOB, tasks.run)
    registry.schedules.append(tasks.SWEEP_SCHEDULE)
