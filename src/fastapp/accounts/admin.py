"""Roles administration (``roles:manage``): every role and what it may do, custom roles, assignment;
and one user's account as an administrator sees it (``users:read``).

The same services as ``/api/v1/roles`` and ``PUT /api/v1/users/{id}/role``, with the same rules:
nobody grants a permission they do not hold, and the last owner stays owner.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from fasthtml.common import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.accounts import admin_components as c
from fastapp.accounts import directory, users_admin, wiring
from fastapp.accounts import users_admin_components as uc
from fastapp.accounts.policy import PERMISSIONS, require
from fastapp.accounts.web import context_of, csrf_of, runtime_of, signed_in
from fastapp.audit import Action, record
from fastapp.audit import queries as audit_queries
from fastapp.audit.components import RecentActivity
from fastapp.platform.context import Principal
from fastapp.platform.errors import DomainError, NotFound
from fastapp.ui.request import render_response

rt = APIRouter()
PERMISSION = "roles:manage"


def _manager(request: Request) -> Principal:
    return require(signed_in(request), PERMISSION)


async def _page(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    create: tuple[dict[str, str], frozenset[str], DomainError | None] = ({}, frozenset(), None),
    assign: tuple[dict[str, str], DomainError | None] = ({}, None),
    status: int = 200,
) -> HTMLResponse:
    runtime = runtime_of(request)
    csrf = csrf_of(request)
    async with context_of(request) as ctx:
        service = wiring.accounts(runtime, ctx)
        roles = await service.list_roles()
        members = await service.role_members()
    names = {role.id: role.name for role, _ in roles}
    views = [
        c.RoleView(
            name=role.name,
            description=role.description,
            parent=names.get(role.parent_id) if role.parent_id else None,
            built_in=role.built_in,
            permissions=tuple(sorted(permissions)),
            members=members.get(role.id, 0),
        )
        for role, permissions in roles
    ]
    role_names = [v.name for v in views]
    create_values, chosen, create_error = create
    assign_values, assign_error = assign
    return render_response(
        request,
        "Roles",
        c.RolesPage(
            notice,
            c.RolesTable(views),
            c.AssignRoleForm(
                assign_role.to(),
                csrf,
                roles=role_names,
                values=assign_values,
                errors=assign_error.fields if assign_error else {},
                message=assign_error.detail if assign_error and not assign_error.fields else None,
            ),
            c.NewRoleForm(
                create_role.to(),
                csrf,
                roles=role_names,
                permissions=PERMISSIONS,
                grantable=principal.permissions,
                values=create_values,
                chosen=chosen,
                errors=create_error.fields if create_error else {},
                message=create_error.detail if create_error and not create_error.fields else None,
            ),
        ),
        status=status,
    )


@rt("/admin/roles", methods=["get"])
async def roles_page(request: Request, created: str = "", assigned: str = "", user: str = "") -> HTMLResponse:
    principal = _manager(request)
    return await _page(request, principal, notice=await _confirmation(request, created, assigned, user))


async def _confirmation(request: Request, created: str, assigned: str, user: str) -> str | None:
    """The notice after a redirect, shown only when it is true (the query string is anyone's)."""
    if not (created or (assigned and user)):
        return None
    async with context_of(request) as ctx:
        service = wiring.accounts(runtime_of(request), ctx)
        if created:
            roles = {role.name for role, _ in await service.list_roles()}
            return f"The role {created} was created." if created in roles else None
        account = await service.find_by_email(user)
        if account is None or assigned not in {r.name for r in account.roles}:
            return None
    return f"{user} now has the role {assigned}, from their next request on."


@rt("/admin/roles", methods=["post"])
async def create_role(request: Request) -> Response:
    principal = _manager(request)
    form = await request.form()
    values = {k: str(form.get(k, "")) for k in ("name", "description", "parent")}
    chosen = frozenset(str(v) for v in form.getlist("permissions"))
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            role = await wiring.accounts(runtime, ctx).create_role(
                name=values["name"],
                description=values["description"],
                parent=values["parent"] or None,
                permissions=set(chosen),
                granter=principal.permissions,
            )
            name = role.name
    except DomainError as exc:
        return await _page(request, principal, create=(values, chosen, exc), status=exc.status)
    # Post/redirect/get: reloading the result does not submit the form again.
    return RedirectResponse(f"{roles_page.to()}?{urlencode({'created': name})}", status_code=303)


@rt("/admin/roles/assign", methods=["post"])
async def assign_role(request: Request, email: str = "", role: str = "") -> Response:
    principal = _manager(request)
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            user = await wiring.accounts(runtime, ctx).set_role_by_email(email, role, granter=principal.permissions)
            who = user.email
    except DomainError as exc:
        return await _page(request, principal, assign=({"email": email, "role": role}, exc), status=exc.status)
    return RedirectResponse(f"{roles_page.to()}?{urlencode({'assigned': role, 'user': who})}", status_code=303)


# -- one user, as an administrator sees it (the user administration of issue #7 builds on it) -----


@rt("/admin/users/{user_id}", methods=["get"])
async def user_page(request: Request, user_id: str, done: str = "") -> HTMLResponse:
    """An account's status, roles, sessions and recent events; opening it is audited."""
    require(signed_in(request), "users:read")
    try:
        ident = uuid.UUID(user_id)
    except ValueError as exc:
        raise NotFound("No such user.") from exc
    runtime = runtime_of(request)
    async with context_of(request) as ctx:
        user = await wiring.accounts(runtime, ctx).get_user(ident)
        sessions = await wiring.sessions(runtime, ctx).active(user.id)
        events = [audit_queries.event_record(e) for e in await audit_queries.for_user(ctx.session, user.id)]
        await record(ctx, Action.ADMIN_USER_VIEWED, target=("user", user.id))
        view = c.UserView(
            email=user.email,
            display_name=user.display_name,
            status=user.status,
            verified=user.email_verified_at is not None,
            two_factor=user.totp_enabled_at is not None,
            created=user.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            roles=tuple(sorted(r.name for r in user.roles)),
        )
    rows = [(s.device, s.ip or "unknown", s.last_seen_at.strftime("%Y-%m-%d %H:%M UTC")) for s in sessions]
    # Issue #7: the confirmation of an action just taken, and the actions (users:manage).
    manage = await users_admin.actions_for(request, ident)
    detail = c.UserDetail(view, rows, RecentActivity(events))
    return render_response(request, user.display_name, uc.Notice(directory.DONE.get(done)), detail, manage)
