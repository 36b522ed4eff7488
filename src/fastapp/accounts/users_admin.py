"""The user list for administrators (``users:read``): ``/admin/users``.

Search, filters and sort live in the query string (a GET form), pages are cut by an opaque cursor;
the same ``directory.list_users`` service answers ``GET /api/v1/admin/users``.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from fasthtml.common import FT, APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.accounts import directory, wiring
from fastapp.accounts import users_admin_components as c
from fastapp.accounts.policy import require
from fastapp.accounts.web import context_of, csrf_of, runtime_of, signed_in
from fastapp.files import services as file_services
from fastapp.files.components import format_bytes
from fastapp.platform.context import Context
from fastapp.platform.errors import DomainError, Invalid, NotFound
from fastapp.ui.request import render_response

rt = APIRouter()
PERMISSION = "users:read"
MANAGE = "users:manage"
#: Confirmations after a bulk action (fixed texts: the key travels in the query string).
BULK_DONE = {
    "deactivate": "The selected users were deactivated.",
    "reactivate": "The selected users were reactivated.",
    "role": "The role was assigned to the selected users.",
}
FILTER_KEYS = ("q", "role", "status", "verified", "two_factor", "created_from", "created_to", "sort")


@rt("/admin/users", methods=["get"])
async def users_page(request: Request) -> HTMLResponse:
    """One page of accounts; a bad filter value is shown inline (422), never a server error."""
    principal = require(signed_in(request), PERMISSION)
    values = {k: str(request.query_params.get(k, "")) for k in FILTER_KEYS}
    cursor = request.query_params.get("cursor", "")
    errors: dict[str, str] = {}
    message: str | None = None
    page = directory.UserPage([], None)
    runtime = runtime_of(request)
    async with context_of(request) as ctx:
        all_roles = await wiring.accounts(runtime, ctx).list_roles()
        roles = [role.name for role, _ in all_roles]
        grantable = [role.name for role, perms in all_roles if perms <= principal.permissions]
        try:
            query = directory.parse_query({**values, "cursor": cursor})
            page = await directory.list_users(ctx, query)
        except Invalid as exc:
            errors, message = exc.fields, exc.detail
    filters = {k: v for k, v in values.items() if v}
    rows = [
        c.UserRow(
            id=str(u.id),
            href=f"/admin/users/{u.id}",
            email=u.email,
            display_name=u.display_name,
            status=u.status,
            verified=u.email_verified_at is not None,
            two_factor=u.totp_enabled_at is not None,
            roles=tuple(sorted(r.name for r in u.roles)),
            created=u.created_at.strftime("%Y-%m-%d"),
        )
        for u in page.users
    ]
    base = users_page.to()
    next_href = f"{base}?{urlencode({**filters, 'cursor': page.next_cursor})}" if page.next_cursor else None
    first_href = (f"{base}?{urlencode(filters)}" if filters else base) if cursor else None
    form = c.UserFilters(base, values, roles=roles, statuses=directory.STATUSES, errors=errors, message=message)
    return render_response(
        request,
        "Users",
        c.UsersPage(
            form,
            rows,
            next_href=next_href,
            first_href=first_href,
            bulk_href=bulk_review.to() if principal.can(MANAGE) else None,
            roles=grantable,
            notice=BULK_DONE.get(str(request.query_params.get("bulk", ""))),
        ),
        status=422 if message else 200,
    )


# -- actions on one account (``users:manage``), from its detail page ------------------------------


def _user_id(user_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(user_id)
    except ValueError as exc:
        raise NotFound("No such user.") from exc


def _done(user_id: uuid.UUID, action: str) -> RedirectResponse:
    # Post/redirect/get: reloading the detail page does not repeat the action.
    return RedirectResponse(f"/admin/users/{user_id}?{urlencode({'done': action})}", status_code=303)


async def _act(request: Request, user_id: str, action: str) -> Response:
    """Run one action in one transaction; a refusal (last owner, yourself, more permissions than
    you...) is a ``DomainError`` the error pages show with its status."""
    require(signed_in(request), MANAGE)
    ident = _user_id(user_id)
    form = await request.form()
    async with context_of(request) as ctx:
        admin = directory.UserAdmin(runtime_of(request), ctx)
        if action == "role":
            await admin.set_role(ident, str(form.get("role", "")))
        elif action == "deactivate":
            await admin.deactivate(ident)
        elif action == "reactivate":
            await admin.reactivate(ident)
        elif action == "end-sessions":
            await admin.end_sessions(ident)
        elif action == "resend-verification":
            await admin.resend_verification(ident)
        elif action == "require-password-reset":
            await admin.require_password_reset(ident)
        else:
            raise NotFound("No such action.")
    return _done(ident, action)


@rt("/admin/users/{user_id}/{action}", methods=["post"])
async def user_action(request: Request, user_id: str, action: str) -> Response:
    return await _act(request, user_id, action)


async def actions_for(request: Request, user_id: uuid.UUID) -> FT | None:
    """The "Manage" card of the detail page, for viewers with ``users:manage`` (None otherwise)."""
    principal = signed_in(request)
    if not principal.can(MANAGE):
        return None
    async with context_of(request) as ctx:
        service = wiring.accounts(runtime_of(request), ctx)
        user = await service.get_user(user_id)
        roles = [role.name for role, perms in await service.list_roles() if perms <= principal.permissions]
        current = sorted(r.name for r in user.roles)
        files = await _file_usage(ctx, user_id) if principal.can("files:manage") else None
    return c.UserActions(
        f"/admin/users/{user_id}",
        csrf_of(request),
        email=user.email,
        status=user.status,
        verified=user.email_verified_at is not None,
        reset_required=user.password_reset_required,
        roles=roles,
        current_role=current[0] if current else "",
        quota_href="/admin/files/usage",
        files=files,
    )


async def _file_usage(ctx: Context, user_id: uuid.UUID) -> str:
    """The user's file usage against their quota, in words (the quota is set on /admin/files/usage)."""
    usage = await file_services.usage(ctx, user_id)
    limit = format_bytes(usage.max_bytes) if usage.max_bytes is not None else "unlimited"
    files = str(usage.max_files) if usage.max_files is not None else "unlimited"
    own = " (set by an administrator)" if usage.overridden else ""
    return f"Files: {format_bytes(usage.bytes)} of {limit}, {usage.files} of {files} files{own}."


# -- bulk actions on a selection from the list -----------------------------------------------------


async def _review(request: Request, ids: list[str], action: str, role: str, error: str | None, status: int) -> Response:
    if action not in directory.BULK_ACTIONS:
        raise Invalid("Choose an action.")
    parsed = directory.parse_ids(ids)
    async with context_of(request) as ctx:
        users = [(str(u.id), u.display_name, u.email) for u in await directory.users_by_id(ctx, parsed)]
    if not users:
        raise NotFound("None of the selected users exists.")
    page = c.BulkReview(
        bulk_apply.to(), users_page.to(), csrf_of(request), action=action, role=role, users=users, error=error
    )
    return render_response(request, "Review selection", page, status=status)


@rt("/admin/users-bulk", methods=["get"])
async def bulk_review(request: Request, action: str = "", role: str = "") -> Response:
    """The confirmation step of a bulk action: lists the selected users; changes nothing."""
    require(signed_in(request), MANAGE)
    return await _review(request, [str(v) for v in request.query_params.getlist("ids")], action, role, None, 200)


@rt("/admin/users-bulk", methods=["post"])
async def bulk_apply(request: Request) -> Response:
    """Apply the confirmed bulk action in one transaction (all or nothing), audited per user."""
    require(signed_in(request), MANAGE)
    form = await request.form()
    ids = [str(v) for v in form.getlist("ids")]
    action, role = str(form.get("action", "")), str(form.get("role", ""))
    try:
        async with context_of(request) as ctx:
            await directory.bulk(directory.UserAdmin(runtime_of(request), ctx), directory.parse_ids(ids), action, role)
    except DomainError as exc:
        if action not in directory.BULK_ACTIONS or not ids:
            raise
        return await _review(request, ids, action, role, exc.detail, exc.status)
    return RedirectResponse(f"{users_page.to()}?{urlencode({'bulk': action})}", status_code=303)
