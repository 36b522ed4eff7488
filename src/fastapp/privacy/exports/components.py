"""Components of the data export section of the privacy page. Pure: data in, FT out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fasthtml.common import FT, A, Div, Form, Li, P, Progress, Span, Ul
from monsterui.franken import H2, Card, TextPresets, UkIcon

from fastapp.files.components import format_bytes
from fastapp.privacy.models import DataExport, ExportStatus
from fastapp.ui.components import CsrfField, FormErrors, SubmitButton
from fastapp.ui.dates import DEFAULT_DISPLAY, DateTime, DisplayPrefs

SECTION_ID = "data-export"
PANEL_ID = "export-panel"
#: How often the panel reloads itself while the export is being prepared.
POLL = "every 2s"


@dataclass(frozen=True)
class ExportState:
    """What the panel shows: the latest export (if any) as the user sees it, and when the
    next request is possible (None: now)."""

    export: DataExport | None
    status: ExportStatus | None
    next_allowed: datetime | None


@dataclass(frozen=True)
class ExportUrls:
    request: str
    poll: str
    #: The latest export's download link (used while it is ready).
    download: str | None


def ExportPanel(
    state: ExportState,
    urls: ExportUrls,
    csrf: str,
    *,
    prefs: DisplayPrefs = DEFAULT_DISPLAY,
    error: str | None = None,
) -> FT:
    """The latest export's state and the request button; reloads itself every 2 s while the
    export is pending or running, and stops once it is done."""
    busy = state.status in {ExportStatus.pending, ExportStatus.running}
    polling = {"hx_get": urls.poll, "hx_trigger": POLL, "hx_swap": "outerHTML"} if busy else {}
    return Div(
        _Status(state, urls, prefs),
        FormErrors(error),
        None if busy else _Request(state, urls, csrf, prefs),
        id=PANEL_ID,
        cls="space-y-4",
        **polling,
    )


def _Status(state: ExportState, urls: ExportUrls, prefs: DisplayPrefs) -> FT:
    export, status = state.export, state.status
    if export is None or status is None:
        return P("You have not requested an export yet.", cls=TextPresets.muted_sm, id="export-status")
    if status in {ExportStatus.pending, ExportStatus.running}:
        text = f"Preparing your export: {export.stage or 'waiting to start'} ({export.progress} %)."
        return Div(
            P(text, id="export-status", role="status"),
            Progress(
                value=str(export.progress),
                max="100",
                id="export-progress",
                aria_label="Export progress",
                aria_valuetext=f"{export.progress} %",
                cls="uk-progress w-full",
            ),
            P(
                "You may leave this page: we will notify you and send you an email when it is ready.",
                cls=TextPresets.muted_sm,
            ),
            cls="space-y-2",
        )
    if status is ExportStatus.ready and export.expires_at is not None and urls.download:
        size = f", {format_bytes(export.size_bytes)}" if export.size_bytes else ""
        return Div(
            P("Your export is ready.", id="export-status", role="status", cls="font-semibold"),
            A(
                UkIcon("download", height=16, width=16, aria_hidden="true"),
                Span(f"Download your data (ZIP{size})"),
                href=urls.download,
                id="export-download",
                cls="uk-btn uk-btn-primary gap-2",
            ),
            P("The link works until ", DateTime(export.expires_at, prefs), ".", cls=TextPresets.muted_sm),
            cls="space-y-2",
        )
    if status is ExportStatus.expired:
        return P(
            "Your last export has expired and was deleted: request a new one to download your data.",
            id="export-status",
        )
    return Div(
        P(export.error or "Your export could not be prepared.", role="alert", id="export-status"),
        cls="alert alert-warning",
    )


def _Request(state: ExportState, urls: ExportUrls, csrf: str, prefs: DisplayPrefs) -> FT:
    if state.next_allowed is not None:
        return P(
            "You can request one export a day. The next is possible from ",
            DateTime(state.next_allowed, prefs),
            ".",
            cls=TextPresets.muted_sm,
            id="export-next",
        )
    return Form(
        CsrfField(csrf),
        P("We will ask for your password first if you signed in a while ago.", cls=TextPresets.muted_sm),
        SubmitButton("Request my data"),
        method="post",
        action=urls.request,
        hx_post=urls.request,
        hx_target=f"#{PANEL_ID}",
        hx_swap="outerHTML",
        cls="space-y-2",
    )


def ExportSection(labels: Sequence[str], panel: FT, *, link_days: int) -> FT:
    """The privacy page's section: what an export holds, then the panel."""
    return Card(
        P(
            "Get a copy of everything we keep about you, in a ZIP file you can open or take to "
            "another service. It holds:",
        ),
        Ul(
            Li("one JSON file for each kind of data", f": {', '.join(labels)}" if labels else ""),
            Li("the files you uploaded"),
            Li("a README explaining each file: what it is, why we keep it and for how long"),
            cls="uk-list uk-list-disc pl-5",
        ),
        P(
            f"Preparing it takes a few minutes. You can then download it for {link_days} days.",
            cls=TextPresets.muted_sm,
        ),
        panel,
        header=H2("Download your data", cls="text-lg", id=f"{SECTION_ID}-title"),
        id=SECTION_ID,
        aria_labelledby=f"{SECTION_ID}-title",
        cls="space-y-4",
    )
