"""Components of ``/admin/files``: every file, per-user usage with quota overrides, quarantine.
Pure: data in, FT out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fasthtml.common import FT, A, Div, Form, Input, P, Span, Td, Time, Tr
from monsterui.franken import Button, ButtonT, Card, TextPresets

from fastapp.files.components import STATUS_LABELS, StatusBadge, format_bytes
from fastapp.files.models import StoredFile
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

STATUS_FILTERS = [
    ("", "Every status"),
    *((str(k), label) for k, (label, _) in STATUS_LABELS.items()),
    ("deleted", "Deleted"),
]


@dataclass(frozen=True)
class Owner:
    """How an owner is shown: their email and name, as the accounts domain knows them."""

    email: str
    display_name: str


@dataclass(frozen=True)
class UsageView:
    """One user's usage and limits, for the usage table."""

    user_id: str
    owner: Owner | None
    bytes: int
    files: int
    max_bytes: int | None
    max_files: int | None
    overridden: bool


def _when(value: datetime | None) -> FT | str:
    return Time(value.strftime("%Y-%m-%d %H:%M UTC"), datetime=value.isoformat()) if value else ""


def _owner(owner: Owner | None, fallback: str) -> FT:
    if owner is None:
        return Span(fallback, cls="break-all")
    return Div(Span(owner.display_name or owner.email), P(owner.email, cls=TextPresets.muted_sm + " break-all"))


def AdminNav(current: str, links: Sequence[tuple[str, str]]) -> FT:
    return Div(
        *(
            A(
                label,
                href=url,
                aria_current="page" if label == current else None,
                cls=("uk-btn uk-btn-sm", ButtonT.primary if label == current else ButtonT.ghost),
            )
            for label, url in links
        ),
        role="navigation",
        aria_label="File administration",
        cls="flex flex-wrap gap-2",
    )


def AdminFilterForm(action: str, values: dict[str, str]) -> FT:
    return Form(
        Div(
            FormField(
                "File name", "q", type="search", value=values.get("q", ""), required=False, field_id="admin-files-q"
            ),
            FormField(
                "Owner's user id",
                "owner",
                type="search",
                value=values.get("owner", ""),
                required=False,
                help="The usage table links to each user's files.",
                field_id="admin-files-owner",
            ),
            SelectField(
                "Status", "status", STATUS_FILTERS, selected=values.get("status", ""), field_id="admin-files-status"
            ),
            Div(SubmitButton("Search"), cls="flex items-end"),
            cls="grid gap-4 sm:grid-cols-2 lg:grid-cols-[2fr_2fr_1fr_auto]",
        ),
        method="get",
        action=action,
        aria_label="Search files",
    )


def AdminFileRow(row: StoredFile, owner: Owner | None) -> FT:
    return Tr(
        Td(Span(row.name, cls="break-all"), P(row.content_type, cls=TextPresets.muted_sm)),
        Td(_owner(owner, str(row.owner_id))),
        Td(format_bytes(row.size), cls="whitespace-nowrap"),
        Td(StatusBadge(row.status), Span(" deleted", cls="badge badge-ghost badge-sm") if row.deleted_at else None),
        Td(_when(row.created_at), cls="whitespace-nowrap"),
    )


def QuarantineRow(row: StoredFile, owner: Owner | None) -> FT:
    return Tr(
        Td(Span(row.name, cls="break-all")),
        Td(_owner(owner, str(row.owner_id))),
        Td(row.scan_detail or "", cls="break-all"),
        Td(_when(row.scanned_at), cls="whitespace-nowrap"),
    )


def _limit(value: int | None, bytes_: bool) -> str:
    if value is None:
        return "No limit"
    return format_bytes(value) if bytes_ else str(value)


def QuotaForm(
    usage: UsageView,
    action: str,
    csrf: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> FT:
    """Override one user's quota; blank fields go back to the default of their roles."""
    errors = errors or {}
    shown = values or {}
    ident = f"quota-{usage.user_id}"
    who = usage.owner.email if usage.owner else usage.user_id
    return Form(
        CsrfField(csrf),
        Input(type="hidden", name="user_id", value=usage.user_id),
        FormField(
            f"Storage limit in MiB for {who}",
            "max_mb",
            type="number",
            value=shown.get(
                "max_mb", str(usage.max_bytes // (1024 * 1024)) if usage.overridden and usage.max_bytes else ""
            ),
            error=errors.get("max_bytes") or errors.get("max_mb"),
            required=False,
            field_id=f"{ident}-mb",
        ),
        FormField(
            f"File limit for {who}",
            "max_files",
            type="number",
            value=shown.get("max_files", str(usage.max_files) if usage.overridden and usage.max_files else ""),
            error=errors.get("max_files"),
            required=False,
            field_id=f"{ident}-files",
        ),
        Button("Save", Span(f" quota of {who}", cls="sr-only"), cls=(ButtonT.primary, ButtonT.xs), type="submit"),
        P("Leave blank to use the default.", cls=TextPresets.muted_sm),
        method="post",
        action=action,
        cls="space-y-2 min-w-48",
        aria_label=f"Quota of {who}",
    )


def UsageRow(
    usage: UsageView,
    action: str,
    csrf: str,
    files_url: str,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> FT:
    return Tr(
        Td(_owner(usage.owner, usage.user_id)),
        Td(format_bytes(usage.bytes), cls="whitespace-nowrap"),
        Td(
            A(
                str(usage.files),
                Span(f" files of {usage.owner.email if usage.owner else usage.user_id}", cls="sr-only"),
                href=files_url,
                cls="underline",
            ),
            cls="relative",
        ),
        Td(
            P(_limit(usage.max_bytes, True), " · ", _limit(usage.max_files, False) + " files"),
            P("Override" if usage.overridden else "Default", cls=TextPresets.muted_sm),
        ),
        Td(QuotaForm(usage, action, csrf, values=values, errors=errors), cls="relative"),  # keeps sr-only text inside
        id=f"usage-{usage.user_id}",
    )


def Pager(next_url: str | None, first_url: str | None) -> FT | None:
    if next_url is None and first_url is None:
        return None
    return Div(
        A("First page", href=first_url, cls="uk-btn uk-btn-default uk-btn-sm") if first_url else None,
        A("Next page", href=next_url, cls="uk-btn uk-btn-default uk-btn-sm") if next_url else None,
        role="navigation",
        aria_label="Pages",
        cls="flex gap-2",
    )


def AdminPage(title: str, nav: FT, *parts: FT | None, notice: str | None = None, error: str | None = None) -> FT:
    return Div(
        PageHeading("Files (admin)", title),
        nav,
        Div(P(notice), cls="alert alert-success", role="status") if notice else None,
        FormErrors(error),
        *(Card(p, cls="min-w-0 space-y-4") for p in parts if p is not None),
        cls="space-y-6",
    )


def FilesTable(rows: Sequence[FT], pager: FT | None, *, searched: bool) -> FT:
    if not rows:
        return EmptyState(
            "No files", "No file matches." if searched else "Nobody has uploaded a file yet.", icon="file"
        )
    return Div(DataTable("All files", ["Name", "Owner", "Size", "Status", "Uploaded"], rows, label="All files"), pager)


def UsageTable(rows: Sequence[FT], pager: FT | None) -> FT:
    if not rows:
        return EmptyState("No usage", "Nobody has uploaded a file yet.", icon="hard-drive")
    return Div(
        DataTable("Usage per user", ["User", "Used", "Files", "Limits", "Override"], rows, label="Usage per user"),
        pager,
    )


def QuarantineTable(rows: Sequence[FT]) -> FT:
    if not rows:
        return EmptyState("Nothing quarantined", "No upload was found infected.", icon="shield-check")
    return DataTable("Quarantined files", ["Name", "Owner", "Threat", "Scanned"], rows, label="Quarantined files")
