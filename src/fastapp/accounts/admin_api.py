"""``/api/v1/admin/users``: the user directory for administrators, the same service as ``/admin/users``.

Responses are explicit models listing public fields only: never a password hash, TOTP secret or
anything else private about the account.

This module does not use ``fastapp.api.deps``: import-linter allows that import only from modules
named ``api`` (``fastapp.*.api``). It opens its transaction with ``fastapp.ui.request.context_of``
and reads the principal from the scope, with the same checks as ``VerifiedPrincipalDep``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from fastapp.accounts import directory, wiring
from fastapp.accounts.models import User
from fastapp.accounts.policy import require
from fastapp.platform.auth import principal_of
from fastapp.platform.context import Principal
from fastapp.platform.errors import PermissionDenied, Unauthenticated
from fastapp.ui.request import context_of, runtime_of

router = APIRouter(prefix="/admin/users", tags=["admin: users"])


class AdminUserOut(BaseModel):
    id: uuid.UUID
    email: str
    display_name: str
    status: str
    email_verified: bool
    two_factor: bool
    password_reset_required: bool
    roles: list[str]
    created_at: datetime
    deactivated_at: datetime | None


class AdminUserPageOut(BaseModel):
    items: list[AdminUserOut]
    next_cursor: str | None


def verified_principal(request: Request) -> Principal:
    """The caller, who must be signed in with a verified address (as ``VerifiedPrincipalDep``)."""
    principal = principal_of(request.scope)
    if principal is None:
        raise Unauthenticated("Send a valid access token: Authorization: Bearer <token>.")
    if not principal.verified:
        raise PermissionDenied("Verify your email address first: open the link we mailed you.")
    return principal


def user_out(user: User) -> AdminUserOut:
    return AdminUserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        status=user.status,
        email_verified=user.email_verified_at is not None,
        two_factor=user.totp_enabled_at is not None,
        password_reset_required=user.password_reset_required,
        roles=sorted(r.name for r in user.roles),
        created_at=user.created_at,
        deactivated_at=user.deactivated_at,
    )


@router.get("", response_model=AdminUserPageOut)
async def list_users(
    request: Request,
    q: Annotated[str, Query(max_length=320, description="part of an email address or display name")] = "",
    role: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(description=" | ".join(directory.STATUSES))] = "",
    verified: Annotated[str, Query(pattern="^(|yes|no|true|false)$")] = "",
    two_factor: Annotated[str, Query(pattern="^(|yes|no|true|false)$")] = "",
    created_from: Annotated[str, Query(description="YYYY-MM-DD, UTC, included")] = "",
    created_to: Annotated[str, Query(description="YYYY-MM-DD, UTC, included")] = "",
    sort: Annotated[str, Query(description="created (newest first) | email | name")] = "created",
    limit: Annotated[int, Query(ge=1, le=directory.MAX_LIMIT)] = directory.DEFAULT_LIMIT,
    cursor: Annotated[str, Query(max_length=1000, description="next_cursor of the previous page")] = "",
) -> AdminUserPageOut:
    """Accounts matching every given filter; page on with ``cursor=next_cursor`` (same filters)."""
    require(verified_principal(request), "users:read")
    values = {
        "q": q,
        "role": role,
        "status": status,
        "verified": verified,
        "two_factor": two_factor,
        "created_from": created_from,
        "created_to": created_to,
        "sort": sort,
        "cursor": cursor,
    }
    query = directory.parse_query(values, limit=limit)
    async with context_of(request) as ctx:
        page = await directory.list_users(ctx, query)
        items = [user_out(u) for u in page.users]
    return AdminUserPageOut(items=items, next_cursor=page.next_cursor)


class RoleChangeIn(BaseModel):
    role: str


class ActionOut(BaseModel):
    detail: str
    user: AdminUserOut


async def _act(request: Request, user_id: uuid.UUID, action: str, role: str = "") -> ActionOut:
    """One action in one transaction, with the rules of ``directory.UserAdmin``."""
    require(verified_principal(request), "users:manage")
    async with context_of(request) as ctx:
        admin = directory.UserAdmin(runtime_of(request), ctx)
        if action == "role":
            user = await admin.set_role(user_id, role)
        elif action == "deactivate":
            user = await admin.deactivate(user_id)
        elif action == "reactivate":
            user = await admin.reactivate(user_id)
        elif action == "end-sessions":
            await admin.end_sessions(user_id)
            user = await admin.target(user_id)
        elif action == "resend-verification":
            user = await admin.resend_verification(user_id)
        else:
            user = await admin.require_password_reset(user_id)
        out = user_out(user)
    return ActionOut(detail=directory.DONE[action], user=out)


@router.get("/{user_id}", response_model=AdminUserOut)
async def get_user(request: Request, user_id: uuid.UUID) -> AdminUserOut:
    require(verified_principal(request), "users:read")
    async with context_of(request) as ctx:
        return user_out(await wiring.accounts(runtime_of(request), ctx).get_user(user_id))


@router.put("/{user_id}/role", response_model=ActionOut)
async def change_role(request: Request, user_id: uuid.UUID, body: RoleChangeIn) -> ActionOut:
    """Exactly one role; you may grant only what you hold, and the last owner stays owner."""
    return await _act(request, user_id, "role", body.role)


@router.post("/{user_id}/deactivate", response_model=ActionOut)
async def deactivate(request: Request, user_id: uuid.UUID) -> ActionOut:
    """Deactivate and end every session (not yourself, not the last owner)."""
    return await _act(request, user_id, "deactivate")


@router.post("/{user_id}/reactivate", response_model=ActionOut)
async def reactivate(request: Request, user_id: uuid.UUID) -> ActionOut:
    return await _act(request, user_id, "reactivate")


@router.post("/{user_id}/end-sessions", response_model=ActionOut)
async def end_sessions(request: Request, user_id: uuid.UUID) -> ActionOut:
    return await _act(request, user_id, "end-sessions")


@router.post("/{user_id}/resend-verification", response_model=ActionOut)
async def resend_verification(request: Request, user_id: uuid.UUID) -> ActionOut:
    return await _act(request, user_id, "resend-verification")


@router.post("/{user_id}/require-password-reset", response_model=ActionOut)
async def require_password_reset(request: Request, user_id: uuid.UUID) -> ActionOut:
    return await _act(request, user_id, "require-password-reset")
