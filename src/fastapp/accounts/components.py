"""Components of the sign-up, sign-in, password and account security pages."""

from __future__ import annotations

from datetime import datetime

from fasthtml.common import FT, A, Div, Form, Input, Label, Li, P, Span, Ul
from monsterui.franken import H2, Card, TextPresets

from fastapp.accounts.models import AuthSession
from fastapp.ui.components import CsrfField, FormErrors, FormField, PageHeading, SubmitButton


def AuthCard(title: str, subtitle: str, *body: FT, footer: FT | None = None) -> FT:
    return Div(
        PageHeading(title, subtitle),
        Card(*body, footer=footer),
        cls="max-w-md mx-auto",
    )


def SignUpForm(action: str, csrf: str, *, values: dict[str, str], errors: dict[str, str], message: str | None) -> FT:
    return Form(
        FormErrors(message),
        CsrfField(csrf),
        FormField(
            "Name",
            "display_name",
            value=values.get("display_name", ""),
            error=errors.get("display_name"),
            autocomplete="name",
        ),
        FormField(
            "Email",
            "email",
            type="email",
            value=values.get("email", ""),
            error=errors.get("email"),
            autocomplete="email",
        ),
        FormField(
            "Password",
            "password",
            type="password",
            error=errors.get("password"),
            autocomplete="new-password",
            help="At least 12 characters. A few unrelated words make a strong password.",
        ),
        SubmitButton("Create account"),
        method="post",
        action=action,
        cls="space-y-4",
        novalidate=True,
    )


def SignInForm(action: str, csrf: str, *, email: str, error: str | None, next_url: str) -> FT:
    return Form(
        FormErrors(error),
        CsrfField(csrf),
        Input(type="hidden", name="next", value=next_url),
        FormField("Email", "email", type="email", value=email, autocomplete="username"),
        FormField("Password", "password", type="password", autocomplete="current-password"),
        Div(
            Input(type="checkbox", id="remember", name="remember", value="1", cls="uk-checkbox"),
            Label("Keep me signed in on this device", fr="remember"),
            cls="flex items-center gap-2",
        ),
        SubmitButton("Sign in"),
        method="post",
        action=action,
        cls="space-y-4",
        novalidate=True,
    )


def EmailForm(action: str, csrf: str, button: str, *, email: str = "", error: str | None = None) -> FT:
    return Form(
        CsrfField(csrf),
        FormField("Email", "email", type="email", value=email, error=error, autocomplete="email"),
        SubmitButton(button),
        method="post",
        action=action,
        cls="space-y-4",
        novalidate=True,
    )


def NewPasswordForm(action: str, csrf: str, token: str, *, error: str | None = None) -> FT:
    return Form(
        CsrfField(csrf),
        Input(type="hidden", name="token", value=token),
        FormField(
            "New password",
            "password",
            type="password",
            error=error,
            autocomplete="new-password",
            help="At least 12 characters.",
        ),
        SubmitButton("Set password"),
        method="post",
        action=action,
        cls="space-y-4",
        novalidate=True,
    )


def ConfirmForm(action: str, csrf: str, token: str, button: str) -> FT:
    return Form(
        CsrfField(csrf),
        Input(type="hidden", name="token", value=token),
        SubmitButton(button),
        method="post",
        action=action,
    )


def Notice(title: str, message: str, *actions: FT) -> FT:
    return AuthCard(title, message, *actions) if actions else AuthCard(title, message, P(""))


def ChangePasswordForm(action: str, csrf: str, errors: dict[str, str]) -> FT:
    return Form(
        CsrfField(csrf),
        FormField(
            "Current password",
            "current_password",
            type="password",
            error=errors.get("current_password"),
            autocomplete="current-password",
        ),
        FormField(
            "New password",
            "new_password",
            type="password",
            error=errors.get("new_password"),
            autocomplete="new-password",
            help="At least 12 characters.",
        ),
        SubmitButton("Change password"),
        method="post",
        action=action,
        cls="space-y-4",
        novalidate=True,
    )


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def SessionRow(session: AuthSession, *, current: bool, end_url: str, csrf: str) -> FT:
    return Li(
        Div(
            P(
                Span(session.device, cls="font-medium"),
                Span(" · this device", cls=TextPresets.muted_sm) if current else None,
            ),
            P(
                f"{session.ip or 'unknown address'} · signed in {_when(session.created_at)} · "
                f"last active {_when(session.last_seen_at)}",
                cls=TextPresets.muted_sm,
            ),
        ),
        None
        if current
        else Form(CsrfField(csrf), SubmitButton("End session", destructive=True), method="post", action=end_url),
        cls="flex flex-wrap items-center justify-between gap-3 py-3",
    )


def SessionsCard(rows: list[FT], end_others_url: str, csrf: str) -> FT:
    return Card(
        Ul(*rows, cls="divide-y divide-border"),
        Form(
            CsrfField(csrf),
            SubmitButton("End all other sessions", destructive=True),
            method="post",
            action=end_others_url,
        )
        if len(rows) > 1
        else None,
        header=H2("Where you are signed in", cls="text-lg"),
    )


def SecurityPage(name: str, sessions: FT, password_form: FT, sign_out: FT) -> FT:
    return Div(
        PageHeading("Account security", f"Signed in as {name}."),
        Div(sessions, Card(password_form, header=H2("Change password", cls="text-lg")), sign_out, cls="grid gap-6"),
        cls="space-y-6",
    )


def SignOutForm(action: str, csrf: str) -> FT:
    return Form(CsrfField(csrf), SubmitButton("Sign out"), method="post", action=action)


def Link(text: str, href: str) -> FT:
    return A(text, href=href, cls="underline")
