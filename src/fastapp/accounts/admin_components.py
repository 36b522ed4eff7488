"""Components of the roles administration page."""

from __future__ import annotations

from dataclasses import dataclass

from fasthtml.common import (
    FT,
    Dd,
    Div,
    Dl,
    Dt,
    Fieldset,
    Form,
    Input,
    Label,
    Legend,
    P,
    Span,
    Td,
    Th,
    Tr,
)
from monsterui.daisy import AlertT
from monsterui.franken import H2, Card, TextPresets

from fastapp.ui.components import CsrfField, DataTable, FormErrors, FormField, PageHeading, SelectField, SubmitButton


@dataclass(frozen=True)
class RoleView:
    name: str
    description: str
    parent: str | None
    built_in: bool
    permissions: tuple[str, ...]
    members: int


def RolesTable(roles: list[RoleView]) -> FT:
    rows = [
        Tr(
            Th(
                Span(r.name, cls="font-medium"),
                Span(" · built-in", cls=TextPresets.muted_sm) if r.built_in else None,
                scope="row",
            ),
            Td(r.parent or "—"),
            Td(r.description or "—"),
            Td(", ".join(r.permissions) or "none"),
            Td(str(r.members)),
        )
        for r in roles
    ]
    return Card(
        DataTable(
            "Roles and what each may do. A role also holds every permission of the role it extends.",
            ("Role", "Extends", "Description", "Permissions", "Users"),
            rows,
            label="Roles table",
        ),
        header=H2("Roles", cls="text-lg"),
        cls="min-w-0",  # a grid item may shrink below the table's width; the table scrolls inside
    )


def NewRoleForm(
    action: str,
    csrf: str,
    *,
    roles: list[str],
    permissions: dict[str, str],
    grantable: frozenset[str],
    values: dict[str, str],
    chosen: frozenset[str],
    errors: dict[str, str],
    message: str | None,
) -> FT:
    boxes = [
        Div(
            Input(
                type="checkbox",
                id=f"permission-{name}",
                name="permissions",
                value=name,
                cls="uk-checkbox",
                checked=name in chosen,
                disabled=name not in grantable,
            ),
            Label(
                Span(name, cls="font-medium"),
                Span(f" · {text}" + ("" if name in grantable else " (you do not hold it)"), cls=TextPresets.muted_sm),
                fr=f"permission-{name}",
            ),
            cls="flex items-center gap-2",
        )
        for name, text in permissions.items()
    ]
    return Card(
        Form(
            FormErrors(message),
            CsrfField(csrf),
            FormField(
                "Name",
                "name",
                value=values.get("name", ""),
                error=errors.get("name"),
                field_id="role-name",
                help="2 to 64 letters, digits, - or _, e.g. support.",
            ),
            FormField(
                "Description",
                "description",
                value=values.get("description", ""),
                error=errors.get("description"),
                field_id="role-description",
                required=False,
            ),
            SelectField(
                "Extends",
                "parent",
                [("", "nothing (only the permissions below)"), *((r, r) for r in roles)],
                selected=values.get("parent", "member"),
                error=errors.get("parent"),
            ),
            Fieldset(
                Legend("Permissions", cls="uk-form-label"),
                *boxes,
                P(errors["permissions"], cls="text-sm text-red-700 dark:text-red-400", role="alert")
                if errors.get("permissions")
                else None,
                cls="space-y-1",
            ),
            SubmitButton("Create role"),
            method="post",
            action=action,
            cls="space-y-4",
            novalidate=True,
        ),
        header=H2("Create a role", cls="text-lg"),
    )


def AssignRoleForm(
    action: str, csrf: str, *, roles: list[str], values: dict[str, str], errors: dict[str, str], message: str | None
) -> FT:
    return Card(
        Form(
            FormErrors(message),
            CsrfField(csrf),
            FormField(
                "Email of the account",
                "email",
                type="email",
                value=values.get("email", ""),
                error=errors.get("email"),
                field_id="assign-email",
                autocomplete="off",
            ),
            SelectField(
                "Role", "role", [(r, r) for r in roles], selected=values.get("role", ""), error=errors.get("role")
            ),
            P("The user gets exactly this role, from their next request on.", cls=TextPresets.muted_sm),
            SubmitButton("Assign role"),
            method="post",
            action=action,
            cls="space-y-4",
            novalidate=True,
        ),
        header=H2("Assign a role", cls="text-lg"),
    )


def RolesPage(notice: str | None, table: FT, assign: FT, create: FT) -> FT:
    return Div(
        PageHeading("Roles", "Who may do what. Checks are always by permission, never by role name."),
        Div(Span(notice), cls=("alert", AlertT.success), role="status") if notice else None,
        Div(table, assign, create, cls="grid gap-6"),
        cls="space-y-6",
    )


@dataclass(frozen=True)
class UserView:
    email: str
    display_name: str
    status: str
    verified: bool
    two_factor: bool
    created: str
    roles: tuple[str, ...]


def UserDetail(user: UserView, sessions: list[tuple[str, str, str]], activity: FT) -> FT:
    """An account as an administrator sees it: who, status, roles, where signed in, recent events."""
    facts = [
        ("Email", user.email),
        ("Status", user.status + ("" if user.verified else " (email not verified)")),
        ("Two-factor sign-in", "on" if user.two_factor else "off"),
        ("Roles", ", ".join(user.roles) or "none"),
        ("Created", user.created),
    ]
    rows = [Tr(Td(device), Td(ip), Td(seen)) for device, ip, seen in sessions]
    return Div(
        PageHeading(user.display_name, "Opening this page is recorded in the audit log."),
        Div(
            Card(
                Dl(
                    *(part for label, value in facts for part in (Dt(label, cls="font-medium"), Dd(value))),
                    cls="grid gap-2 sm:grid-cols-[12rem_1fr]",
                ),
                header=H2("Account", cls="text-lg"),
                cls="min-w-0",
            ),
            Card(
                DataTable(
                    "Where this user is signed in",
                    ("Device", "IP address", "Last active"),
                    rows,
                    label="Sessions table",
                )
                if rows
                else P("Not signed in anywhere.", cls=TextPresets.muted_sm),
                header=H2("Sessions", cls="text-lg"),
                cls="min-w-0",
            ),
            activity,
            cls="grid gap-6",
        ),
        cls="space-y-6",
    )
