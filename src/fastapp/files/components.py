"""Components of the file manager (``/files``): the uploader, the quota bar, the filters, the
list of files with their actions, and the recently deleted view. Pure: data in, FT out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from fasthtml.common import (
    FT,
    A,
    Details,
    Div,
    Form,
    Img,
    Input,
    Label,
    P,
    Progress,
    Span,
    Summary,
    Td,
    Tr,
    Ul,
)
from monsterui.franken import Button, ButtonT, Card, TextPresets, UkIcon

from fastapp.files.models import FileStatus, StoredFile
from fastapp.ui.components import CsrfField, DataTable, EmptyState, FormField, PageHeading, SelectField, SubmitButton
from fastapp.ui.dates import DEFAULT_DISPLAY, DateTime, DisplayPrefs

RESULTS_ID = "file-results"
#: The event app.js fires on the results region once uploads are done: it reloads itself.
REFRESH_EVENT = "files-changed"
SORTS = (
    ("newest", "Newest first"),
    ("oldest", "Oldest first"),
    ("name", "Name (A to Z)"),
    ("name_desc", "Name (Z to A)"),
    ("largest", "Largest first"),
    ("smallest", "Smallest first"),
)
#: The type filter; the keys are those of ``services.TYPE_GROUPS``.
KINDS = (
    ("", "Every type"),
    ("image", "Images"),
    ("pdf", "PDFs"),
    ("office", "Office documents"),
    ("text", "Text and CSV"),
)
VIEWS = (("active", "My files"), ("deleted", "Recently deleted"))
STATUS_LABELS: dict[str, tuple[str, str]] = {
    FileStatus.pending_scan: ("Pending scan", "badge-warning"),
    FileStatus.clean: ("Clean", "badge-success"),
    FileStatus.infected: ("Quarantined", "badge-error"),
    FileStatus.unscanned: ("Unscanned", "badge-ghost"),
}


@dataclass(frozen=True)
class FileUrls:
    """Where each action of one file goes (built by the page from its routes)."""

    download: str
    inline: str
    rename: str
    delete: str
    restore: str


def format_bytes(size: int) -> str:
    """``1536`` -> ``1.5 KiB``: binary units (as the upload limits are stated), one decimal."""
    if size < 1024:
        return f"{size} bytes"
    value, unit = size / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.1f} {unit}".replace(".0 ", " ")


def query_url(path: str, values: dict[str, str]) -> str:
    kept = {k: v for k, v in values.items() if v}
    return f"{path}?{urlencode(kept)}" if kept else path


def _when(value: datetime, prefs: DisplayPrefs = DEFAULT_DISPLAY) -> FT:
    return DateTime(value, prefs)


def StatusBadge(status: str) -> FT:
    """The scan status as a badge; its text, not only its colour, says what it means."""
    label, tone = STATUS_LABELS.get(status, (status, "badge-ghost"))
    return Span(label, cls=f"badge {tone} badge-sm whitespace-nowrap", data_status=status)


def servable(row: StoredFile) -> bool:
    """Whether the owner may open the file: never while pending or quarantined."""
    return row.status in (FileStatus.clean, FileStatus.unscanned)


# -- the uploader ---------------------------------------------------------------------------------


def UploadForm(action: str, api_url: str, csrf: str, *, accept: str = "", error: str | None = None) -> FT:
    """Pick files (a labelled ``<input type=file multiple>``) or drop them on the zone.

    With JavaScript app.js sends each file to ``api_url`` with a progress bar and reloads the
    list; without, the form posts to ``action`` as plain multipart and the page redirects back.
    """
    return Form(
        CsrfField(csrf),
        Div(
            UkIcon("upload", height=32, width=32, aria_hidden="true"),
            Label("Choose files to upload", fr="file-input", cls="font-semibold"),
            P("or drop them here.", cls=TextPresets.muted_sm),
            Input(
                type="file",
                id="file-input",
                name="file",
                multiple=True,
                accept=accept or None,
                cls="block w-full max-w-xs text-sm",
                aria_describedby="file-input-help",
            ),
            P(
                "Each file is checked for viruses before it can be downloaded.",
                id="file-input-help",
                cls=TextPresets.muted_sm,
            ),
            Div(SubmitButton("Upload"), cls="pt-2"),
            data_drop_zone="",
            cls=(
                "flex flex-col items-center gap-2 rounded-lg border-2 border-dashed border-border p-6 text-center "
                "data-[dragging]:border-primary data-[dragging]:bg-muted"
            ),
        ),
        P(error, cls="text-sm text-red-700 dark:text-red-400", role="alert") if error else None,
        Ul(data_upload_list="", aria_live="polite", aria_label="Uploads", cls="space-y-3"),
        method="post",
        action=action,
        enctype="multipart/form-data",
        data_uploader="",
        data_upload_url=api_url,
        data_refresh_target=f"#{RESULTS_ID}",
        aria_label="Upload files",
        cls="space-y-4",
    )


def QuotaBar(used_bytes: int, max_bytes: int | None, used_files: int, max_files: int | None) -> FT:
    """How much of the quota is used, as a labelled ``<progress>`` (bytes) and a count."""
    if max_bytes:
        percent = min(100, round(used_bytes * 100 / max_bytes))
        text = f"{format_bytes(used_bytes)} of {format_bytes(max_bytes)} used ({percent} %)"
        bar: FT | None = Progress(
            value=str(min(used_bytes, max_bytes)),
            max=str(max_bytes),
            id="quota-progress",
            aria_label="Storage used",
            aria_valuetext=text,
            cls="uk-progress w-full",
        )
    else:
        text, bar = f"{format_bytes(used_bytes)} used (no limit)", None
    files = f"{used_files} of {max_files} files" if max_files else f"{used_files} files"
    return Div(
        P(Span("Storage: ", cls="font-semibold"), text, cls="text-sm"),
        bar,
        P(files, cls=TextPresets.muted_sm),
        id="quota",
        cls="space-y-1",
    )


def FilterForm(action: str, values: dict[str, str]) -> FT:
    """Search, type and sort: a GET form (bookmarkable) that HTMX upgrades to swap the list."""
    return Form(
        Input(type="hidden", name="view", value=values.get("view", "active")),
        Div(
            FormField(
                "Search by name", "q", type="search", value=values.get("q", ""), required=False, field_id="files-q"
            ),
            SelectField("Type", "kind", list(KINDS), selected=values.get("kind", ""), field_id="files-kind"),
            SelectField("Sort", "sort", list(SORTS), selected=values.get("sort", "newest"), field_id="files-sort"),
            Div(SubmitButton("Show"), cls="flex items-end"),
            cls="grid gap-4 sm:grid-cols-2 lg:grid-cols-[2fr_1fr_1fr_auto]",
        ),
        method="get",
        action=action,
        hx_get=action,
        hx_target=f"#{RESULTS_ID}",
        hx_push_url="true",
        aria_label="Filter files",
    )


def ViewTabs(current: str, urls: dict[str, str]) -> FT:
    return Div(
        *(
            A(
                label,
                href=urls[key],
                aria_current="page" if key == current else None,
                cls=("uk-btn uk-btn-sm", ButtonT.primary if key == current else ButtonT.ghost),
            )
            for key, label in VIEWS
        ),
        cls="flex flex-wrap gap-2",
        role="navigation",
        aria_label="File views",
    )


# -- one file -------------------------------------------------------------------------------------


def Preview(row: StoredFile, inline_url: str) -> FT | None:
    """An image, shown inline; a PDF, opened in the browser's PDF viewer in a new tab; other types
    have no preview (downloads serve only these inline, so an office file is never rendered by
    the browser from our origin)."""
    if not servable(row):
        return None
    if row.content_type == "application/pdf":
        return A(
            "Open the PDF in a new tab",
            Span(f" ({row.name})", cls="sr-only"),
            href=inline_url,
            target="_blank",
            rel="noopener",
            cls="underline",
        )
    if not row.content_type.startswith("image/"):
        return None
    return Img(src=inline_url, alt=f"Preview of {row.name}", loading="lazy", cls="max-h-80 max-w-full rounded")


def RenameForm(
    row: StoredFile, url: str, csrf: str, back: str, *, value: str | None = None, error: str | None = None
) -> FT:
    ident = f"rename-{row.id}"
    return Form(
        CsrfField(csrf),
        Input(type="hidden", name="next", value=back),
        FormField("New name", "name", value=value if value is not None else row.name, error=error, field_id=ident),
        Button("Rename", Span(f" ({row.name})", cls="sr-only"), cls=(ButtonT.primary, ButtonT.xs), type="submit"),
        method="post",
        action=url,
        hx_post=url,
        hx_target=f"#file-{row.id}",
        hx_swap="outerHTML",
        cls="space-y-2 min-w-48",
    )


def FileRow(
    row: StoredFile,
    urls: FileUrls,
    csrf: str,
    back: str,
    *,
    rename_value: str | None = None,
    rename_error: str | None = None,
    prefs: DisplayPrefs = DEFAULT_DISPLAY,
) -> FT:
    """One file with its actions: preview, download, rename (inline), delete (asks first)."""
    ok = servable(row)
    preview = Preview(row, urls.inline)
    name: FT = (
        A(row.name, href=urls.inline, target="_blank", rel="noopener", cls="underline break-all")
        if ok
        else Span(row.name, cls="break-all")
    )
    actions: list[FT | None] = [
        A("Download", Span(f" {row.name}", cls="sr-only"), href=urls.download, cls="uk-btn uk-btn-default uk-btn-xs")
        if ok
        else None,
        Details(
            Summary(
                "Preview", Span(f" {row.name}", cls="sr-only"), cls="uk-btn uk-btn-default uk-btn-xs cursor-pointer"
            ),
            Div(preview, cls="pt-2"),
        )
        if preview is not None
        else None,
        Details(
            Summary(
                "Rename", Span(f" {row.name}", cls="sr-only"), cls="uk-btn uk-btn-default uk-btn-xs cursor-pointer"
            ),
            Div(RenameForm(row, urls.rename, csrf, back, value=rename_value, error=rename_error), cls="pt-2"),
            open=rename_error is not None,
        ),
        Form(
            CsrfField(csrf),
            Input(type="hidden", name="next", value=back),
            Button("Delete", Span(f" {row.name}", cls="sr-only"), cls=(ButtonT.destructive, ButtonT.xs), type="submit"),
            method="post",
            action=urls.delete,
            hx_post=urls.delete,
            hx_target=f"#{RESULTS_ID}",
            hx_swap="outerHTML",
            data_confirm=f"Delete {row.name}? You can restore it from Recently deleted for 30 days.",
        ),
    ]
    return Tr(
        Td(name, P(row.content_type, cls=TextPresets.muted_sm)),
        Td(format_bytes(row.size), cls="whitespace-nowrap"),
        Td(_when(row.created_at, prefs), cls="whitespace-nowrap"),
        Td(StatusBadge(row.status)),
        # relative: the sr-only labels are positioned; their box must stay inside the scrolling table.
        Td(Div(*(a for a in actions if a is not None), cls="flex flex-wrap items-start gap-2"), cls="relative"),
        id=f"file-{row.id}",
    )


def DeletedRow(
    row: StoredFile,
    restore_url: str,
    purge_at: datetime,
    csrf: str,
    back: str,
    *,
    prefs: DisplayPrefs = DEFAULT_DISPLAY,
) -> FT:
    return Tr(
        Td(Span(row.name, cls="break-all")),
        Td(format_bytes(row.size), cls="whitespace-nowrap"),
        Td(_when(row.deleted_at, prefs) if row.deleted_at else "", cls="whitespace-nowrap"),
        Td(_when(purge_at, prefs), cls="whitespace-nowrap"),
        Td(
            Form(
                CsrfField(csrf),
                Input(type="hidden", name="next", value=back),
                Button(
                    "Restore", Span(f" {row.name}", cls="sr-only"), cls=(ButtonT.default, ButtonT.xs), type="submit"
                ),
                method="post",
                action=restore_url,
                hx_post=restore_url,
                hx_target=f"#{RESULTS_ID}",
                hx_swap="outerHTML",
            ),
            cls="relative",
        ),
        id=f"file-{row.id}",
    )


# -- the list -------------------------------------------------------------------------------------


def Pager(previous_url: str | None, next_url: str | None, summary: str) -> FT:
    def link(label: str, url: str | None) -> FT | None:
        if url is None:
            return None
        return A(
            label,
            href=url,
            hx_get=url,
            hx_target=f"#{RESULTS_ID}",
            hx_push_url="true",
            cls="uk-btn uk-btn-default uk-btn-sm",
        )

    return Div(
        P(summary, cls=TextPresets.muted_sm),
        Div(link("Previous page", previous_url), link("Next page", next_url), cls="flex gap-2"),
        cls="flex flex-wrap items-center justify-between gap-2",
        aria_label="Pages",
        role="navigation",
    )


def Results(
    *,
    view: str,
    rows: Sequence[FT],
    refresh_url: str,
    quota: FT | None,
    pager: FT | None,
    searched: bool,
) -> FT:
    """The region the filters, pager, deletes, restores and finished uploads swap."""
    if rows:
        headers = (
            ["Name", "Size", "Deleted", "Purged after", "Actions"]
            if view == "deleted"
            else ["Name", "Size", "Uploaded", "Status", "Actions"]
        )
        caption = "Recently deleted files" if view == "deleted" else "Your files"
        body: FT = DataTable(caption, headers, rows, label=caption)
    elif view == "deleted":
        body = EmptyState(
            "Nothing deleted", "Files you delete wait here for 30 days before they are purged.", icon="trash-2"
        )
    elif searched:
        body = EmptyState("No matching files", "Try another name or type.", icon="search")
    else:
        body = EmptyState("No files yet", "Upload a file above: it shows up here.", icon="file")
    return Div(
        Card(quota, cls="min-w-0") if quota is not None else None,
        Card(body, pager, cls="min-w-0 space-y-4"),
        id=RESULTS_ID,
        hx_get=refresh_url,
        hx_trigger=REFRESH_EVENT,
        hx_target="this",
        hx_swap="outerHTML",
        aria_live="polite",
        cls="min-w-0 space-y-6",
    )


def FilesPage(*, upload: FT | None, tabs: FT, filters: FT | None, results: FT) -> FT:
    return Div(
        PageHeading("Files", "Upload, preview, rename and delete your files."),
        Card(upload, cls="min-w-0") if upload is not None else None,
        tabs,
        Card(filters, cls="min-w-0") if filters is not None else None,
        results,
        cls="space-y-6",
    )
