"""Notifications: in-app inbox and email notifications with per-category preferences, and the
email service every domain sends through (templates, delivery tracking, bounces, suppressions).

Domains declare categories and kinds (``kinds.py``) in their ``register()`` and call
``notify(ctx, users, kind, data)``; transactional mails (sign-in links, security notices) go
through ``queue_email`` directly.
"""

from __future__ import annotations

from fastapp.notifications.delivery import queue_email, record_event
from fastapp.notifications.kinds import Category, Channel, Frequency, NotificationKind, Recipient
from fastapp.platform.registry import Registry

__all__ = [
    "Category",
    "Channel",
    "Frequency",
    "NotificationKind",
    "Recipient",
    "queue_email",
    "record_event",
    "register",
]


def register(registry: Registry) -> None:
    """Routes, jobs and schedules of notifications and the email service (filled in by parts)."""
