"""``/admin/files`` (``files:manage``): every user's files, usage per user with quota overrides,
and the quarantine.

Each view is a URL with its filters in the query string. The quota form posts to
``services.set_quota``, which checks the permission again and audits the change in the same
transaction; the browser comes back to the usage table (PRG) with a notice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fasthtml.common import FT, APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.files import admin_components as c
from fastapp.files import services
from fastapp.files.components import query_url
from fastapp.files.models import FileStatus
from fastapp.files.policy import MANAGE
from fastapp.platform.auth import request_context_args
from fastapp.platform.context import Context, Runtime, open_context
from fastapp.platform.csrf import csrf_token
from fastapp.platform.errors import Invalid
from fastapp.ui.request import permitted, render_response

rt = APIRouter()
PERMISSION = MANAGE
NOTICES = {"quota": "The quota was saved."}
_MB = 1024 * 1024


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _context(request: Request) -> AbstractAsyncContextManager[Context]:
    return open_context(_runtime(request), **request_context_args(request.scope))


def _nav(current: str) -> FT:
    return c.AdminNav(
        current,
        [("All files", files_admin.to()), ("Usage", usage_admin.to()), ("Quarantine", quarantine_admin.to())],
    )


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return None


def _page_number(value: str) -> int:
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1


async def _owners(request: Request, ctx: Context, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, c.Owner]:
    """How the accounts domain names these users (through the registry: files may not import it)."""
    lookup = _runtime(request).registry.recipients
    wanted = list(dict.fromkeys(user_ids))
    if lookup is None or not wanted:
        return {}
    found: dict[Any, Any] = await lookup(ctx, wanted)
    return {key: c.Owner(email=r.email, display_name=r.display_name) for key, r in found.items()}


# -- every file -----------------------------------------------------------------------------------


@rt("/admin/files", methods=["get"])
async def files_admin(request: Request) -> HTMLResponse:
    permitted(request, PERMISSION)
    values = {name: request.query_params.get(name, "")[:120] for name in ("q", "owner", "status", "page")}
    status = values["status"]
    owner_id = _uuid(values["owner"]) if values["owner"] else None
    error = "Enter the owner's user id (from the usage table)." if values["owner"] and owner_id is None else None
    page = _page_number(values["page"])
    async with _context(request) as ctx:
        found = await services.list_files(
            ctx,
            services.FileQuery(
                search=values["q"],
                all_users=True,
                owner_id=owner_id,
                status=FileStatus(status) if status in set(FileStatus) else None,
                deleted=status == "deleted",
                page=page,
            ),
        )
        owners = await _owners(request, ctx, (row.owner_id for row in found.items))
    rows = [c.AdminFileRow(row, owners.get(row.owner_id)) for row in found.items]
    kept = {k: v for k, v in values.items() if k != "page"}
    pager = c.Pager(
        query_url(files_admin.to(), {**kept, "page": str(page + 1)}) if page < found.pages else None,
        query_url(files_admin.to(), kept) if page > 1 else None,
    )
    table = c.FilesTable(rows, pager, searched=any(kept.values()))
    content = c.AdminPage(
        "Every user's files.", _nav("All files"), c.AdminFilterForm(files_admin.to(), values), table, error=error
    )
    return render_response(request, "Files (admin)", content, status=422 if error else 200)


# -- usage and quotas -----------------------------------------------------------------------------


async def _usage(
    request: Request,
    *,
    notice: str | None = None,
    failed: tuple[str, dict[str, str], Invalid] | None = None,
) -> HTMLResponse:
    page = _page_number(request.query_params.get("page", ""))
    async with _context(request) as ctx:
        usages, total = await services.usages(ctx, page=page)
        owners = await _owners(request, ctx, (u.user_id for u in usages))
    csrf = csrf_token(request.scope)
    rows = []
    for usage in usages:
        view = c.UsageView(
            user_id=str(usage.user_id),
            owner=owners.get(usage.user_id),
            bytes=usage.bytes,
            files=usage.files,
            max_bytes=usage.max_bytes,
            max_files=usage.max_files,
            overridden=usage.overridden,
        )
        mine = failed is not None and failed[0] == view.user_id
        rows.append(
            c.UsageRow(
                view,
                save_quota.to(),
                csrf,
                query_url(files_admin.to(), {"owner": view.user_id}),
                values=failed[1] if failed and mine else None,
                errors=(failed[2].fields or {"max_mb": failed[2].detail}) if failed and mine else None,
            )
        )
    pages = max(1, -(-total // services.PAGE_SIZE))
    pager = c.Pager(
        query_url(usage_admin.to(), {"page": str(page + 1)}) if page < pages else None,
        usage_admin.to() if page > 1 else None,
    )
    content = c.AdminPage(
        "Usage and quotas per user.",
        _nav("Usage"),
        c.UsageTable(rows, pager),
        notice=notice,
        error=failed[2].detail if failed else None,
    )
    return render_response(request, "Files (admin): usage", content, status=422 if failed else 200)


@rt("/admin/files/usage", methods=["get"])
async def usage_admin(request: Request, done: str = "") -> HTMLResponse:
    permitted(request, PERMISSION)
    return await _usage(request, notice=NOTICES.get(done))


def _limit(value: str, field: str, scale: int) -> int | None:
    """A limit from the form: blank is None (the role default); else a whole number >= 0."""
    text = value.strip()
    if not text:
        return None
    if not text.isdigit():
        raise Invalid("Limits are whole numbers of 0 or more, or blank.", fields={field: "Enter a whole number."})
    return int(text) * scale


@rt("/admin/files/usage", methods=["post"])
async def save_quota(request: Request) -> Response:
    permitted(request, PERMISSION)
    form = await request.form()
    values = {k: str(form.get(k, ""))[:40] for k in ("user_id", "max_mb", "max_files")}
    user_id = _uuid(values["user_id"])
    try:
        if user_id is None:
            raise Invalid("Choose a user from the table.")
        max_bytes = _limit(values["max_mb"], "max_mb", _MB)
        max_files = _limit(values["max_files"], "max_files", 1)
        async with _context(request) as ctx:
            await services.set_quota(ctx, user_id, max_bytes=max_bytes, max_files=max_files)
    except Invalid as exc:
        return await _usage(request, failed=(values["user_id"], values, exc))
    return RedirectResponse(query_url(usage_admin.to(), {"done": "quota"}), status_code=303)


# -- quarantine -----------------------------------------------------------------------------------


@rt("/admin/files/quarantine", methods=["get"])
async def quarantine_admin(request: Request) -> HTMLResponse:
    permitted(request, PERMISSION)
    async with _context(request) as ctx:
        found = await services.list_files(
            ctx, services.FileQuery(all_users=True, status=FileStatus.infected, per_page=services.MAX_PAGE)
        )
        owners = await _owners(request, ctx, (row.owner_id for row in found.items))
    rows = [c.QuarantineRow(row, owners.get(row.owner_id)) for row in found.items]
    content = c.AdminPage(
        "Uploads a virus scan found a threat in: never served to anyone.",
        _nav("Quarantine"),
        c.QuarantineTable(rows),
    )
    return render_response(request, "Files (admin): quarantine", content)
