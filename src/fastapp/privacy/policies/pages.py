"""Policy pages: the current privacy policy and terms (``/policies/privacy``, ``/policies/terms``),
each published version (``/policies/{kind}/{version}``), the accept page the request gate
sends users to (``/policies/accept``), and this part's section of ``/privacy``.

The texts are public (a visitor reads them before signing up). The accept page records the
acceptance of exactly the versions it showed: if another version took effect meanwhile, the
page is shown again with it.
"""

from __future__ import annotations

import uuid

from fasthtml.common import FT, APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.accounts.web import context_of, csrf_of, signed_in
from fastapp.platform.context import Principal
from fastapp.platform.errors import Conflict, Invalid, NotFound
from fastapp.privacy.policies import components as c
from fastapp.privacy.policies import services
from fastapp.ui.request import render_response, viewer_prefs

rt = APIRouter()
PRIVACY_PAGE = "/privacy"


def _ids(values: list[str]) -> list[uuid.UUID]:
    try:
        return services.parse_ids(values)
    except Invalid:
        return []


async def _accept_form(
    request: Request, principal: Principal, next_url: str, *, error: str | None = None, status: int = 200
) -> Response:
    async with context_of(request) as ctx:
        pending = await services.pending_for(ctx, principal.user_id)
    if not pending:
        return RedirectResponse(next_url, status_code=303)
    form = c.AcceptForm(
        accept.to(), csrf_of(request), pending, next_url=next_url, error=error, privacy_url=PRIVACY_PAGE
    )
    return render_response(request, "Review our updated policies", form, status=status)


@rt("/policies/accept", methods=["get"])
async def accept_page(request: Request, next: str = "") -> Response:
    principal = signed_in(request)
    return await _accept_form(request, principal, c.same_site_path(next))


@rt("/policies/accept", methods=["post"])
async def accept(request: Request, next: str = "", confirm: str = "") -> Response:
    principal = signed_in(request)
    next_url = c.same_site_path(next)
    form = await request.form()
    ids = _ids([str(v) for v in form.getlist("policy_ids")])
    if confirm != "1" or not ids:
        return await _accept_form(
            request, principal, next_url, error="Tick the box to accept the policies, or sign out.", status=422
        )
    try:
        async with context_of(request) as ctx:
            await services.accept(ctx, principal.user_id, ids, "page")
    except (Conflict, Invalid):
        return await _accept_form(
            request,
            principal,
            next_url,
            error="The policies changed while this page was open: please review the current versions.",
            status=409,
        )
    return RedirectResponse(next_url, status_code=303)


@rt("/policies/{kind}", methods=["get"])
async def policy_page(request: Request, kind: str) -> HTMLResponse:
    if kind not in services.KIND_LABELS:
        raise NotFound("There is no such policy.")
    async with context_of(request) as ctx:
        version = await services.current(ctx, kind)
    if version is None:
        return render_response(request, services.label_of(kind), c.NoPolicy(kind), status=404)
    prefs = await viewer_prefs(request)
    return render_response(request, version.title, c.PolicyPage(version, prefs, current=True, current_url=None))


@rt("/policies/{kind}/{version}", methods=["get"])
async def version_page(request: Request, kind: str, version: str) -> HTMLResponse:
    async with context_of(request) as ctx:
        found = await services.get_version(ctx, kind, version)
        in_force = await services.current(ctx, kind) if found else None
    if found is None:
        raise NotFound("There is no such policy version.")
    prefs = await viewer_prefs(request)
    content = c.PolicyPage(
        found,
        prefs,
        current=in_force is not None and in_force.id == found.id,
        current_url=policy_page.to(kind=kind),
    )
    return render_response(request, f"{found.title} (version {found.version})", content)


async def section(request: Request, principal: Principal) -> FT:
    """This part's section of the /privacy page: the versions the user accepted, and when."""
    async with context_of(request) as ctx:
        rows = await services.acceptances(ctx, principal.user_id)
        pending = await services.pending_for(ctx, principal.user_id)
    prefs = await viewer_prefs(request)
    return c.AcceptedSection(rows, prefs, accept_url=accept_page.to() if pending else None)
