"""Swagger UI at /api/docs, from the locally built assets (no CDN, no inline script)."""

from __future__ import annotations

from fasthtml.common import Body, Div, Head, Html, Link, Main, Meta, Script, Title, to_xml
from starlette.requests import Request
from starlette.responses import HTMLResponse

from fastapp.ui.assets import Assets


def swagger_ui(assets: Assets, *, title: str, openapi_url: str):  # type: ignore[no-untyped-def]
    page = "<!doctype html>\n" + to_xml(
        Html(
            Head(
                Meta(charset="utf-8"),
                Meta(name="viewport", content="width=device-width, initial-scale=1"),
                Title(title),
                Link(rel="icon", href=assets.static("favicon.svg"), type="image/svg+xml"),
                Link(rel="stylesheet", href=assets.url("swagger-ui.css")),
                Link(rel="stylesheet", href=assets.url("swagger-fixes.css")),
            ),
            Body(
                Main(Div(id="swagger-ui", data_openapi_url=openapi_url)),
                Script(src=assets.url("swagger-ui-bundle.js")),
                Script(src=assets.url("swagger-init.js")),
            ),
            lang="en",
        )
    )

    async def docs(_request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    return docs
