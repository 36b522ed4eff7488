"""Swagger UI at /api/docs, from the locally built assets (no CDN, no inline script).

"Try it out" calls carry the browser's cookies, so unsafe ones need the CSRF token like any
page: the page holds it in a ``<meta>`` tag and ``swagger-init.js`` adds it as a header.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fasthtml.common import Body, Div, Head, Html, Link, Main, Meta, NotStr, Script, Title, to_xml
from starlette.requests import Request
from starlette.responses import HTMLResponse

from fastapp.platform.csrf import csrf_token
from fastapp.ui.assets import Assets


def swagger_ui(assets: Assets, *, title: str, openapi_url: str) -> Callable[[Request], Awaitable[HTMLResponse]]:
    head_rest = to_xml(
        (
            Meta(name="viewport", content="width=device-width, initial-scale=1"),
            Title(title),
            Link(rel="icon", href=assets.static("favicon.svg"), type="image/svg+xml"),
            Link(rel="stylesheet", href=assets.url("swagger-ui.css")),
            Link(rel="stylesheet", href=assets.url("swagger-fixes.css")),
        )
    )

    async def docs(request: Request) -> HTMLResponse:
        page = Html(
            Head(Meta(charset="utf-8"), Meta(name="csrf-token", content=csrf_token(request.scope)), NotStr(head_rest)),
            Body(
                Main(Div(id="swagger-ui", data_openapi_url=openapi_url)),
                Script(src=assets.url("swagger-ui-bundle.js")),
                Script(src=assets.url("swagger-init.js")),
            ),
            lang="en",
        )
        return HTMLResponse(to_xml(page))  # <html> brings its doctype

    return docs
