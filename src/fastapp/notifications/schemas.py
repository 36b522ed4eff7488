"""API input and output models of the notification inbox and preferences."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, RootModel

from fastapp.notifications.kinds import Frequency
from fastapp.notifications.models import Notification
from fastapp.notifications.services import CategoryPreference


class NotificationOut(BaseModel):
    id: uuid.UUID
    kind: str
    category: str
    title: str
    body: str
    #: A path on this site the notification is about, or null.
    link: str | None
    created_at: datetime
    read: bool
    read_at: datetime | None
    archived_at: datetime | None

    @classmethod
    def of(cls, row: Notification) -> NotificationOut:
        return cls(
            id=row.id,
            kind=row.kind,
            category=row.category,
            title=row.title,
            body=row.body,
            link=row.link,
            created_at=row.created_at,
            read=row.read_at is not None,
            read_at=row.read_at,
            archived_at=row.archived_at,
        )


class NotificationPageOut(BaseModel):
    items: list[NotificationOut]
    #: Pass as ``cursor`` for the next (older) page; null on the last page.
    next_cursor: str | None
    #: Unread notifications in the whole inbox (not only this page).
    unread_count: int


class UnreadOut(BaseModel):
    unread_count: int


class ReadAllOut(BaseModel):
    #: How many notifications were marked read.
    updated: int
    unread_count: int


class PreferenceOut(BaseModel):
    category: str
    label: str
    description: str
    #: Cannot be changed (security notices): always delivered on its default channels.
    mandatory: bool
    #: Mailed at once, never held for the daily digest.
    urgent: bool
    in_app: bool
    email: bool
    email_frequency: Frequency

    @classmethod
    def of(cls, preference: CategoryPreference) -> PreferenceOut:
        category = preference.category
        return cls(
            category=category.key,
            label=category.label,
            description=category.description,
            mandatory=category.mandatory,
            urgent=category.urgent,
            in_app=preference.in_app,
            email=preference.email,
            email_frequency=preference.email_frequency,
        )


class PreferenceIn(BaseModel):
    """What to change for one category; an omitted field keeps its value."""

    model_config = ConfigDict(extra="forbid")

    in_app: bool | None = None
    email: bool | None = None
    email_frequency: Frequency | None = Field(None, description="immediately, or daily (a digest)")


class PreferencesPatch(RootModel[dict[str, PreferenceIn]]):
    """Category key -> the changes for it, e.g. ``{"account": {"email": false}}``."""
