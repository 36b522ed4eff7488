"""Consent pages: the banner on every page and its routes, the "Choose" page, and the consent
section of /privacy (switches and history).

The banner's forms post to ``/consent``: a visitor gets a random visitor id (the cookie that ties
their records to them) and the signed consent cookie; a signed-in user's decision is recorded
against the account. HTMX removes the banner with a toast; a plain form comes back to the page.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from fasthtml.common import FT, APIRouter, to_xml
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.accounts.web import signed_in
from fastapp.platform.auth import principal_of
from fastapp.platform.context import Context, Principal
from fastapp.platform.csrf import csrf_token
from fastapp.platform.errors import Invalid
from fastapp.platform.htmx import is_htmx
from fastapp.privacy.consent import components as c
from fastapp.privacy.consent import services, web
from fastapp.ui.components import OobToast
from fastapp.ui.request import context_of, render_response, runtime_of, viewer_prefs

rt = APIRouter()
SAVED = "Your privacy choices are saved."


def _same_site(value: str, default: str = "/") -> str:
    """Only a path on this site: never an absolute or protocol-relative URL."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def _privacy_url() -> str:
    from fastapp.privacy.pages import privacy_page  # the page that holds this section imports us

    url: str = privacy_page.to()
    return url


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _banner(request: Request, next_url: str) -> FT:
    return c.CachedBanner(
        action=decide.to(), choose_url=choose_page.to(), csrf=csrf_token(request.scope), next_url=next_url
    )


def banner_notice(request: Request) -> FT | None:
    """``registry.page_notices``: the banner, on every page until the viewer has decided.

    No database query: a visitor's decision is in the signed cookie; a signed-in user without
    one gets a loader that asks the server once.
    """
    if request.url.path == choose_page.to() or web.decided(request):
        return None
    if not services.consentable(runtime_of(request).registry.consent_purposes):
        return None
    if principal_of(request.scope) is not None:
        return c.BannerLoader(f"{consent_banner.to()}?{urlencode({'next': _here(request)})}")
    return _banner(request, _here(request))


@rt("/consent/banner", methods=["get"])
async def consent_banner(request: Request, next: str = "/") -> Response:
    """The banner, or nothing once the viewer's records decide every purpose (then the cookie
    remembers it, so later pages need not ask)."""
    principal = principal_of(request.scope)
    registry = runtime_of(request).registry
    if principal is None:
        decided = web.decided(request)
    else:
        async with context_of(request) as ctx:
            found = await services.current(ctx, user_id=principal.user_id)
        decided = found.complete(registry.consent_purposes)
    if not decided:
        return HTMLResponse(str(_banner(request, _same_site(next))))
    response = HTMLResponse("")
    if principal is not None:
        web.set_consent_cookie(
            request, response, f"u:{principal.user_id}", web.decisions_of(found, registry.consent_purposes)
        )
    return response


def _wanted(request: Request, choice: str, picked: list[str]) -> dict[str, bool]:
    keys = [p.key for p in services.consentable(runtime_of(request).registry.consent_purposes)]
    if choice == "accept":
        return dict.fromkeys(keys, True)
    if choice == "reject":
        return dict.fromkeys(keys, False)
    if choice == "choose":
        # A ticked purpose that is not consentable goes through too: the service refuses it.
        return {**{key: key in picked for key in keys}, **dict.fromkeys(picked, True)}
    raise Invalid("Choose “Accept all”, “Reject all” or your own choices.", fields={"choice": "Unknown choice"})


async def _record(
    ctx: Context, principal: Principal | None, visitor: str | None, wanted: dict[str, bool], source: str
) -> services.ConsentState:
    if principal is not None:
        return await services.record_decision(ctx, user_id=principal.user_id, granted=wanted, source=source)
    return await services.record_decision(ctx, visitor_id=visitor, granted=wanted, source=source)


@rt("/consent", methods=["post"])
async def decide(request: Request) -> Response:
    """Record the banner's (or the Choose page's) decision and remember it in this browser."""
    form = await request.form()
    choice = str(form.get("choice", ""))
    wanted = _wanted(request, choice, [str(v) for v in form.getlist("purpose")])
    principal = principal_of(request.scope)
    visitor = None if principal is not None else (web.visitor_id_of(request) or secrets.token_urlsafe(24))
    registered = runtime_of(request).registry.consent_purposes
    async with context_of(request) as ctx:
        found = await _record(ctx, principal, visitor, wanted, "banner")
    next_url = _same_site(str(form.get("next", "/")))
    response: Response
    if is_htmx(request.headers):
        response = HTMLResponse(to_xml(OobToast(SAVED, "success")))
    else:
        response = RedirectResponse(next_url, status_code=303)
    if visitor is not None:
        web.set_visitor_cookie(request, response, visitor)
    owner = f"u:{principal.user_id}" if principal is not None else f"v:{visitor}"
    web.set_consent_cookie(request, response, owner, web.decisions_of(found, registered))
    return response


@rt("/consent", methods=["get"])
async def choose_page(request: Request, next: str = "/") -> HTMLResponse:
    """Per-purpose choices; works without JavaScript."""
    registered = runtime_of(request).registry.consent_purposes
    principal = principal_of(request.scope)
    if principal is not None:
        granted = await web.user_decisions(runtime_of(request), principal.user_id)
    else:
        granted = web.cookie_decisions(request) or {}
    page = c.ChoosePage(
        action=decide.to(),
        csrf=csrf_token(request.scope),
        next_url=_same_site(next),
        purposes=list(registered.values()),
        granted=granted,
    )
    return render_response(request, "Privacy choices", page)


# -- the /privacy section --------------------------------------------------------------------------


def _page_number(value: str) -> int:
    return int(value) if value.isdigit() and 0 < int(value) < 10_000 else 1


async def _history(request: Request, ctx: Context, principal: Principal, number: int) -> FT:
    registered = runtime_of(request).registry.consent_purposes
    page = await services.history(ctx, principal.user_id, page=number)
    if not page.items and number > 1:  # past the end (records were erased): the last page
        last = max(1, -(-page.total // page.per_page))
        page = await services.history(ctx, principal.user_id, page=last)
    return c.History(
        page,
        {key: p.label for key, p in registered.items()},
        page_url=_privacy_url(),
        fragment_url=history_fragment.to(),
        prefs=await viewer_prefs(request),
    )


async def _section(
    request: Request, principal: Principal, *, number: int = 1, error: str | None = None, notice: str | None = None
) -> FT:
    registered = runtime_of(request).registry.consent_purposes
    async with context_of(request) as ctx:
        found = await services.current(ctx, user_id=principal.user_id)
        history = await _history(request, ctx, principal, number)
    form = c.ConsentForm(
        action=save_consent.to(),
        csrf=csrf_token(request.scope),
        purposes=list(registered.values()),
        granted=found.granted,
        error=error,
        notice=notice,
    )
    return c.ConsentSection(form, history)


async def section(request: Request, principal: Principal) -> FT:
    """This part's section of the /privacy page."""
    params = request.query_params
    notice = SAVED if params.get("consent") == "saved" else None
    return await _section(request, principal, number=_page_number(params.get("consent_page", "")), notice=notice)


@rt("/privacy/consent", methods=["post"])
async def save_consent(request: Request) -> Response:
    """The /privacy switches: each consentable purpose is granted when ticked, withdrawn when not."""
    principal = signed_in(request)
    form = await request.form()
    registered = runtime_of(request).registry.consent_purposes
    try:
        wanted = _wanted(request, "choose", [str(v) for v in form.getlist("purpose")])
        async with context_of(request) as ctx:
            found = await services.record_decision(ctx, user_id=principal.user_id, granted=wanted, source="settings")
    except Invalid as exc:
        body = await _section(request, principal, error=exc.detail)
        if is_htmx(request.headers):
            return HTMLResponse(to_xml(body), status_code=422)
        return render_response(request, "Privacy", body, status=422)
    response: Response
    if is_htmx(request.headers):
        body = await _section(request, principal)
        response = HTMLResponse(to_xml((body, OobToast(SAVED, "success"))))
    else:
        response = RedirectResponse(f"{_privacy_url()}?consent=saved#{c.SECTION_ID}", status_code=303)
    web.set_consent_cookie(request, response, f"u:{principal.user_id}", web.decisions_of(found, registered))
    return response


@rt("/privacy/consent/history", methods=["get"])
async def history_fragment(request: Request, page: str = "1") -> Response:
    """One page of the history table for HTMX; a plain request goes to the privacy page."""
    principal = signed_in(request)
    number = _page_number(page)
    if not is_htmx(request.headers):
        return RedirectResponse(f"{_privacy_url()}?consent_page={number}#{c.HISTORY_ID}", status_code=303)
    async with context_of(request) as ctx:
        body = await _history(request, ctx, principal, number)
    return HTMLResponse(to_xml(body))
