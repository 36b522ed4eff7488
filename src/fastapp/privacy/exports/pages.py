"""Privacy exports: the section of the /privacy page, the request form, the panel the page
polls while an export is prepared, and the download.

Requesting needs a recent sign-in: an older one goes through the password confirmation first
(as every sensitive action of the accounts pages does) and comes back to the section. The form
posts with HTMX (the panel replaces itself, errors inline) and works as a plain form without it.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fasthtml.common import FT, APIRouter, to_xml
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.accounts import pages as account_pages
from fastapp.accounts import wiring
from fastapp.accounts.policy import require_recent_authentication
from fastapp.accounts.web import context_of, csrf_of, runtime_of, signed_in
from fastapp.platform.context import Context, Principal
from fastapp.platform.errors import Conflict, NotFound, RateLimited, ReauthenticationRequired
from fastapp.platform.htmx import is_htmx
from fastapp.privacy.exports import components as c
from fastapp.privacy.exports import downloads, services
from fastapp.privacy.registry import sources
from fastapp.ui.components import OobToast
from fastapp.ui.request import render_response, viewer_prefs

rt = APIRouter()


def export_link() -> str:
    """Where the section lives on the privacy page (the notification and the mail link here)."""
    from fastapp.privacy import pages as privacy_pages  # it imports this module to build the page

    return f"{privacy_pages.privacy_page.to()}#{c.SECTION_ID}"


def _redirect(request: Request, url: str) -> Response:
    """A 303 for a plain form or link; for HTMX, ``HX-Redirect`` (a whole-page visit)."""
    if is_htmx(request.headers):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def _state(ctx: Context, user_id: uuid.UUID) -> c.ExportState:
    export = await services.find_latest(ctx, user_id)
    status = services.status_of(export, ctx.clock.now()) if export is not None else None
    return c.ExportState(export, status, await services.next_allowed_at(ctx, user_id))


async def _panel(request: Request, state: c.ExportState, *, error: str | None = None) -> FT:
    export = state.export
    urls = c.ExportUrls(
        request=request_export.to(),
        poll=export_panel.to(),
        download=download_export.to(export_id=str(export.id)) if export is not None else None,
    )
    return c.ExportPanel(state, urls, csrf_of(request), prefs=await viewer_prefs(request), error=error)


async def _section(request: Request, ctx: Context, principal: Principal, *, error: str | None = None) -> FT:
    panel = await _panel(request, await _state(ctx, principal.user_id), error=error)
    labels = [source.label for source in sources(ctx)]
    return c.ExportSection(labels, panel, link_days=services.settings_of(ctx).export_link_days)


async def section(request: Request, principal: Principal) -> FT:
    """This part's section of the /privacy page."""
    async with context_of(request) as ctx:
        return await _section(request, ctx, principal)


@rt("/privacy/export", methods=["post"])
async def request_export(request: Request) -> Response:
    """Start an export; the panel (HTMX) or the privacy page (plain form) shows its progress."""
    principal = signed_in(request)
    runtime = runtime_of(request)
    try:
        require_recent_authentication(
            principal, now=runtime.backends.clock.now(), minutes=wiring.kit(runtime).settings.sudo_minutes
        )
    except ReauthenticationRequired:
        return _redirect(request, f"{account_pages.confirm_password_page.to()}?next={quote(export_link())}")
    try:
        async with context_of(request) as ctx:
            await services.request_export(ctx, principal.user_id)
    except (Conflict, RateLimited) as exc:
        async with context_of(request) as ctx:
            if is_htmx(request.headers):
                panel = await _panel(request, await _state(ctx, principal.user_id), error=exc.detail)
                return HTMLResponse(to_xml(panel), status_code=exc.status)
            body = await _section(request, ctx, principal, error=exc.detail)
        return render_response(request, "Download your data", body, status=exc.status)
    if not is_htmx(request.headers):
        return _redirect(request, export_link())
    async with context_of(request) as ctx:
        panel = await _panel(request, await _state(ctx, principal.user_id))
    toast = OobToast("Your export is being prepared. We will tell you when it is ready.", "success")
    return HTMLResponse(to_xml(panel) + to_xml(toast))


@rt("/privacy/export", methods=["get"])
async def export_panel(request: Request) -> Response:
    """The panel alone, for HTMX polling; a browser opening the address gets the privacy page."""
    principal = signed_in(request)
    if not is_htmx(request.headers):
        return _redirect(request, export_link())
    async with context_of(request) as ctx:
        panel = await _panel(request, await _state(ctx, principal.user_id))
    return HTMLResponse(to_xml(panel))


@rt("/privacy/export/{export_id}/download", methods=["get"])
async def download_export(request: Request, export_id: str) -> Response:
    """The ZIP, for its owner only, while it is ready (404 otherwise); each download is audited."""
    principal = signed_in(request)
    try:
        ident = uuid.UUID(export_id)
    except ValueError as exc:
        raise NotFound("There is no such export.") from exc
    async with context_of(request) as ctx:
        return await downloads.serve(ctx, principal.user_id, ident)
