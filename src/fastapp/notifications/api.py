"""``/api/v1/me/notifications`` and ``/api/v1/me/notification-preferences``: the signed-in
user's own inbox and preferences (the same services as the pages)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from fastapp.api.deps import ContextDep, VerifiedPrincipalDep
from fastapp.notifications import services
from fastapp.notifications.schemas import (
    NotificationOut,
    NotificationPageOut,
    PreferenceOut,
    PreferencesPatch,
    ReadAllOut,
    UnreadOut,
)

router = APIRouter(prefix="/me", tags=["notifications"])


@router.get("/notifications", response_model=NotificationPageOut)
async def list_notifications(
    _principal: VerifiedPrincipalDep,
    ctx: ContextDep,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=services.MAX_PAGE)] = services.PAGE_SIZE,
    unread: Annotated[bool, Query(description="only unread notifications")] = False,
    category: Annotated[str | None, Query(max_length=64)] = None,
    archived: Annotated[services.Archived, Query(description="exclude, include or only")] = services.Archived.exclude,
) -> NotificationPageOut:
    """Your notifications, newest first; page on with ``cursor=next_cursor``."""
    page = await services.inbox(
        ctx,
        services.InboxFilter(unread_only=unread, category=category or None, archived=archived),
        cursor=cursor,
        limit=limit,
    )
    return NotificationPageOut(
        items=[NotificationOut.of(row) for row in page.items],
        next_cursor=page.next_cursor,
        unread_count=await services.unread_count(ctx),
    )


@router.get("/notifications/unread-count", response_model=UnreadOut)
async def unread_count(_principal: VerifiedPrincipalDep, ctx: ContextDep) -> UnreadOut:
    return UnreadOut(unread_count=await services.unread_count(ctx))


@router.post("/notifications/read-all", response_model=ReadAllOut)
async def read_all(
    _principal: VerifiedPrincipalDep,
    ctx: ContextDep,
    category: Annotated[str | None, Query(max_length=64, description="only this category")] = None,
) -> ReadAllOut:
    updated = await services.mark_all_read(ctx, category=category or None)
    return ReadAllOut(updated=updated, unread_count=await services.unread_count(ctx))


@router.post("/notifications/{notification_id}/read", response_model=NotificationOut)
async def read(notification_id: uuid.UUID, _principal: VerifiedPrincipalDep, ctx: ContextDep) -> NotificationOut:
    return NotificationOut.of(await services.mark_read(ctx, notification_id))


@router.post("/notifications/{notification_id}/archive", response_model=NotificationOut)
async def archive(notification_id: uuid.UUID, _principal: VerifiedPrincipalDep, ctx: ContextDep) -> NotificationOut:
    return NotificationOut.of(await services.archive(ctx, notification_id))


@router.post("/notifications/{notification_id}/unarchive", response_model=NotificationOut)
async def unarchive(notification_id: uuid.UUID, _principal: VerifiedPrincipalDep, ctx: ContextDep) -> NotificationOut:
    return NotificationOut.of(await services.unarchive(ctx, notification_id))


@router.get("/notification-preferences", response_model=list[PreferenceOut])
async def get_preferences(principal: VerifiedPrincipalDep, ctx: ContextDep) -> list[PreferenceOut]:
    """Every category with your choice for it (or its default)."""
    return [PreferenceOut.of(p) for p in await services.preferences(ctx, principal.user_id)]


@router.patch("/notification-preferences", response_model=list[PreferenceOut])
async def patch_preferences(
    body: PreferencesPatch, principal: VerifiedPrincipalDep, ctx: ContextDep
) -> list[PreferenceOut]:
    """Change some categories, e.g. ``{"account": {"email": false}}``. Mandatory categories
    cannot be changed, and urgent ones cannot be held for the daily digest (422)."""
    changes = {
        key: services.PreferenceChange(in_app=value.in_app, email=value.email, email_frequency=value.email_frequency)
        for key, value in body.root.items()
    }
    return [PreferenceOut.of(p) for p in await services.update_preferences(ctx, principal.user_id, changes)]
