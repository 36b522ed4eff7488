"""Privacy: data exports (right of access and portability).

A user asks for a copy of their data (pages and API, after re-authentication); the
``privacy.export`` job builds a ZIP from every registered source of personal data, stores it,
and tells the user; they download it for ``FASTAPP_PRIVACY_EXPORT_LINK_DAYS`` days, after which
the ``exports`` retention rule deletes it.
"""

from __future__ import annotations

from fastapp.platform.registry import Registry


def register(registry: Registry) -> None:
    """The export pages and API, the job, the ready notification and the retention rule."""
    from fastapp.notifications import NotificationKind
    from fastapp.platform.privacy import RetentionRule
    from fastapp.privacy import CATEGORY
    from fastapp.privacy.exports import api, pages, services, tasks

    registry.page_routers.append(pages.rt)
    registry.api_routers.append(api.router)
    registry.add_job(services.EXPORT_JOB, tasks.build)
    registry.add_notification_kind(
        NotificationKind(
            key=services.READY_KIND,
            category=CATEGORY,
            title="Your data export is ready",
            body="You can download it until {expires}.",
            link=pages.export_link(),
            email_template="privacy_export_ready",
            sample={"expires": "2026-11-27 09:30 UTC"},
        )
    )
    registry.add_retention_rule(
        RetentionRule(
            key="exports",
            label="Data exports",
            days=lambda config: config.privacy.export_link_days,
            purge=services.purge_expired,
            setting="FASTAPP_PRIVACY_EXPORT_LINK_DAYS",
        )
    )
