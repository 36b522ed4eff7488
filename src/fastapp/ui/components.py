"""Shared components with no domain knowledge: data in, FT out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from fasthtml.common import (
    FT,
    A,
    Caption,
    Div,
    Form,
    Img,
    Input,
    Label,
    Option,
    P,
    Select,
    Span,
    Table,
    Tbody,
    Th,
    Thead,
    Tr,
)
from monsterui.daisy import AlertT
from monsterui.franken import H1, Button, ButtonT, Card, TextPresets, UkIcon

ToastLevel = Literal["info", "success", "warning", "error"]
_ALERT = {"info": AlertT.info, "success": AlertT.success, "warning": AlertT.warning, "error": AlertT.error}
_ICON = {"info": "info", "success": "circle-check", "warning": "triangle-alert", "error": "circle-x"}


def Toast(message: str, level: ToastLevel = "info", *, sticky: bool = False) -> FT:
    """One toast for the ``#toasts`` region; errors are announced assertively."""
    return Div(
        UkIcon(_ICON[level], height=18, width=18, aria_hidden="true"),
        Span(message),
        Button(
            UkIcon("x", height=16, width=16, aria_hidden="true"),
            Span("Dismiss", cls="sr-only"),
            cls=(ButtonT.ghost, ButtonT.xs),
            submit=False,
            data_toast_close="",
        ),
        cls=("alert shadow-lg", _ALERT[level]),
        role="alert" if level == "error" else "status",
        data_toast="",
        data_toast_sticky="1" if sticky else "0",
    )


def OobToast(message: str, level: ToastLevel = "info") -> FT:
    """A toast delivered out of band with any HTMX response."""
    return Div(Toast(message, level), hx_swap_oob="beforeend:#toasts")


def ToastRegion(*toasts: FT) -> FT:
    return Div(*toasts, id="toasts", cls="toast toast-end toast-bottom z-50", aria_live="polite")


def CsrfField(token: str) -> FT:
    """Hidden field for plain (non-HTMX) forms."""
    return Input(type="hidden", name="csrf_token", value=token)


def PageHeading(title: str, subtitle: str | None = None) -> FT:
    return Div(
        H1(title),
        P(subtitle, cls=TextPresets.muted_sm) if subtitle else None,
        cls="space-y-2 mb-6",
    )


def EmptyState(title: str, message: str, *actions: FT, icon: str = "inbox") -> FT:
    return Card(
        Div(
            UkIcon(icon, height=40, width=40, aria_hidden="true"),
            P(title, cls="font-semibold"),
            P(message, cls=TextPresets.muted_sm),
            Div(*actions, cls="flex gap-2 justify-center") if actions else None,
            cls="flex flex-col items-center text-center gap-2 py-8",
        )
    )


def FormField(
    label: str,
    name: str,
    *,
    type: str = "text",
    value: str = "",
    error: str | None = None,
    help: str | None = None,
    autocomplete: str | None = None,
    required: bool = True,
    field_id: str | None = None,
) -> FT:
    """A labelled input with its help text and inline error, wired with aria attributes."""
    ident = field_id or f"field-{name}"
    described = " ".join(x for x in (f"{ident}-help" if help else "", f"{ident}-error" if error else "") if x)
    return Div(
        Label(label, fr=ident, cls="uk-form-label"),
        Input(
            id=ident,
            name=name,
            type=type,
            value=value if type != "password" else "",
            cls=("uk-input", "uk-form-danger" if error else ""),
            autocomplete=autocomplete,
            required=required,
            aria_invalid="true" if error else None,
            aria_describedby=described or None,
        ),
        P(help, id=f"{ident}-help", cls=TextPresets.muted_sm) if help else None,
        P(error, id=f"{ident}-error", cls="text-sm text-red-700 dark:text-red-400", role="alert") if error else None,
        cls="space-y-1",
    )


def SelectField(
    label: str,
    name: str,
    options: list[tuple[str, str]],
    *,
    selected: str = "",
    error: str | None = None,
    field_id: str | None = None,
) -> FT:
    """A labelled native select (value, text) with its inline error, wired like ``FormField``."""
    ident = field_id or f"field-{name}"
    return Div(
        Label(label, fr=ident, cls="uk-form-label"),
        Select(
            *(Option(text, value=value, selected=value == selected) for value, text in options),
            id=ident,
            name=name,
            cls=("uk-select", "uk-form-danger" if error else ""),
            aria_invalid="true" if error else None,
            aria_describedby=f"{ident}-error" if error else None,
        ),
        P(error, id=f"{ident}-error", cls="text-sm text-red-700 dark:text-red-400", role="alert") if error else None,
        cls="space-y-1",
    )


def FormErrors(message: str | None) -> FT | None:
    """A summary of what went wrong with a form, announced to screen readers."""
    if not message:
        return None
    return Div(Span(message), cls=("alert", AlertT.error), role="alert")


def SubmitButton(label: str, *, destructive: bool = False) -> FT:
    return Button(label, cls=ButtonT.destructive if destructive else ButtonT.primary, type="submit")


def AccountMenu(links: dict[str, str], *, signed_in: bool, csrf: str, avatar: str | None = None) -> FT | None:
    """Sign in / sign up for visitors; the account page and sign-out for a signed-in user, with
    their avatar (``avatar``: its URL) linking to their profile when the app has one."""
    if not links:
        return None
    if not signed_in:
        return Div(
            A("Sign in", href=links["sign_in"], cls="uk-btn uk-btn-ghost uk-btn-sm"),
            A("Sign up", href=links["sign_up"], cls=("uk-btn uk-btn-sm", ButtonT.primary)),
            cls="flex items-center gap-2",
        )
    return Div(
        A(
            Img(src=avatar, alt="", width="32", height="32", cls="rounded-full"),
            Span("Your profile", cls="sr-only"),
            href=links["profile"],
            cls="inline-flex rounded-full",
            id="account-avatar",
        )
        if avatar and links.get("profile")
        else None,
        A(
            UkIcon("user", height=16, width=16, aria_hidden="true"),
            Span("Account"),
            href=links["account"],
            cls="uk-btn uk-btn-ghost uk-btn-sm gap-1",
        ),
        Form(
            CsrfField(csrf),
            Button("Sign out", cls=(ButtonT.ghost, ButtonT.sm), type="submit"),
            method="post",
            action=links["sign_out"],
        ),
        cls="flex items-center gap-2",
    )


def DataTable(caption: str, headers: Sequence[str], rows: Iterable[FT], *, label: str) -> FT:
    """A captioned table with column headers, in a region that scrolls sideways on narrow screens.

    The region is focusable and labelled (``label``) so keyboard users can scroll it too.
    """
    return Div(
        Table(
            Caption(caption),
            Thead(Tr(*(Th(h, scope="col") for h in headers))),
            Tbody(*rows),
            cls="uk-table uk-table-divider uk-table-sm",
        ),
        cls="overflow-x-auto",
        tabindex="0",
        role="region",
        aria_label=label,
    )
