"""Components of ``/admin/privacy``: pending erasures, and the confirmation steps of processing
one now and of placing a legal hold. Pure: data in, FT out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fasthtml.common import FT, A, Div, Form, Li, P, Span, Strong, Td, Tr, Ul
from monsterui.daisy import AlertT
from monsterui.franken import ButtonT, Card, TextPresets

from fastapp.ui.components import CsrfField, DataTable, EmptyState, FormErrors, FormField, PageHeading, SubmitButton
from fastapp.ui.dates import DateTime, DisplayPrefs


@dataclass(frozen=True)
class PendingView:
    """One pending erasure as the table shows it, with the addresses of its actions."""

    email: str
    display_name: str
    requested_at: datetime
    due_at: datetime
    reminder_sent_at: datetime | None
    hold_reason: str | None
    error: str | None
    process_url: str
    hold_url: str
    release_url: str


def _when(value: datetime | None, prefs: DisplayPrefs) -> FT | str:
    return DateTime(value, prefs) if value is not None else "not yet"


def PendingRow(view: PendingView, csrf: str, prefs: DisplayPrefs) -> FT:
    if view.hold_reason is not None:
        state: FT = Div(Strong("On legal hold"), P(view.hold_reason, cls=TextPresets.muted_sm + " break-words"))
        actions: FT = Form(
            CsrfField(csrf),
            SubmitButton("Release hold"),
            method="post",
            action=view.release_url,
            data_confirm=f"Release the hold on {view.email}? A due erasure then runs at once.",
        )
    else:
        state = Div(
            Span("Scheduled"),
            P(f"Last attempt failed: {view.error}", cls=TextPresets.muted_sm + " break-words") if view.error else None,
        )
        actions = Div(
            A("Process now", href=view.process_url, cls=("uk-btn uk-btn-sm", ButtonT.destructive)),
            A("Place legal hold", href=view.hold_url, cls=("uk-btn uk-btn-sm", ButtonT.default)),
            cls="flex flex-wrap gap-2",
        )
    return Tr(
        Td(Div(Span(view.display_name), P(view.email, cls=TextPresets.muted_sm + " break-all"))),
        Td(DateTime(view.requested_at, prefs)),
        Td(DateTime(view.due_at, prefs)),
        Td(_when(view.reminder_sent_at, prefs)),
        Td(state),
        Td(actions),
    )


def PendingTable(rows: Sequence[FT], *, next_href: str | None, previous_href: str | None) -> FT:
    if not rows:
        return EmptyState(
            "No pending erasures", "Nobody is waiting for their account to be erased.", icon="shield-check"
        )
    paging = [
        A("Previous page", href=previous_href, cls=ButtonT.ghost) if previous_href else None,
        A("Next page", href=next_href, cls=ButtonT.ghost) if next_href else None,
    ]
    return Div(
        DataTable(
            "Accounts waiting for their erasure, soonest first.",
            ["Account", "Requested", "Erased on", "Reminder sent", "State", "Actions"],
            rows,
            label="Pending erasures",
        ),
        Div(*paging, cls="flex flex-wrap gap-2 justify-end") if any(paging) else None,
        cls="space-y-4",
    )


def Notice(text: str | None) -> FT | None:
    return Div(Span(text), cls=("alert", AlertT.success), role="status") if text else None


def AdminPage(table: FT, *, notice: str | None = None) -> FT:
    return Div(
        PageHeading(
            "Privacy (admin)",
            "Accounts whose owners asked for their erasure. Each runs when its grace period ends, "
            "unless a legal hold pauses it.",
        ),
        Notice(notice),
        table,
        cls="space-y-6",
    )


def _account(view: PendingView, prefs: DisplayPrefs) -> FT:
    return Ul(
        Li(Strong("Account: "), f"{view.display_name} · {view.email}", cls="break-all"),
        Li(Strong("Requested: "), DateTime(view.requested_at, prefs)),
        Li(Strong("Erased on: "), DateTime(view.due_at, prefs)),
        cls="space-y-1",
    )


def ProcessConfirm(view: PendingView, csrf: str, back: str, prefs: DisplayPrefs, *, error: str | None = None) -> FT:
    """The confirmation step of erasing an account before its grace period ends."""
    return Div(
        PageHeading("Erase this account now?", "This cannot be undone: the owner can no longer cancel it."),
        FormErrors(error),
        Card(
            _account(view, prefs),
            P("Every registered eraser runs at once, and the owner gets a last email.", cls=TextPresets.muted_sm),
            Form(
                CsrfField(csrf),
                Div(
                    SubmitButton("Erase the account now", destructive=True),
                    A("Cancel", href=back, cls=ButtonT.ghost),
                    cls="flex flex-wrap gap-2",
                ),
                method="post",
                action=view.process_url,
            ),
            body_cls="space-y-4",
        ),
        cls="space-y-6 max-w-2xl",
    )


def HoldForm(
    view: PendingView,
    csrf: str,
    back: str,
    prefs: DisplayPrefs,
    *,
    value: str = "",
    error: str | None = None,
    message: str | None = None,
) -> FT:
    """Placing a legal hold: the reason is required and shown to administrators until released."""
    return Div(
        PageHeading("Place a legal hold", "The erasure waits, even when due, until the hold is released."),
        FormErrors(message),
        Card(
            _account(view, prefs),
            Form(
                CsrfField(csrf),
                FormField(
                    "Reason for the hold",
                    "reason",
                    value=value,
                    error=error,
                    help="For example the matter or the request that requires keeping the data.",
                    field_id="hold-reason",
                ),
                Div(
                    SubmitButton("Place legal hold"),
                    A("Cancel", href=back, cls=ButtonT.ghost),
                    cls="flex flex-wrap gap-2",
                ),
                method="post",
                action=view.hold_url,
                cls="space-y-4",
            ),
            body_cls="space-y-4",
        ),
        cls="space-y-6 max-w-2xl",
    )
