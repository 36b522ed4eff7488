"""Domain errors and HTTP errors as pages: a designed error page, or a toast for HTMX."""

from __future__ import annotations

from typing import cast
from urllib.parse import quote

from fasthtml.common import to_xml
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Scope

from fastapp.platform.errors import DomainError, RateLimited, Unauthenticated
from fastapp.platform.htmx import is_htmx
from fastapp.platform.ratelimit import rate_limit_headers
from fastapp.ui.components import OobToast, ToastLevel
from fastapp.ui.layout import ErrorContent, Page
from fastapp.ui.request import page_context

_TITLES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Access denied", "You do not have permission to see this page."),
    404: ("Page not found", "There is nothing at this address. Check the link or go back to the home page."),
    405: ("Method not allowed", "This address does not accept that kind of request."),
    413: ("Request too large", "What you sent is larger than this site accepts."),
    429: ("Too many requests", "Please wait a moment and try again."),
    500: ("Something went wrong", "An unexpected error happened on our side. It has been logged; please try again."),
}


def error_response(
    request: Request, status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """An error page, or for HTMX an out-of-band toast with no main swap, at ``status``."""
    headers = dict(headers or {})
    request_id = getattr(request.state, "request_id", None)
    if is_htmx(request.headers):
        headers["HX-Reswap"] = "none"
        level: ToastLevel = "warning" if status < 500 else "error"
        return HTMLResponse(to_xml(OobToast(detail, level)), status_code=status, headers=headers)
    page = Page(page_context(request), title, ErrorContent(status, title, detail, request_id))
    return HTMLResponse(to_xml(page), status_code=status, headers=headers)  # <html> brings its doctype


def domain_error_response(request: Request, exc: DomainError) -> Response:
    if isinstance(exc, Unauthenticated) and request.app.state.sign_in_path:
        target = f"{request.app.state.sign_in_path}?next={quote(request.url.path)}"
        if is_htmx(request.headers):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    headers = rate_limit_headers(exc) if isinstance(exc, RateLimited) else {}
    title = _TITLES.get(exc.status, (exc.title, ""))[0] if exc.status != 403 else exc.title
    return error_response(request, exc.status, title, exc.detail, headers)


async def on_domain_error(request: Request, exc: Exception) -> Response:
    return domain_error_response(request, cast(DomainError, exc))


async def on_http_error(request: Request, exc: Exception) -> Response:
    exc = cast(HTTPException, exc)
    title, detail = _TITLES.get(exc.status_code, ("Error", exc.detail))
    return error_response(request, exc.status_code, title, detail, dict(exc.headers or {}))


async def on_server_error(request: Request, exc: Exception) -> Response:
    title, detail = _TITLES[500]
    if request.app.state.runtime.config.app.debug:  # development only: production refuses debug
        detail = f"{detail} ({type(exc).__name__}: {exc})"
    return error_response(request, 500, title, detail)


def page_error_responder(pages_app: object):  # type: ignore[no-untyped-def]
    """The middleware responder for page paths (CSRF failure, 413 before routing)."""

    def respond(scope: Scope, exc: DomainError) -> Response:
        scope["app"] = pages_app  # the error page reads product, assets and nav from the pages app
        return domain_error_response(Request(scope), exc)

    return respond
