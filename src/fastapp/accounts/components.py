"""Components of the sign-up, sign-in, password and account security pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from fasthtml.common import FT, A, Code, Div, Fieldset, Form, Input, Label, Legend, Li, NotStr, P, Pre, Span, Ul
from monsterui.franken import H2, Card, TextPresets

from fastapp.accounts.models import AuthSession, PersonalAccessToken
from fastapp.ui.components import CsrfField, FormErrors, FormField, PageHeading, SubmitButton
from fastapp.ui.dates import DEFAULT_DISPLAY, DisplayPrefs, format_datetime


def AuthCard(title: str, subtitle: str, *body: FT, footer: FT | None = None) -> FT:
    return Div(
        PageHeading(title, subtitle),
        Card(*body, footer=footer),
        cls="max-w-md mx-auto",
    )


#: The sign-up form's own fields; errors for any other field belong to the sign-up hooks' fields.
SIGN_UP_FIELDS = frozenset({"display_name", "email", "password"})


def SignUpForm(
    action: str,
    csrf: str,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    message: str | None,
    extra: Sequence[FT] = (),
) -> FT:
    """The sign-up form; ``extra`` are the fields the sign-up hooks add (accepting the policies),
    shown above the button with the errors reported for them."""
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
        *extra,
        *(
            P(error, id=f"field-{name}-error", cls="text-sm text-red-700 dark:text-red-400", role="alert")
            for name, error in errors.items()
            if name not in SIGN_UP_FIELDS
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


def CancelErasureOffer(action: str | None, csrf: str, token: str) -> FT:
    """For the owner of an account awaiting erasure who just signed in: one button cancels the
    deletion and signs them in (``action`` is None when no privacy domain handles it)."""
    told = P(
        "You asked for this account and its data to be deleted. Until the grace period ends, you can "
        "change your mind: cancelling keeps your account and everything in it."
    )
    if action is None:
        return Div(told, cls="space-y-4")
    return Form(
        CsrfField(csrf),
        Input(type="hidden", name="token", value=token),
        told,
        SubmitButton("Cancel the deletion and sign in"),
        method="post",
        action=action,
        cls="space-y-4",
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


def SessionRow(
    session: AuthSession, *, current: bool, end_url: str, csrf: str, prefs: DisplayPrefs = DEFAULT_DISPLAY
) -> FT:
    return Li(
        Div(
            P(
                Span(session.device, cls="font-medium"),
                Span(" · this device", cls=TextPresets.muted_sm) if current else None,
            ),
            P(
                f"{session.ip or 'unknown address'} · signed in {format_datetime(session.created_at, prefs)} · "
                f"last active {format_datetime(session.last_seen_at, prefs)}",
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
        Ul(*rows, cls="divide-y divide-border", aria_label="Your sessions"),
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


def SecurityPage(
    name: str,
    sessions: FT,
    two_factor: FT,
    password_form: FT,
    email: FT,
    tokens: FT,
    sign_out: FT,
    activity: FT,
    *,
    notifications_url: str,
) -> FT:
    return Div(
        PageHeading("Account security", f"Signed in as {name}."),
        Div(
            sessions,
            two_factor,
            Card(password_form, header=H2("Change password", cls="text-lg")),
            email,
            tokens,
            Card(
                P(
                    "Choose which notifications reach you in the app and by email, and how often. ",
                    Link("Notification settings", notifications_url),
                ),
                header=H2("Notifications", cls="text-lg"),
            ),
            activity,
            sign_out,
            cls="grid gap-6",
        ),
        cls="space-y-6",
    )


def SignOutForm(action: str, csrf: str) -> FT:
    return Form(CsrfField(csrf), SubmitButton("Sign out"), method="post", action=action)


def Link(text: str, href: str) -> FT:
    return A(text, href=href, cls="underline")


def SecondFactorForm(action: str, csrf: str, pending: str, *, error: str | None = None) -> FT:
    return Form(
        FormErrors(error),
        CsrfField(csrf),
        Input(type="hidden", name="pending", value=pending),
        FormField(
            "Code",
            "code",
            value="",
            autocomplete="one-time-code",
            help="The 6-digit code from your authenticator app, or one of your recovery codes.",
        ),
        SubmitButton("Continue"),
        method="post",
        action=action,
        cls="space-y-4",
        novalidate=True,
    )


def PasswordConfirmForm(action: str, csrf: str, next_url: str, *, error: str | None = None) -> FT:
    return Form(
        CsrfField(csrf),
        Input(type="hidden", name="next", value=next_url),
        FormField("Password", "password", type="password", error=error, autocomplete="current-password"),
        SubmitButton("Confirm"),
        method="post",
        action=action,
        cls="space-y-4",
        novalidate=True,
    )


def EnrolCard(qr_svg: str, secret: str, confirm_action: str, csrf: str, *, error: str | None = None) -> FT:
    return Card(
        P("1. Scan this code with an authenticator app (or enter the key by hand)."),
        Div(NotStr(qr_svg), cls="w-56 max-w-full bg-white p-2 rounded"),
        P("Key: ", Code(secret, cls="break-all"), cls=TextPresets.muted_sm),
        P("2. Enter the 6-digit code the app shows."),
        Form(
            CsrfField(csrf),
            FormField("Code from the app", "code", autocomplete="one-time-code", error=error),
            SubmitButton("Turn on two-factor sign-in"),
            method="post",
            action=confirm_action,
            cls="space-y-4",
            novalidate=True,
        ),
        header=H2("Set up two-factor sign-in", cls="text-lg"),
        cls="space-y-4",
    )


def RecoveryCodesCard(codes: list[str]) -> FT:
    return Card(
        P(
            "Keep these recovery codes somewhere safe. Each works once, if you lose your phone. "
            "They are shown only now."
        ),
        Pre("\n".join(codes), cls="p-3 rounded bg-muted text-base", aria_label="Recovery codes"),
        A("Done", href="/account/security", cls=("uk-btn", "uk-btn-primary")),
        header=H2("Two-factor sign-in is on", cls="text-lg"),
        cls="space-y-4",
    )


def TwoFactorCard(
    *, on: bool, remaining: int, begin_action: str, disable_action: str, csrf: str, errors: dict[str, str]
) -> FT:
    if not on:
        body = (
            P("Protect your account with a code from an authenticator app in addition to your password."),
            Form(CsrfField(csrf), SubmitButton("Set up two-factor sign-in"), method="post", action=begin_action),
        )
    else:
        body = (
            P(f"Two-factor sign-in is on. {remaining} recovery codes left."),
            Form(
                CsrfField(csrf),
                FormField(
                    "Password",
                    "password",
                    type="password",
                    autocomplete="current-password",
                    error=errors.get("password"),
                    field_id="mfa-password",
                ),
                FormField(
                    "Code from the app",
                    "code",
                    autocomplete="one-time-code",
                    error=errors.get("code"),
                    field_id="mfa-code",
                ),
                SubmitButton("Turn off two-factor sign-in", destructive=True),
                method="post",
                action=disable_action,
                cls="space-y-4",
                novalidate=True,
            ),
        )
    return Card(*body, header=H2("Two-factor sign-in", cls="text-lg"), cls="space-y-4")


def ChangeEmailCard(action: str, csrf: str, current: str, *, error: str | None = None) -> FT:
    return Card(
        P(f"Your address is {current}. We send a link to the new address; the change happens when you open it."),
        Form(
            CsrfField(csrf),
            FormField(
                "New email address", "email", type="email", autocomplete="email", error=error, field_id="new-email"
            ),
            SubmitButton("Send confirmation link"),
            method="post",
            action=action,
            cls="space-y-4",
            novalidate=True,
        ),
        header=H2("Change email address", cls="text-lg"),
        cls="space-y-4",
    )


def TokensCard(
    tokens: list[PersonalAccessToken],
    *,
    permissions: list[str],
    create_action: str,
    revoke_url: Callable[[str], str],
    csrf: str,
    errors: dict[str, str],
) -> FT:
    rows = [
        Li(
            Div(
                P(
                    Span(t.name, cls="font-medium"),
                    Span(f" · {t.scopes or 'no permissions'}", cls=TextPresets.muted_sm),
                ),
                P(
                    f"created {_when(t.created_at)} · "
                    f"{'expires ' + _when(t.expires_at) if t.expires_at else 'never expires'} · "
                    f"{'last used ' + _when(t.last_used_at) if t.last_used_at else 'never used'}",
                    cls=TextPresets.muted_sm,
                ),
            ),
            Form(
                CsrfField(csrf),
                SubmitButton(f"Revoke {t.name}", destructive=True),
                method="post",
                action=revoke_url(str(t.id)),
            ),
            cls="flex flex-wrap items-center justify-between gap-3 py-3",
        )
        for t in tokens
    ]
    scopes = [
        Div(
            Input(type="checkbox", id=f"scope-{p}", name="scopes", value=p, cls="uk-checkbox"),
            Label(p, fr=f"scope-{p}"),
            cls="flex items-center gap-2",
        )
        for p in permissions
    ]
    return Card(
        Ul(*rows, cls="divide-y divide-border") if rows else P("No tokens yet.", cls=TextPresets.muted_sm),
        Form(
            CsrfField(csrf),
            FormField(
                "Token name",
                "name",
                error=errors.get("name"),
                field_id="token-name",
                help="What uses it, e.g. \u201cCI deploy\u201d.",
            ),
            FormField(
                "Expires after (days)",
                "expires_in_days",
                type="number",
                value="90",
                field_id="token-days",
                error=errors.get("expires_in_days"),
            ),
            Fieldset(Legend("Permissions", cls="uk-form-label"), *scopes, cls="space-y-1") if scopes else None,
            SubmitButton("Create token"),
            method="post",
            action=create_action,
            cls="space-y-4",
            novalidate=True,
        ),
        header=H2("API tokens", cls="text-lg"),
        cls="space-y-4",
    )


def NewTokenCard(name: str, secret: str) -> FT:
    return Card(
        P(f"Copy the token \u201c{name}\u201d now: it is shown only once."),
        Pre(secret, cls="p-3 rounded bg-muted text-base break-all whitespace-pre-wrap", aria_label="New token"),
        P("Send it as ", Code("Authorization: Bearer <token>"), ".", cls=TextPresets.muted_sm),
        A("Done", href="/account/security", cls=("uk-btn", "uk-btn-primary")),
        header=H2("Token created", cls="text-lg"),
        cls="space-y-4",
    )
