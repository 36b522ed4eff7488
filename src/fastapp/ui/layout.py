"""The page shell: document head from local assets, header, navigation, main, footer, toasts.

Everything per request (CSP nonce, CSRF token, theme) arrives in ``PageContext``, which the web
layer builds; components here only render. No inline script is emitted: behaviour lives in the
hashed ``app.js``, and the few inline ``<style>`` blocks MonsterUI needs carry the CSP nonce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from fasthtml.common import (
    FT,
    A,
    Body,
    Div,
    Footer,
    Form,
    Head,
    Header,
    Html,
    Label,
    Li,
    Link,
    Main,
    Meta,
    Nav,
    Noscript,
    NotStr,
    Option,
    P,
    Script,
    Select,
    Span,
    Style,
    Title,
    Ul,
    to_xml,
)
from monsterui.core import daisy_styles, scrollspy_style
from monsterui.franken import H1, Button, ButtonT, Container, ContainerT, TextPresets, UkIcon

from fastapp.ui.assets import Assets
from fastapp.ui.components import PageHeading, ToastRegion

ThemeMode = Literal["light", "dark", "system"]
THEME_MODES: tuple[ThemeMode, ...] = ("system", "light", "dark")
THEME_CLASSES = "uk-theme-zinc uk-radii-md uk-shadows-sm uk-font-sm"

# htmx runs without eval and without injecting <style>, so the CSP needs neither.
HTMX_CONFIG = json.dumps(
    {
        "includeIndicatorStyles": False,
        "allowEval": False,
        "allowScriptTags": False,
        "selfRequestsOnly": True,
        "historyCacheSize": 0,
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[23]..", "swap": True},
            {"code": "[45]..", "swap": True, "error": True},
        ],
    },
    separators=(",", ":"),
)


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    icon: str = ""
    #: Shown only to a user holding this permission; "" shows it to everyone.
    permission: str = ""


@dataclass(frozen=True)
class PageContext:
    """What the shell needs to know about the current request and instance."""

    product: str
    assets: Assets
    nonce: str
    csrf_token: str
    theme: ThemeMode
    theme_url: str
    path: str = "/"
    nav: tuple[NavItem, ...] = ()
    account: FT | None = None
    #: Header widgets of a signed-in user (the notification bell), left of the account menu.
    widgets: tuple[FT, ...] = ()
    #: Notices at the top of every page, visitors' too (the consent banner).
    notices: tuple[FT, ...] = ()
    footer_note: str = ""
    toasts: tuple[FT, ...] = field(default_factory=tuple)


# The shell is mostly the same on every page. Its static parts are rendered to HTML once and
# reused (about 60 elements per page; FastHTML builds each in ~35 µs), keyed by everything they
# depend on; only the nonce, the CSRF token and the content are rendered per request.


@lru_cache(maxsize=8)
def _static_head(assets: Assets) -> NotStr:
    return NotStr(
        to_xml(
            (
                Meta(name="viewport", content="width=device-width, initial-scale=1"),
                Meta(name="htmx-config", content=HTMX_CONFIG),
                Meta(name="color-scheme", content="light dark"),
                Link(rel="icon", href=assets.static("favicon.svg"), type="image/svg+xml"),
                Link(rel="stylesheet", href=assets.url("franken.css")),
                Link(rel="stylesheet", href=assets.url("app.css")),
                Script(src=assets.url("app.js")),
                Script(src=assets.url("htmx.js"), defer=True),
                Script(src=assets.url("franken.js"), defer=True),
                Script(src=assets.url("icons.js"), defer=True),
            )
        )
    )


# MonsterUI's theme variables for daisyUI and its scrollspy styles, served inline with the nonce.
_INLINE_CSS = "".join(str(child) for style in (daisy_styles, scrollspy_style) for child in style.children)


def DocumentHead(ctx: PageContext, title: str) -> FT:
    return Head(
        Meta(charset="utf-8"),
        Title(f"{title} · {ctx.product}" if title != ctx.product else title),
        Meta(name="csrf-token", content=ctx.csrf_token),
        _static_head(ctx.assets),
        Style(NotStr(_INLINE_CSS), nonce=ctx.nonce),
    )


@lru_cache(maxsize=16)
def _theme_switch(theme: ThemeMode, theme_url: str) -> NotStr:
    return NotStr(
        to_xml(
            Form(
                Label("Theme", fr="theme-mode", cls="sr-only"),
                Select(
                    *(Option(m.capitalize(), value=m, selected=(m == theme)) for m in THEME_MODES),
                    id="theme-mode",
                    name="mode",
                    cls="uk-select uk-form-small w-auto",
                    hx_post=theme_url,
                    hx_trigger="change",
                    hx_swap="none",
                ),
                Noscript(Button("Apply", cls=(ButtonT.default, ButtonT.xs))),
                method="post",
                action=theme_url,
                cls="flex items-center gap-2",
            )
        )
    )


def ThemeSwitch(ctx: PageContext) -> FT:
    """Light / dark / system choice; HTMX posts it, a plain form post works without JS."""
    return _theme_switch(ctx.theme, ctx.theme_url)


@lru_cache(maxsize=512)
def _navigation(product: str, nav: tuple[NavItem, ...], path: str) -> NotStr:
    links = [
        Li(
            A(
                UkIcon(item.icon, height=16, width=16, aria_hidden="true") if item.icon else None,
                Span(item.label),
                href=item.href,
                cls="flex items-center gap-1 px-2 py-1 rounded hover:underline",
                aria_current="page" if item.href == path else None,
            )
        )
        for item in nav
    ]
    return NotStr(
        to_xml(
            (
                A(product, href="/", cls="text-lg font-bold"),
                Nav(Ul(*links, cls="flex flex-wrap items-center gap-2"), aria_label="Main"),
            )
        )
    )


def SiteHeader(ctx: PageContext) -> FT:
    return Header(
        Div(
            Div(
                _navigation(ctx.product, ctx.nav, ctx.path),
                Div(
                    ThemeSwitch(ctx),
                    *ctx.widgets,
                    Div(ctx.account, id="account-menu"),
                    cls="flex flex-wrap items-center justify-end gap-3 ml-auto",
                ),
                # relative: on narrow screens a widget's pop-over spans the header's width.
                cls="relative flex flex-wrap items-center gap-x-6 gap-y-2 py-3",
            ),
            cls=("uk-container", ContainerT.xl),
        ),
        cls="border-b border-border",
    )


@lru_cache(maxsize=8)
def _footer(note: str) -> NotStr:
    return NotStr(
        to_xml(
            Footer(
                Container(P(note, cls=(TextPresets.muted_sm, "py-6")), cls=ContainerT.xl),
                cls="border-t border-border mt-12",
            )
        )
    )


def SiteFooter(ctx: PageContext) -> FT:
    return _footer(ctx.footer_note or ctx.product)


def Page(ctx: PageContext, title: str, *content: FT) -> FT:
    """A full HTML document: the shell around ``content``."""
    return Html(
        DocumentHead(ctx, title),
        Body(
            A("Skip to content", href="#main", cls="sr-only focus:not-sr-only focus:p-2"),
            *ctx.notices,
            SiteHeader(ctx),
            Main(Div(*content, cls=("uk-container", ContainerT.xl, "py-8")), id="main", tabindex="-1"),
            SiteFooter(ctx),
            ToastRegion(*ctx.toasts),
            cls="bg-background text-foreground min-h-screen flex flex-col",
            hx_headers=json.dumps({"X-CSRF-Token": ctx.csrf_token}),
        ),
        lang="en",
        cls=THEME_CLASSES + (" dark" if ctx.theme == "dark" else ""),
        data_theme_mode=ctx.theme,
    )


def ErrorContent(status: int, title: str, detail: str, request_id: str | None) -> FT:
    """The body of a designed error page."""
    return Div(
        P(f"Error {status}", cls=TextPresets.muted_sm),
        H1(title),
        P(detail, cls="text-lg"),
        Div(A("Go to the home page", href="/", cls=("uk-btn", ButtonT.primary)), cls="flex gap-2"),
        P(f"Reference: {request_id}", cls=TextPresets.muted_sm) if request_id else None,
        cls="space-y-4 max-w-xl",
    )


__all__ = ["ErrorContent", "NavItem", "Page", "PageContext", "PageHeading", "ThemeMode", "ThemeSwitch"]
