"""Components of the user list (``/admin/users``): the filter form, the table, paging, empty state."""

from __future__ import annotations

from dataclasses import dataclass

from fasthtml.common import FT, A, Div, Form, Input, Label, Li, P, Span, Td, Th, Tr, Ul
from monsterui.daisy import AlertT
from monsterui.franken import H2, ButtonT, Card, TextPresets

from fastapp.accounts.directory import BULK_ACTIONS
from fastapp.ui.components import (
    CsrfField,
    DataTable,
    EmptyState,
    FormErrors,
    FormField,
    PageHeading,
    SelectField,
    SubmitButton,
)


@dataclass(frozen=True)
class UserRow:
    id: str
    href: str
    email: str
    display_name: str
    status: str
    verified: bool
    two_factor: bool
    roles: tuple[str, ...]
    created: str


def UserFilters(
    action: str,
    values: dict[str, str],
    *,
    roles: list[str],
    statuses: tuple[str, ...],
    errors: dict[str, str],
    message: str | None,
) -> FT:
    """A GET form: the filters live in the URL, so a filtered list can be bookmarked and shared."""
    either = [("", "either"), ("yes", "yes"), ("no", "no")]
    return Card(
        Form(
            FormErrors(message),
            Div(
                FormField(
                    "Search",
                    "q",
                    type="search",
                    value=values.get("q", ""),
                    required=False,
                    field_id="users-q",
                    help="Part of an email address or name.",
                ),
                SelectField("Role", "role", [("", "any"), *((r, r) for r in roles)], selected=values.get("role", "")),
                SelectField(
                    "Status",
                    "status",
                    [("", "any"), *((s, s.replace("_", " ")) for s in statuses)],
                    selected=values.get("status", ""),
                    error=errors.get("status"),
                ),
                SelectField("Email verified", "verified", either, selected=values.get("verified", "")),
                SelectField("Two-factor sign-in", "two_factor", either, selected=values.get("two_factor", "")),
                FormField(
                    "Created from",
                    "created_from",
                    type="date",
                    value=values.get("created_from", ""),
                    required=False,
                    error=errors.get("created_from"),
                    field_id="users-created-from",
                ),
                FormField(
                    "Created to",
                    "created_to",
                    type="date",
                    value=values.get("created_to", ""),
                    required=False,
                    error=errors.get("created_to"),
                    field_id="users-created-to",
                ),
                SelectField(
                    "Sort by",
                    "sort",
                    [("created", "newest first"), ("email", "email A to Z"), ("name", "name A to Z")],
                    selected=values.get("sort", "created"),
                    error=errors.get("sort"),
                ),
                cls="grid gap-4 sm:grid-cols-2 lg:grid-cols-4",
            ),
            Div(
                SubmitButton("Show users"),  # a GET form: nothing changes, so no CSRF token
                A("Clear filters", href=action, cls=ButtonT.ghost),
                cls="flex flex-wrap gap-2",
            ),
            method="get",
            action=action,
            cls="space-y-4",
            role="search",
            aria_label="Filter users",
        )
    )


def UsersTable(rows: list[UserRow], *, selectable: bool = False) -> FT:
    """The table; with ``selectable`` each row has a labelled checkbox for bulk actions."""

    def pick(r: UserRow) -> FT | None:
        if not selectable:
            return None
        ident = f"select-{r.id}"
        return Td(
            Input(type="checkbox", name="ids", value=r.id, id=ident, cls="uk-checkbox"),
            Label(f"Select {r.email}", fr=ident, cls="sr-only"),
        )

    body = [
        Tr(
            pick(r),
            Th(
                A(r.display_name, href=r.href, cls="font-medium underline"),
                Span(r.email, cls=("block", TextPresets.muted_sm)),
                scope="row",
            ),
            Td(r.status.replace("_", " ") + ("" if r.verified else " · not verified")),
            Td(", ".join(r.roles) or "none"),
            Td("on" if r.two_factor else "off"),
            Td(r.created),
        )
        for r in rows
    ]
    return DataTable(
        "User accounts matching the filters",
        (*(("Select",) if selectable else ()), "User", "Status", "Roles", "Two-factor", "Created"),
        body,
        label="Users table",
    )


def BulkBar(roles: list[str]) -> FT:
    """Below a selectable table: what to do with the selected users (reviewed on the next page)."""
    return Div(
        SelectField(
            "With the selected users",
            "action",
            [(key, label) for key, label in BULK_ACTIONS.items()],
            field_id="bulk-action",
        ),
        SelectField("Role to assign", "role", [(r, r) for r in roles], field_id="bulk-role"),
        Div(SubmitButton("Review selection"), cls="self-end"),
        cls="grid gap-4 sm:grid-cols-3",
    )


def UsersPage(
    filters: FT,
    rows: list[UserRow],
    *,
    next_href: str | None,
    first_href: str | None,
    bulk_href: str | None = None,
    roles: list[str] | None = None,
    notice: str | None = None,
) -> FT:
    """The list, or an empty state; paging forward by cursor, and back to the first page. With
    ``bulk_href`` (viewers with ``users:manage``) rows can be selected for a bulk action: a GET form
    to the review page, which changes nothing yet."""
    if rows and bulk_href:
        listing: FT = Card(
            Form(
                UsersTable(rows, selectable=True),
                BulkBar(roles or []),
                method="get",
                action=bulk_href,
                cls="space-y-4",
                aria_label="Bulk actions",
            ),
            cls="min-w-0",
        )
    elif rows:
        listing = Card(UsersTable(rows), cls="min-w-0")
    else:
        listing = EmptyState("No users match", "Change or clear the filters to see more accounts.", icon="users")
    paging = [
        A("First page", href=first_href, cls=ButtonT.ghost) if first_href else None,
        A("Next page", href=next_href, cls=ButtonT.default, rel="next") if next_href else None,
    ]
    return Div(
        PageHeading("Users", "Every account: search, filter and open one to manage it."),
        Notice(notice),
        filters,
        listing,
        Div(*paging, cls="flex flex-wrap gap-2 justify-end") if any(paging) else None,
        cls="space-y-6",
    )


def _action(href: str, csrf: str, label: str, *, confirm: str | None = None, destructive: bool = False) -> FT:
    return Form(
        CsrfField(csrf),
        SubmitButton(label, destructive=destructive),
        method="post",
        action=href,
        data_confirm=confirm,
    )


def UserActions(
    base: str,
    csrf: str,
    *,
    email: str,
    status: str,
    verified: bool,
    reset_required: bool,
    roles: list[str],
    current_role: str,
    quota_href: str,
    files: str | None = None,
) -> FT:
    """What an administrator with ``users:manage`` may do to this account. Destructive actions ask
    for confirmation (``data-confirm``, see frontend app.js) before the form is sent."""
    buttons = [
        _action(f"{base}/reactivate", csrf, "Reactivate")
        if status == "deactivated"
        else _action(
            f"{base}/deactivate",
            csrf,
            "Deactivate",
            confirm=f"Deactivate {email}? They are signed out everywhere and cannot sign in.",
            destructive=True,
        ),
        _action(
            f"{base}/end-sessions",
            csrf,
            "End all sessions",
            confirm=f"Sign {email} out on every device?",
            destructive=True,
        ),
        None if verified else _action(f"{base}/resend-verification", csrf, "Resend verification email"),
        None
        if reset_required
        else _action(
            f"{base}/require-password-reset",
            csrf,
            "Require a new password",
            confirm=f"Make {email} choose a new password at their next sign-in?",
        ),
    ]
    return Card(
        Div(
            Form(
                CsrfField(csrf),
                SelectField("Role", "role", [(r, r) for r in roles], selected=current_role, field_id="user-role"),
                SubmitButton("Change role"),
                method="post",
                action=f"{base}/role",
                cls="space-y-2",
            ),
            Div(*buttons, cls="flex flex-wrap gap-2"),
            P(
                "Password reset required at next sign-in. " if reset_required else None,
                f"{files} " if files else None,
                A("File usage and quota", href=quota_href, cls="underline"),
                cls=TextPresets.muted_sm,
            ),
            cls="space-y-4",
        ),
        header=H2("Manage", cls="text-lg"),
    )


def Notice(text: str | None) -> FT | None:
    return Div(Span(text), cls=("alert", AlertT.success), role="status") if text else None


def BulkReview(
    action_href: str,
    back_href: str,
    csrf: str,
    *,
    action: str,
    role: str,
    users: list[tuple[str, str, str]],
    error: str | None = None,
) -> FT:
    """The confirmation step: exactly which accounts the action applies to; nothing changes until
    it is confirmed. ``users`` is (id, display name, email)."""
    label = BULK_ACTIONS[action] + (f" {role}" if action == "role" else "")
    return Div(
        PageHeading(f"{label}: {len(users)} users", "Check the list, then confirm. It is applied to all or none."),
        FormErrors(error),
        Card(
            Ul(*(Li(Span(name, cls="font-medium"), f" · {email}") for _, name, email in users), cls="space-y-1"),
            Form(
                CsrfField(csrf),
                Input(type="hidden", name="action", value=action),
                Input(type="hidden", name="role", value=role),
                *(Input(type="hidden", name="ids", value=ident) for ident, _, _ in users),
                Div(
                    SubmitButton(f"{label} for {len(users)} users", destructive=action == "deactivate"),
                    A("Cancel", href=back_href, cls=ButtonT.ghost),
                    cls="flex flex-wrap gap-2",
                ),
                method="post",
                action=action_href,
            ),
            cls="space-y-4",
        ),
        cls="space-y-6",
    )
