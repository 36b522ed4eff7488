"""Notifications: in-app inbox and email notifications with per-category preferences, and the
email service every domain sends through (templates, delivery tracking, bounces, suppressions).

Domains declare categories and kinds (``kinds.py``) in their ``register()`` and call
``notify(ctx, users, kind, data)``; transactional mails (sign-in links, security notices) go
through ``queue_email`` directly.
"""

from __future__ import annotations

from fastapp.notifications.delivery import queue_email, record_event
from fastapp.notifications.kinds import Category, Channel, Frequency, NotificationKind, Recipient
from fastapp.notifications.services import notify
from fastapp.platform.registry import Registry

__all__ = [
    "Category",
    "Channel",
    "Frequency",
    "NotificationKind",
    "Recipient",
    "notify",
    "queue_email",
    "record_event",
    "register",
]


def register(registry: Registry) -> None:
    """Routes, jobs, queues and schedules of notifications and the email service."""
    from fastapp.notifications import personal_data

    _register_email_admin(registry)
    _register_email_sending(registry)
    _register_inbox(registry)
    personal_data.register(registry)


def _register_email_admin(registry: Registry) -> None:
    """Provider webhooks (bounces, complaints, deliveries), their job, and ``/admin/email``."""
    from fastapp.notifications import admin, webhooks

    registry.add_job(webhooks.FEEDBACK_JOB, webhooks.apply_feedback)
    registry.page_routers.append(webhooks.rt)
    # csrf_exempt: providers' servers post these with no session; SNS messages are verified by
    # their signature and Postmark's by HTTP Basic credentials instead (webhooks.py).
    registry.csrf_exempt.update({webhooks.ses_webhook.to(), webhooks.postmark_webhook.to()})
    registry.page_routers.append(admin.rt)
    registry.nav_items.append(("Email", admin.email_page.to(), "mail", admin.PERMISSION))


def _register_email_sending(registry: Registry) -> None:
    """The ``email.send`` job and the endpoints mail links point at (tracking, unsubscribe)."""
    from fastapp.notifications import email, tracking_pages
    from fastapp.notifications.delivery import EMAIL_QUEUE, SEND_JOB

    registry.add_queue(EMAIL_QUEUE)
    registry.add_job(SEND_JOB, email.send_email)
    registry.page_routers.append(tracking_pages.rt)
    # csrf_exempt: mail clients post one-click unsubscribes themselves; the signed token in the
    # URL authorises them instead (tracking_pages.py).
    registry.csrf_exempt.update(tracking_pages.CSRF_EXEMPT)


def _register_inbox(registry: Registry) -> None:
    """The inbox and preferences (pages and API), the header bell, live updates, the digest."""
    from fastapp.notifications import api, live, pages, tasks

    registry.page_routers.append(pages.rt)
    registry.api_routers.append(api.router)
    registry.header_widgets.append(pages.bell_widget)
    registry.background.append(live.watch_for_shutdown)
    registry.add_job(tasks.DIGEST_JOB, tasks.fan_out_digests)
    registry.add_job(tasks.USER_DIGEST_JOB, tasks.send_user_digest)
    registry.schedules.append(tasks.DIGEST_SCHEDULE)
