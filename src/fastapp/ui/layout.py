"""The page shell: document head from local assets, header, navigation, main, footer, toasts.

Everything per request (CSP nonce, CSRF token, theme) arrives in ``PageContext``, which the web
layer builds; components here only render. No inline script is emitted: behaviour lives in the
hashed ``app.js``, and the few inline ``<style>`` blocks MonsterUI needs carry the CSP nonce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
    Option,
    P,
    Script,
    Select,
    Span,
    Style,
    Title,
    Ul,
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
    footer_note: str = ""
    toasts: tuple[FT, ...] = field(default_factory=tuple)


def DocumentHead(ctx: PageContext, title: str) -> FT:
    a = ctx.assets
    return Head(
        Meta(charset="utf-8"),
        Meta(name="viewport", content="width=device-width, initial-scale=1"),
        Meta(name="htmx-config", content=HTMX_CONFIG),
        Meta(name="color-scheme", content="light dark"),
        Meta(name="csrf-token", content=ctx.csrf_token),
        Title(f"{title} · {ctx.product}" if title != ctx.product else title),
        Link(rel="icon", href=a.static("favicon.svg"), type="image/svg+xml"),
        Link(rel="stylesheet", href=a.url("franken.css")),
        Link(rel="stylesheet", href=a.url("app.css")),
        _nonced(daisy_styles, ctx.nonce),
        _nonced(scrollspy_style, ctx.nonce),
        Script(src=a.url("app.js")),
        Script(src=a.url("htmx.js"), defer=True),
        Script(src=a.url("franken.js"), defer=True),
        Script(src=a.url("icons.js"), defer=True),
    )


def _nonced(style: FT, nonce: str) -> FT:
    return Style(*style.children, nonce=nonce)


def ThemeSwitch(ctx: PageContext) -> FT:
    """Light / dark / system choice; HTMX posts it, a plain form post works without JS."""
    return Form(
        Label("Theme", fr="theme-mode", cls="sr-only"),
        Select(
            *(Option(m.capitalize(), value=m, selected=(m == ctx.theme)) for m in THEME_MODES),
            id="theme-mode",
            name="mode",
            cls="uk-select uk-form-small w-auto",
            hx_post=ctx.theme_url,
            hx_trigger="change",
            hx_swap="none",
        ),
        Noscript(Button("Apply", cls=(ButtonT.default, ButtonT.xs))),
        method="post",
        action=ctx.theme_url,
        cls="flex items-center gap-2",
    )


def SiteHeader(ctx: PageContext) -> FT:
    links = [
        Li(
            A(
                UkIcon(item.icon, height=16, width=16, aria_hidden="true") if item.icon else None,
                Span(item.label),
                href=item.href,
                cls="flex items-center gap-1 px-2 py-1 rounded hover:underline",
                aria_current="page" if item.href == ctx.path else None,
            )
        )
        for item in ctx.nav
    ]
    return Header(
        Container(
            Div(
                A(ctx.product, href="/", cls="text-lg font-bold"),
                Nav(Ul(*links, cls="flex flex-wrap items-center gap-2"), aria_label="Main"),
                Div(ThemeSwitch(ctx), Div(ctx.account, id="account-menu"), cls="flex items-center gap-3 ml-auto"),
                cls="flex flex-wrap items-center gap-x-6 gap-y-2 py-3",
            ),
            cls=ContainerT.xl,
        ),
        cls="border-b border-border",
    )


def SiteFooter(ctx: PageContext) -> FT:
    return Footer(
        Container(
            P(ctx.footer_note or ctx.product, cls=(TextPresets.muted_sm, "py-6")),
            cls=ContainerT.xl,
        ),
        cls="border-t border-border mt-12",
    )


def Page(ctx: PageContext, title: str, *content: FT) -> FT:
    """A full HTML document: the shell around ``content``."""
    return Html(
        DocumentHead(ctx, title),
        Body(
            A("Skip to content", href="#main", cls="sr-only focus:not-sr-only focus:p-2"),
            SiteHeader(ctx),
            Main(Container(*content, cls=(ContainerT.xl, "py-8")), id="main", tabindex="-1"),
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
