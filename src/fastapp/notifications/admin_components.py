"""Components of ``/admin/email``: figures, chart, messages, template previews, suppressions.

Pure: data in, FT out. The chart is inline SVG drawn here (no script, nothing fetched, so the CSP
holds); it is an image with a name, and the same numbers are in a table beside it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from fasthtml.common import (
    FT,
    A,
    Dd,
    Details,
    Div,
    Dl,
    Dt,
    Form,
    Iframe,
    Input,
    Label,
    Li,
    Nav,
    Ol,
    P,
    Pre,
    Span,
    Summary,
    Td,
    Th,
    Tr,
    Ul,
)
from fasthtml.svg import G, Rect, Svg, Title
from monsterui.franken import H2, Card, TextPresets

from fastapp.notifications.analytics import Counts, Report, TemplateDay
from fastapp.notifications.models import EmailEvent, EmailMessage, EmailSuppression
from fastapp.notifications.suppression import REASONS
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

# Long addresses, URLs and provider replies wrap instead of widening the page.
_WRAP = "white-space: pre-wrap; overflow-wrap: anywhere"
_NOWRAP = "white-space: nowrap"
_BUTTON = "uk-btn uk-btn-default uk-btn-sm"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}\u00a0%"  # no break between number and sign


def EmailNav(current: str, links: Sequence[tuple[str, str]]) -> FT:
    """The email pages' own navigation; ``current`` is the label of this page."""
    return Nav(
        Ul(
            *(
                Li(
                    A(
                        label,
                        href=url,
                        cls="underline font-medium" if label == current else "underline",
                        aria_current="page" if label == current else None,
                    )
                )
                for label, url in links
            ),
            cls="flex flex-wrap gap-4",
        ),
        aria_label="Email administration",
        cls="mb-6",
    )


def Notice(message: str | None) -> FT | None:
    return Div(P(message), cls="alert alert-success", role="status") if message else None


# -- the overview -------------------------------------------------------------------------------


def RangeForm(action: str, values: dict[str, str], errors: dict[str, str], message: str | None) -> FT:
    return Form(
        FormErrors(message),
        Div(
            FormField(
                "From",
                "since",
                type="date",
                value=values.get("since", ""),
                error=errors.get("since"),
                required=False,
                field_id="range-since",
            ),
            FormField(
                "Until",
                "until",
                type="date",
                value=values.get("until", ""),
                error=errors.get("until"),
                required=False,
                field_id="range-until",
            ),
            cls="grid gap-4 sm:grid-cols-2",
        ),
        SubmitButton("Show figures"),
        method="get",
        action=action,
        cls="space-y-4",
    )


_FIGURES = ("Sent", "Delivered", "Open rate", "Click rate", "Bounce rate", "Complaint rate")


def _figures(counts: Counts) -> list[FT]:
    return [
        Td(str(counts.sent)),
        Td(str(counts.delivered)),
        Td(percent(counts.open_rate)),
        Td(percent(counts.click_rate)),
        Td(percent(counts.bounce_rate)),
        Td(percent(counts.complaint_rate)),
    ]


def TemplateTable(rows: list[tuple[str, Counts]], total: Counts, messages_url: Callable[[str, str], str]) -> FT:
    """Totals of the range per template; each template links to its messages."""
    body = [
        Tr(Th(A(template, href=messages_url(template, ""), cls="underline"), scope="row"), *_figures(counts))
        for template, counts in rows
    ]
    body.append(Tr(Th("All templates", scope="row"), *_figures(total), cls="font-medium"))
    return DataTable("Per template, over the whole range", ("Template", *_FIGURES), body, label="Figures per template")


def TemplateDayTable(rows: list[TemplateDay], messages_url: Callable[[str, str], str]) -> FT:
    """Per template and day, newest day first; the sent count opens that day's messages."""
    body = [
        Tr(
            Td(row.day.isoformat(), style=_NOWRAP),
            Th(row.template, scope="row"),
            Td(
                A(
                    str(row.counts.sent),
                    Span(f" messages of {row.template} on {row.day.isoformat()}", cls="sr-only"),
                    href=messages_url(row.template, row.day.isoformat()),
                    cls="underline",
                )
            ),
            *_figures(row.counts)[1:],
        )
        for row in sorted(rows, key=lambda r: (r.day, r.template), reverse=True)
    ]
    return DataTable(
        "Per template and day, newest first (a sent count lists those messages)",
        ("Day", "Template", *_FIGURES),
        body,
        label="Figures per template and day",
    )


_COLOURS = {
    "delivered": "hsl(var(--primary))",
    "failed": "hsl(var(--destructive))",
    "other": "hsl(var(--muted-foreground))",
}


_SWATCH = "display: inline-block; width: 0.75rem; height: 0.75rem; border-radius: 2px;"


def _swatch(key: str, label: str) -> FT:
    return Li(
        Span(
            style=f"{_SWATCH} background-color: {_COLOURS[key]}",
            aria_hidden="true",
        ),
        Span(label),
        cls="flex items-center gap-2",
    )


def DailyChart(days: list[tuple[date, Counts]]) -> FT:
    """Messages sent per day as stacked bars: delivered, bounced or complained, the rest."""
    peak = max((c.sent for _, c in days), default=0) or 1
    width, height, step = len(days) * 10, 100, 10
    bars = []
    for i, (day, counts) in enumerate(days):
        failed = counts.bounced + counts.complained
        delivered = max(0, counts.delivered - counts.complained)  # a complaint was delivered: shown as failed
        other = max(0, counts.sent - failed - delivered)
        top = float(height)
        parts = []
        for key, amount in (("delivered", delivered), ("failed", failed), ("other", other)):
            if amount:
                size = amount / peak * height
                top -= size
                parts.append(
                    Rect(
                        x=i * step + 1,
                        y=round(top, 2),
                        width=step - 2,
                        height=round(size, 2),
                        style=f"fill: {_COLOURS[key]}",
                    )
                )
        label = f"{day.isoformat()}: {counts.sent} sent, {counts.delivered} delivered, {failed} bounced or complained"
        bars.append(G(Title(label), *parts))
    summary = f"Messages sent per day from {days[0][0].isoformat()} to {days[-1][0].isoformat()}; at most {peak} a day."
    return Div(
        Svg(
            *bars,
            viewBox=f"0 0 {width} {height}",
            preserveAspectRatio="none",
            role="img",
            aria_label=summary,
            cls="w-full border border-border rounded",
            style="height: 10rem",
            focusable="false",
        ),
        Div(
            Span(days[0][0].isoformat()),
            Span(f"peak {peak} a day"),
            Span(days[-1][0].isoformat()),
            cls="flex justify-between text-xs",
        ),
        Ul(
            _swatch("delivered", "Delivered"),
            _swatch("failed", "Bounced or complained"),
            _swatch("other", "Sent, no report yet"),
            cls="flex flex-wrap gap-4 text-sm",
            aria_label="Legend",
        ),
        cls="space-y-2",
    )


def DailyTable(days: list[tuple[date, Counts]]) -> FT:
    """The chart's numbers, for people who cannot see it (and anyone who wants them)."""
    body = [Tr(Th(day.isoformat(), scope="row"), *_figures(counts)) for day, counts in reversed(days) if counts.sent]
    return Details(
        Summary("The chart's numbers as a table"),
        DataTable(
            "Per day, newest first (days without mail left out)", ("Day", *_FIGURES), body, label="Figures per day"
        ),
        cls="space-y-2",
    )


def OverviewContent(nav: FT, form: FT, report: Report | None, messages_url: Callable[[str, str], str]) -> FT:
    if report is None:  # the range was refused: only the form, with its errors
        figures: FT = Div()
    elif not report.rows:
        figures = EmptyState("No mail in this range", "Messages appear here once the site queues them.", icon="mail")
    else:
        days = report.by_day()
        figures = Div(
            Card(DailyChart(days), DailyTable(days), header=H2("Sent per day", cls="text-lg"), cls="min-w-0"),
            Card(
                TemplateTable(report.by_template(), report.total, messages_url),
                header=H2("Templates", cls="text-lg"),
                cls="min-w-0",
            ),
            Card(
                TemplateDayTable(report.rows, messages_url), header=H2("Templates by day", cls="text-lg"), cls="min-w-0"
            ),
            cls="space-y-6",
        )
    return Div(
        PageHeading("Email", "What the site mailed, and what became of it: delivered, opened, bounced, complained."),
        nav,
        Card(form, header=H2("Range", cls="text-lg")),
        figures,
        cls="space-y-6",
    )


# -- messages -----------------------------------------------------------------------------------


def MessageFilterForm(
    action: str,
    values: dict[str, str],
    templates: list[str],
    statuses: Sequence[str],
    errors: dict[str, str],
    message: str | None,
) -> FT:
    return Card(
        Form(
            FormErrors(message),
            Div(
                SelectField(
                    "Status",
                    "status",
                    [("", "Any"), *((s, s) for s in statuses)],
                    selected=values.get("status", ""),
                    error=errors.get("status"),
                    field_id="filter-status",
                ),
                SelectField(
                    "Template",
                    "template",
                    [("", "Any"), *((t, t) for t in templates)],
                    selected=values.get("template", ""),
                    field_id="filter-template",
                ),
                FormField(
                    "Recipient contains",
                    "recipient",
                    value=values.get("recipient", ""),
                    required=False,
                    field_id="filter-recipient",
                ),
                FormField(
                    "Queued on",
                    "day",
                    type="date",
                    value=values.get("day", ""),
                    error=errors.get("day"),
                    required=False,
                    field_id="filter-day",
                ),
                cls="grid gap-4 sm:grid-cols-2 lg:grid-cols-4",
            ),
            SubmitButton("Show messages"),
            method="get",
            action=action,
            cls="space-y-4",
        ),
        header=H2("Filter", cls="text-lg"),
    )


def MessagesTable(
    messages: list[EmailMessage], detail_url: Callable[[str], str], next_url: str | None, first_url: str | None
) -> FT:
    if not messages:
        return EmptyState("No messages", "No message matches these filters.", icon="mail")
    rows = [
        Tr(
            Td(A(when(m.created_at), href=detail_url(str(m.id)), cls="underline", style=_NOWRAP)),
            Td(m.to_address, style=_WRAP),
            Td(m.template),
            Td(m.status),
            Td(when(m.sent_at), style=_NOWRAP),
            Td(when(m.delivered_at or m.bounced_at or m.failed_at), style=_NOWRAP),
        )
        for m in messages
    ]
    links = [
        A("Newest messages", href=first_url, cls=_BUTTON) if first_url else None,
        A("Older messages", href=next_url, cls=_BUTTON) if next_url else None,
    ]
    return Card(
        DataTable(
            "Messages, newest first",
            ("Queued", "Recipient", "Template", "Status", "Sent", "Delivered or failed"),
            rows,
            label="Messages",
        ),
        Div(*links, cls="flex flex-wrap gap-2"),
        cls="min-w-0 space-y-4",
    )


def MessagesContent(nav: FT, form: FT, results: FT | None) -> FT:
    return Div(
        PageHeading("Email messages", "Every mail the site queued, with where it stands."),
        nav,
        form,
        results,
        cls="space-y-6",
    )


@dataclass(frozen=True)
class EventView:
    type: str
    at: datetime
    detail: dict[str, object]


def event_view(event: EmailEvent) -> EventView:
    try:
        detail = json.loads(event.detail or "{}")
    except ValueError:
        detail = {"raw": event.detail}
    return EventView(event.type, event.occurred_at, detail if isinstance(detail, dict) else {"value": detail})


def Timeline(events: list[EventView]) -> FT:
    if not events:
        return P("No events yet: the message has not been handed over.", cls=TextPresets.muted_sm)
    return Ol(
        *(
            Li(
                P(Span(e.type, cls="font-medium"), Span(f" · {when(e.at)}", cls=TextPresets.muted_sm)),
                Dl(
                    *(
                        item
                        for k, v in e.detail.items()
                        for item in (Dt(k, cls="font-medium"), Dd(str(v), style=_WRAP))
                    ),
                    cls="grid gap-2 text-sm sm:grid-cols-[12rem_1fr]",
                )
                if e.detail
                else None,
                cls="py-2 space-y-1",
            )
            for e in events
        ),
        cls="divide-y",
        aria_label="Events, oldest first",
    )


def MessageDetail(message: EmailMessage, events: list[EventView], *, back_url: str, nav: FT) -> FT:
    # The stored template data is never shown: it may hold sign-in links and other secrets.
    facts = [
        ("Recipient", message.to_address),
        ("Template", message.template),
        ("Category", f"{message.category}{' (mandatory, not tracked)' if message.mandatory else ''}"),
        ("Status", message.status),
        ("Subject", message.subject or "—"),
        ("Message-ID", message.message_id),
        ("Provider's id", message.provider_message_id or "—"),
        ("Attempts", str(message.attempts)),
        ("Opens / clicks", f"{message.open_count} / {message.click_count}"),
        ("Queued", when(message.created_at)),
        ("Sent", when(message.sent_at)),
        ("Delivered", when(message.delivered_at)),
        ("First opened", when(message.opened_at)),
        ("First clicked", when(message.clicked_at)),
        ("Deferred", when(message.deferred_at)),
        ("Bounced", when(message.bounced_at)),
        ("Complained", when(message.complained_at)),
        ("Failed", when(message.failed_at)),
        ("Suppressed", when(message.suppressed_at)),
        ("Last error", message.last_error or "—"),
    ]
    return Div(
        PageHeading("Email message", f"{message.template} to {message.to_address}"),
        nav,
        Card(
            Dl(
                *(item for label, value in facts for item in (Dt(label, cls="font-medium"), Dd(value, style=_WRAP))),
                cls="grid gap-2 sm:grid-cols-[12rem_1fr]",
            ),
            header=H2("Message", cls="text-lg"),
            cls="min-w-0",
        ),
        Card(Timeline(events), header=H2("Events", cls="text-lg"), cls="min-w-0"),
        A("Back to the messages", href=back_url, cls="underline"),
        cls="space-y-6",
    )


# -- template previews --------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    name: str
    subject: str = ""
    html: str = ""
    text: str = ""
    #: Why it could not be rendered (no sample data, a variable missing from it...).
    error: str | None = None


def TemplatePreview(preview: Preview) -> FT:
    if preview.error:
        body: FT = Div(
            P("This template could not be previewed.", cls="font-medium"),
            P(preview.error, style=_WRAP),
            cls="alert alert-warning",
            role="status",
        )
    else:
        body = Div(
            P(Span("Subject: ", cls="font-medium"), Span(preview.subject, style=_WRAP)),
            Iframe(
                srcdoc=preview.html,
                sandbox=True,  # no allow-scripts, no allow-same-origin: inert, opaque origin
                title=f"HTML part of the {preview.name} mail",
                width="100%",
                height="520",
                cls="border border-border rounded",
            ),
            Details(Summary("Text part"), Pre(preview.text, cls="p-3 text-sm", style=_WRAP)),
            Details(Summary("HTML source"), Pre(preview.html, cls="p-3 text-sm", style=_WRAP)),
            cls="space-y-3",
        )
    return Card(body, header=H2(preview.name, cls="text-lg", id=f"template-{preview.name}"), cls="min-w-0")


def TemplatesContent(nav: FT, previews: list[Preview]) -> FT:
    return Div(
        PageHeading("Email templates", "Every mail template, rendered with its sample data."),
        nav,
        Nav(
            Ul(
                *(Li(A(p.name, href=f"#template-{p.name}", cls="underline")) for p in previews),
                cls="flex flex-wrap gap-4",
            ),
            aria_label="Templates",
        )
        if previews
        else EmptyState("No templates", "No mail template was found.", icon="mail"),
        *(TemplatePreview(p) for p in previews),
        cls="space-y-6",
    )


# -- suppressions -------------------------------------------------------------------------------


def SearchForm(action: str, search: str) -> FT:
    return Form(
        Div(
            Label("Address contains", fr="suppression-search", cls="uk-form-label"),
            Div(
                Input(id="suppression-search", name="q", type="search", value=search, cls="uk-input"),
                SubmitButton("Search"),
                cls="flex gap-2",
            ),
            cls="space-y-1",
        ),
        method="get",
        action=action,
        role="search",
    )


def AddForm(action: str, csrf: str, values: dict[str, str], errors: dict[str, str], message: str | None) -> FT:
    return Card(
        Form(
            CsrfField(csrf),
            FormErrors(message),
            FormField(
                "Email address",
                "address",
                type="email",
                value=values.get("address", ""),
                error=errors.get("address"),
                field_id="suppress-address",
            ),
            FormField(
                "Note (optional)",
                "note",
                value=values.get("note", ""),
                error=errors.get("note"),
                required=False,
                field_id="suppress-note",
                help="Why: a request from the owner of the address, a known trap...",
            ),
            SubmitButton("Suppress address"),
            method="post",
            action=action,
            cls="space-y-4",
        ),
        header=H2("Suppress an address", cls="text-lg"),
    )


def SuppressionsTable(
    rows: list[EmailSuppression],
    csrf: str,
    *,
    lift_url: str,
    next_url: str | None,
    first_url: str | None,
    searched: bool,
) -> FT:
    if not rows:
        if searched:
            return EmptyState("No match", "No suppressed address contains that text.", icon="search")
        return EmptyState(
            "Nothing suppressed",
            "Addresses land here after a hard bounce, a complaint or repeated soft bounces.",
            icon="mail-check",
        )
    body = [
        Tr(
            Th(s.address, scope="row", style=_WRAP),
            Td(REASONS.get(s.reason, s.reason)),
            Td(s.source),
            Td(when(s.created_at), style=_NOWRAP),
            Td(s.detail or "—", style=_WRAP),
            Td(
                Form(
                    CsrfField(csrf),
                    Input(type="hidden", name="address", value=s.address),
                    SubmitButton("Lift", destructive=True),
                    method="post",
                    action=lift_url,
                    data_confirm=f"Lift the suppression of {s.address}? Mail to it will be sent again.",
                    aria_label=f"Lift the suppression of {s.address}",
                )
            ),
        )
        for s in rows
    ]
    links = [
        A("Newest", href=first_url, cls=_BUTTON) if first_url else None,
        A("Older", href=next_url, cls=_BUTTON) if next_url else None,
    ]
    return Div(
        DataTable(
            "Suppressed addresses, newest first",
            ("Address", "Reason", "Source", "Since", "Detail", "Action"),
            body,
            label="Suppressed addresses",
        ),
        Div(*links, cls="flex flex-wrap gap-2"),
        cls="space-y-4",
    )


def SuppressionsContent(nav: FT, notice: str | None, total: int, search: FT, table: FT, add: FT) -> FT:
    return Div(
        PageHeading(
            "Email suppressions", f"Addresses no mail is sent to ({total} in all). Lifting one sends to it again."
        ),
        nav,
        Notice(notice),
        Card(search, table, header=H2("Suppressed addresses", cls="text-lg"), cls="min-w-0 space-y-4"),
        add,
        cls="space-y-6",
    )
