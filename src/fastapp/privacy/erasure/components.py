"""Components of account deletion: the privacy page's section and the page a user lands on,
signed out, once the deletion is scheduled. Pure: data in, FT out."""

from __future__ import annotations

from datetime import datetime

from fasthtml.common import FT, A, Div, Form, Li, P, Span, Strong, Ul
from monsterui.daisy import AlertT
from monsterui.franken import H2, Card, TextPresets

from fastapp.ui.components import CsrfField, FormField, PageHeading, SubmitButton
from fastapp.ui.dates import DEFAULT_DISPLAY, DateTime, DisplayPrefs

SECTION_ID = "delete-account"


def ErasureSection(
    action: str,
    csrf: str,
    *,
    email: str,
    grace_days: int,
    reminder_days: int,
    last_owner: str | None = None,
    value: str = "",
    error: str | None = None,
    cancelled: bool = False,
) -> FT:
    """What deleting the account does, then the typed confirmation (or, for the last owner, why
    it cannot be done yet). The form posts with HTMX (the section replaces itself, errors inline)
    and works as a plain form without it."""
    facts = Ul(
        Li("You are signed out everywhere at once and your account is locked."),
        Li(
            f"After {grace_days} days your profile, files, notifications and messages are erased for good, "
            "and records we must keep no longer name you."
        ),
        Li(f"We email you a reminder {reminder_days} days before." if reminder_days else None),
        Li("Until then, sign in with your password to cancel the deletion and keep everything."),
        cls="list-disc pl-5 space-y-1",
    )
    if last_owner is not None:
        body: FT = P(last_owner, role="alert", cls="text-sm text-red-700 dark:text-red-400")
    else:
        body = Form(
            CsrfField(csrf),
            FormField(
                f"To confirm, type your email address ({email})",
                "confirm",
                value=value,
                error=error,
                autocomplete="off",
                field_id="erasure-confirm",
            ),
            P("We will ask for your password first if you signed in a while ago.", cls=TextPresets.muted_sm),
            SubmitButton("Delete my account", destructive=True),
            method="post",
            action=action,
            hx_post=action,
            hx_target=f"#{SECTION_ID}",
            hx_swap="outerHTML",
            cls="space-y-4",
        )
    notice = (
        Div(
            Span("The deletion of your account is cancelled. Welcome back."),
            cls=("alert", AlertT.success),
            role="status",
        )
        if cancelled
        else None
    )
    return Card(
        notice,
        P("You can ask us to delete your account and the personal data it holds. What happens:"),
        facts,
        body,
        header=H2("Delete your account", cls="text-lg"),
        id=SECTION_ID,
        body_cls="space-y-4",
    )


def ScheduledPage(due_at: datetime | None, sign_in_url: str, prefs: DisplayPrefs = DEFAULT_DISPLAY) -> FT:
    """Where the browser lands, signed out, after asking for the deletion."""
    when: FT | str = DateTime(due_at, prefs) if due_at is not None else "the end of the grace period"
    return Div(
        PageHeading("Your account will be deleted", "You are signed out everywhere and your account is locked."),
        Card(
            P("Your account and the personal data it holds will be erased on ", Strong(when), "."),
            P("We sent you an email confirming this, and will send a reminder before the date."),
            P(
                "Changed your mind? Until then, sign in with your email address and password and choose "
                "“Cancel the deletion and sign in”. Everything stays as it was."
            ),
            footer=A("Sign in to cancel", href=sign_in_url, cls="underline"),
            body_cls="space-y-4",
        ),
        cls="max-w-md mx-auto",
    )
