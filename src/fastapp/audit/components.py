"""Components of the audit log viewer and of a user's recent activity."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fasthtml.common import (
    FT,
    A,
    Caption,
    Dd,
    Div,
    Dl,
    Dt,
    Form,
    Li,
    P,
    Pre,
    Span,
    Table,
    Tbody,
    Td,
    Th,
    Thead,
    Tr,
    Ul,
)
from monsterui.franken import H2, Card, TextPresets

from fastapp.audit.actions import Action
from fastapp.ui.components import DataTable, EmptyState, FormErrors, FormField, PageHeading, SelectField, SubmitButton
from fastapp.ui.dates import DEFAULT_DISPLAY, DisplayPrefs, format_datetime

PREFIXES = sorted({a.value.split(".")[0] + "." for a in Action})


def _when(value: str, prefs: DisplayPrefs = DEFAULT_DISPLAY) -> str:
    """An event's ISO timestamp in the viewer's timezone and formats."""
    return format_datetime(datetime.fromisoformat(value), prefs, seconds=True)


def _text(label: str, name: str, values: dict[str, str], errors: dict[str, str], *, type: str = "text") -> FT:
    return FormField(
        label,
        name,
        type=type,
        value=values.get(name, ""),
        error=errors.get(name),
        required=False,
        field_id=f"audit-{name}",
    )


def FilterForm(action: str, values: dict[str, str], errors: dict[str, str], message: str | None) -> FT:
    actions = [("", "Any action")]
    actions += [(p, f"Every {p[:-1]} action ({p}*)") for p in PREFIXES]
    actions += [(a.value, f"{a.value} — {a.description}") for a in Action]
    return Card(
        Form(
            FormErrors(message),
            Div(
                _text("Actor (id or email)", "actor", values, errors),
                SelectField("Action", "action", actions, selected=values.get("action", ""), field_id="audit-action"),
                _text("Target (type:id)", "target", values, errors),
                SelectField(
                    "Outcome",
                    "outcome",
                    [("", "Any"), ("success", "Success"), ("failure", "Failure")],
                    selected=values.get("outcome", ""),
                    error=errors.get("outcome"),
                    field_id="audit-outcome",
                ),
                _text("IP address", "ip", values, errors),
                _text("From", "since", values, errors, type="date"),
                _text("Until", "until", values, errors, type="date"),
                cls="grid gap-4 sm:grid-cols-2 lg:grid-cols-4",
            ),
            SubmitButton("Show events"),
            method="get",
            action=action,
            hx_get=action,
            hx_target="#audit-results",
            hx_push_url="true",
            cls="space-y-4",
        ),
        header=H2("Filter", cls="text-lg"),
    )


def ResultsTable(
    items: list[dict[str, Any]],
    *,
    detail_url: Callable[[int], str],
    next_url: str | None,
    export_urls: dict[str, str],
    prefs: DisplayPrefs = DEFAULT_DISPLAY,
) -> FT:
    if not items:
        body: FT = EmptyState("No events", "No audit events match these filters.", icon="scroll-text")
    else:
        rows = [
            Tr(
                Td(A(_when(e["occurred_at"], prefs), href=detail_url(e["seq"]), cls="underline")),
                Td(Span(e["description"]), Div(e["action"], cls=TextPresets.muted_sm)),
                Td(e["actor"]["label"] or e["actor"]["id"] or e["actor"]["type"]),
                Td(f"{e['target']['type']}:{e['target']['id']}" if e["target"]["type"] else "—"),
                Td(e["outcome"]),
                Td(e["ip"] or "—"),
            )
            for e in items
        ]
        body = DataTable(
            "Audit events, newest first",
            ("When", "What", "Who", "Target", "Outcome", "IP"),
            rows,
            label="Audit events table",
        )
    links = [
        A(f"Export {label}", href=url, cls="uk-btn uk-btn-default uk-btn-sm") for label, url in export_urls.items()
    ]
    more = (
        A(
            "Older events",
            href=next_url,
            hx_get=next_url,
            hx_target="#audit-results",
            hx_push_url="true",
            cls="uk-btn uk-btn-primary uk-btn-sm",
        )
        if next_url
        else None
    )
    return Div(
        Card(body, Div(more, *links, cls="flex flex-wrap gap-2"), cls="min-w-0 space-y-4"),
        id="audit-results",
        aria_live="polite",
        cls="min-w-0",  # the grid item may shrink below the table; the table scrolls inside
    )


def AuditPage(form: FT, results: FT) -> FT:
    return Div(
        PageHeading("Audit log", "Who did what, to what, when and from where. Every change is hash-chained."),
        Div(form, results, cls="grid gap-6"),
        cls="space-y-6",
    )


def _changes(data: dict[str, Any]) -> FT | None:
    before, after = data.get("before"), data.get("after")
    if before is None and after is None:
        return None
    if isinstance(before, dict) or isinstance(after, dict):
        keys = sorted(set(before or {}) | set(after or {}))
        pairs = [(k, (before or {}).get(k), (after or {}).get(k)) for k in keys]
    else:
        pairs = [("value", before, after)]
    rows = [Tr(Th(k, scope="row"), Td(_show(b)), Td(_show(a))) for k, b, a in pairs if b != a]
    return Table(
        Caption("What changed"),
        Thead(Tr(Th("Field", scope="col"), Th("Before", scope="col"), Th("After", scope="col"))),
        Tbody(*rows),
        cls="uk-table uk-table-divider uk-table-sm",
    )


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "(none)"
    return "—" if value is None else str(value)


def EventDetail(
    e: dict[str, Any],
    *,
    back_url: str,
    user_url: Callable[[str], str] | None = None,
    prefs: DisplayPrefs = DEFAULT_DISPLAY,
) -> FT:
    facts = [
        ("Event", f"#{e['seq']}"),
        ("When", _when(e["occurred_at"], prefs)),
        ("What", f"{e['description']} ({e['action']})"),
        ("Outcome", e["outcome"]),
        ("Actor", _party(e["actor"]["type"], e["actor"]["id"], e["actor"]["label"], user_url)),
        ("Target", _party(e["target"]["type"], e["target"]["id"], None, user_url) if e["target"]["type"] else "—"),
        ("IP address", e["ip"] or ("erased" if e["erased"] else "—")),
        ("Browser", e["user_agent"] or ("erased" if e["erased"] else "—")),
        ("Request id", e["request_id"] or "—"),
        ("Chain hash", e["hash"]),
    ]
    return Div(
        PageHeading(f"Audit event #{e['seq']}", e["description"]),
        Card(
            Dl(
                *(
                    item
                    for label, value in facts
                    for item in (Dt(label, cls="font-medium"), Dd(value, cls="break-all"))
                ),
                cls="grid gap-2 sm:grid-cols-[12rem_1fr]",
            ),
            _changes(e["data"]),
            Div(
                P("Details", cls="font-medium"),
                Pre(
                    json.dumps(e["data"], indent=2, ensure_ascii=False),
                    cls="p-3 rounded bg-muted whitespace-pre-wrap break-all",
                ),
            ),
            Div(
                P("Personal details", cls="font-medium"),
                Pre(
                    json.dumps(e["personal"], indent=2, ensure_ascii=False),
                    cls="p-3 rounded bg-muted whitespace-pre-wrap break-all",
                ),
            )
            if e["personal"]
            else None,
            A("Back to the audit log", href=back_url, cls="underline"),
            cls="min-w-0 space-y-4",
        ),
        cls="space-y-6",
    )


def _party(kind: str, ident: str | None, label: str | None, user_url: Callable[[str], str] | None) -> FT | str:
    text = " ".join(x for x in (kind, ident, label) if x)
    if kind == "user" and ident and user_url is not None:
        return A(text, href=user_url(ident), cls="underline")
    return text


def RecentActivity(items: list[dict[str, Any]], *, prefs: DisplayPrefs = DEFAULT_DISPLAY) -> FT:
    """A user's own security history, for the account security page."""
    entries = [
        Li(
            P(
                Span(e["description"], cls="font-medium"),
                Span(" · failed", cls="text-red-700 dark:text-red-400") if e["outcome"] == "failure" else None,
            ),
            P(f"{_when(e['occurred_at'], prefs)} · {e['ip'] or 'unknown address'}", cls=TextPresets.muted_sm),
            cls="py-2",
        )
        for e in items
    ]
    return Card(
        Ul(*entries, cls="divide-y divide-border", aria_label="Recent activity")
        if entries
        else P("Nothing yet.", cls=TextPresets.muted_sm),
        header=H2("Recent activity", cls="text-lg"),
    )


def query_url(path: str, values: dict[str, str]) -> str:
    return f"{path}?{urlencode(values)}" if values else path
