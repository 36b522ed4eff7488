"""Build the shell's ``PageContext`` from a request and render full pages or HTMX fragments."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import cast

from fasthtml.common import FT, to_xml
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from fastapp.platform.auth import principal_of, request_context_args
from fastapp.platform.context import Context, Principal, Runtime, open_context
from fastapp.platform.csrf import csrf_token
from fastapp.platform.errors import PermissionDenied, Unauthenticated
from fastapp.platform.htmx import is_htmx
from fastapp.platform.middleware import csp_nonce
from fastapp.platform.registry import SIGNED_IN
from fastapp.platform.scope import state
from fastapp.ui.components import AccountMenu
from fastapp.ui.dates import DEFAULT_DISPLAY, DisplayPrefs
from fastapp.ui.layout import THEME_MODES, NavItem, Page, PageContext, ThemeMode

THEME_COOKIE = "fastapp_theme"


def runtime_of(request: Request) -> Runtime:
    """The app's runtime (configuration, registry, backends), kept in the pages app's state."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def context_of(request: Request) -> AbstractAsyncContextManager[Context]:
    """One transaction for the request, describing it (id, IP, user agent, principal)."""
    return open_context(runtime_of(request), **request_context_args(request.scope))


def theme_of(request: Request) -> ThemeMode:
    value = request.cookies.get(THEME_COOKIE, "system")
    for mode in THEME_MODES:
        if value == mode:
            return mode
    return "system"


async def viewer_prefs(request: Request) -> DisplayPrefs:
    """How the signed-in viewer wants dates shown (``registry.display_preferences``, which the
    accounts domain answers from a cache); the defaults for visitors. Kept per request."""
    found = state(request.scope).get("display_prefs")
    if isinstance(found, DisplayPrefs):
        return found
    principal = principal_of(request.scope)
    runtime = runtime_of(request)
    lookup = runtime.registry.display_preferences
    prefs = DEFAULT_DISPLAY
    if principal is not None and lookup is not None:
        value = await lookup(runtime, principal.user_id)
        prefs = value if isinstance(value, DisplayPrefs) else DEFAULT_DISPLAY
    state(request.scope)["display_prefs"] = prefs
    return prefs


def page_context(request: Request) -> PageContext:
    """The shell's view of ``request``; the pages app keeps product, assets and nav in its state."""
    app_state = request.app.state
    token = csrf_token(request.scope)
    principal = principal_of(request.scope)
    links = getattr(app_state, "account_links", {})
    avatar = links.get("avatar", "").format(user_id=principal.user_id) if principal is not None else None
    account = AccountMenu(links, signed_in=principal is not None, csrf=token, avatar=avatar or None)
    widgets = (
        tuple(w for w in (make(request) for make in getattr(app_state, "header_widgets", ())) if w is not None)
        if principal is not None
        else ()
    )
    notices = tuple(n for n in (make(request) for make in runtime_of(request).registry.page_notices) if n is not None)
    return PageContext(
        product=app_state.product,
        assets=app_state.assets,
        nonce=csp_nonce(request.scope),
        csrf_token=token,
        account=account,
        widgets=widgets,
        notices=notices,
        theme=theme_of(request),
        theme_url=app_state.theme_url,
        path=request.url.path,
        nav=tuple(
            i
            for i in cast(list[NavItem], app_state.nav)
            if not i.permission or (principal and (i.permission == SIGNED_IN or principal.can(i.permission)))
        ),
        footer_note=app_state.footer_note,
    )


def render(request: Request, title: str, *content: FT) -> FT | tuple[FT, ...]:
    """A full page for a normal request; only ``content`` for an HTMX request."""
    if is_htmx(request.headers):
        return content
    return Page(page_context(request), title, *content)


def render_response(request: Request, title: str, *content: FT, status: int = 200) -> HTMLResponse:
    """Like ``render``, as a response with ``status`` (e.g. 422 for a form with errors)."""
    # A full page's <html> root already renders with its doctype.
    return HTMLResponse(to_xml(render(request, title, *content)), status_code=status)


def permitted(request: Request, permission: str) -> Principal:
    """The browser session's principal when it holds ``permission``: otherwise to the sign-in
    page (``Unauthenticated``), or a 403 page (``PermissionDenied``)."""
    principal = principal_of(request.scope)
    if principal is None or principal.via != "cookie":
        raise Unauthenticated("Sign in to continue.", next=request.url.path)
    if not principal.can(permission):
        raise PermissionDenied(f"This page needs the {permission} permission.")
    return principal


def set_site_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    """Set one of this site's own cookies: the whole path, HttpOnly, SameSite=Lax, and Secure
    when the site is served over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=bool(getattr(request.app.state, "secure_cookies", False)),
        httponly=True,
        samesite="lax",
    )
