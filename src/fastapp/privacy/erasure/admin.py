"""``/admin/privacy`` (``privacy:manage``): pending erasures, processing one now, legal holds.

Each change is a POST behind a confirmation step (a page of its own for processing now and for
the hold's reason, ``data-confirm`` for releasing), runs one ``ErasureService`` call in one
transaction (which checks the permission again and audits it), and comes back to the list
(post/redirect/get) with a notice.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from fasthtml.common import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.accounts.web import context_of, csrf_of, runtime_of
from fastapp.platform.errors import Conflict, Invalid, NotFound
from fastapp.privacy.erasure import admin_components as c
from fastapp.privacy.erasure.services import MANAGE, ErasureService, Pending
from fastapp.ui.request import permitted, render_response, viewer_prefs

rt = APIRouter()
PERMISSION = MANAGE
#: Notices after an action (fixed texts: only the key travels in the query string).
DONE = {
    "process": "The erasure was queued: it runs within moments.",
    "hold": "The legal hold is placed: the erasure waits until it is released.",
    "release": "The hold is released: the erasure continues.",
}


def _request_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound("No pending erasure request with that id.") from exc


def _view(pending: Pending) -> c.PendingView:
    request = pending.request
    ident = str(request.id)
    return c.PendingView(
        email=pending.email,
        display_name=pending.display_name,
        requested_at=request.requested_at,
        due_at=request.due_at,
        reminder_sent_at=request.reminder_sent_at,
        hold_reason=request.hold_reason,
        error=request.error,
        process_url=process_erasure.to(request_id=ident),
        hold_url=hold_erasure.to(request_id=ident),
        release_url=release_erasure.to(request_id=ident),
    )


def _done(action: str) -> RedirectResponse:
    return RedirectResponse(f"{privacy_admin.to()}?{urlencode({'done': action})}", status_code=303)


@rt("/admin/privacy", methods=["get"])
async def privacy_admin(request: Request, page: str = "", done: str = "") -> HTMLResponse:
    permitted(request, PERMISSION)
    number = int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1
    async with context_of(request) as ctx:
        found, pages = await ErasureService(runtime_of(request), ctx).pending(page=number)
    prefs, csrf = await viewer_prefs(request), csrf_of(request)
    base = privacy_admin.to()
    table = c.PendingTable(
        [c.PendingRow(_view(p), csrf, prefs) for p in found],
        next_href=f"{base}?page={number + 1}" if number < pages else None,
        previous_href=(f"{base}?page={number - 1}" if number > 2 else base) if number > 1 else None,
    )
    return render_response(request, "Privacy (admin)", c.AdminPage(table, notice=DONE.get(done)))


async def _pending(request: Request, request_id: str) -> Pending:
    async with context_of(request) as ctx:
        return await ErasureService(runtime_of(request), ctx).get_pending(_request_id(request_id))


@rt("/admin/privacy/erasures/{request_id}/process", methods=["get"])
async def process_review(request: Request, request_id: str) -> HTMLResponse:
    """The confirmation step: which account, and that it cannot be undone. Changes nothing."""
    permitted(request, PERMISSION)
    view = _view(await _pending(request, request_id))
    body = c.ProcessConfirm(view, csrf_of(request), privacy_admin.to(), await viewer_prefs(request))
    return render_response(request, "Erase this account now?", body)


@rt("/admin/privacy/erasures/{request_id}/process", methods=["post"])
async def process_erasure(request: Request, request_id: str) -> Response:
    permitted(request, PERMISSION)
    ident = _request_id(request_id)
    try:
        async with context_of(request) as ctx:
            await ErasureService(runtime_of(request), ctx).process_now(ident)
    except Conflict as exc:
        view = _view(await _pending(request, request_id))
        body = c.ProcessConfirm(
            view, csrf_of(request), privacy_admin.to(), await viewer_prefs(request), error=exc.detail
        )
        return render_response(request, "Erase this account now?", body, status=exc.status)
    return _done("process")


@rt("/admin/privacy/erasures/{request_id}/hold", methods=["get"])
async def hold_review(request: Request, request_id: str) -> HTMLResponse:
    """The hold form: its reason is required."""
    permitted(request, PERMISSION)
    view = _view(await _pending(request, request_id))
    body = c.HoldForm(view, csrf_of(request), privacy_admin.to(), await viewer_prefs(request))
    return render_response(request, "Place a legal hold", body)


@rt("/admin/privacy/erasures/{request_id}/hold", methods=["post"])
async def hold_erasure(request: Request, request_id: str, reason: str = "") -> Response:
    permitted(request, PERMISSION)
    ident = _request_id(request_id)
    try:
        async with context_of(request) as ctx:
            await ErasureService(runtime_of(request), ctx).hold(ident, reason)
    except (Invalid, Conflict) as exc:
        view = _view(await _pending(request, request_id))
        body = c.HoldForm(
            view,
            csrf_of(request),
            privacy_admin.to(),
            await viewer_prefs(request),
            value=reason,
            error=exc.fields.get("reason"),
            message=exc.detail,
        )
        return render_response(request, "Place a legal hold", body, status=exc.status)
    return _done("hold")


@rt("/admin/privacy/erasures/{request_id}/release", methods=["post"])
async def release_erasure(request: Request, request_id: str) -> Response:
    """Release a hold (confirmed in the browser with ``data-confirm``); a refusal is an error page."""
    permitted(request, PERMISSION)
    async with context_of(request) as ctx:
        await ErasureService(runtime_of(request), ctx).release(_request_id(request_id))
    return _done("release")
