"""Components of the inbox page, the header bell and the notification settings page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlencode

from fasthtml.common import (
    FT,
    A,
    Details,
    Div,
    Form,
    Input,
    Label,
    Li,
    Option,
    P,
    Select,
    Span,
    Summary,
    Ul,
)
from monsterui.franken import H2, Button, ButtonT, Card, Switch, TextPresets, UkIcon

from fastapp.notifications.kinds import Category, Frequency
from fastapp.notifications.models import Notification
from fastapp.notifications.services import CategoryPreference
from fastapp.ui.components import CsrfField, EmptyState, FormErrors, PageHeading, SelectField, SubmitButton
from fastapp.ui.dates import DEFAULT_DISPLAY, DateTime, DisplayPrefs

VIEWS = (("all", "All"), ("unread", "Unread"), ("archived", "Archived"))
RESULTS_ID = "notification-results"
PREFERENCES_ID = "preferences-form"


def _when(value: datetime, prefs: DisplayPrefs = DEFAULT_DISPLAY) -> FT:
    return DateTime(value, prefs)


def query_url(path: str, values: dict[str, str]) -> str:
    kept = {k: v for k, v in values.items() if v}
    return f"{path}?{urlencode(kept)}" if kept else path


# -- the inbox ------------------------------------------------------------------------------------


def FilterForm(action: str, values: dict[str, str], categories: list[Category]) -> FT:
    """Which notifications to show: a GET form (bookmarkable) that HTMX upgrades to swap the list."""
    return Form(
        Div(
            SelectField("Show", "view", list(VIEWS), selected=values.get("view", "all"), field_id="notifications-view"),
            SelectField(
                "Category",
                "category",
                [("", "Every category"), *((c.key, c.label) for c in categories)],
                selected=values.get("category", ""),
                field_id="notifications-category",
            ),
            Div(SubmitButton("Show"), cls="flex items-end"),
            cls="grid gap-4 sm:grid-cols-[1fr_1fr_auto]",
        ),
        method="get",
        action=action,
        hx_get=action,
        hx_target=f"#{RESULTS_ID}",
        hx_push_url="true",
        aria_label="Filter notifications",
    )


def _action_form(
    label: str, hidden_label: str, action: str, csrf: str, back: str, *, remove: bool, destructive: bool = False
) -> FT:
    """One button posting to ``action``; HTMX swaps the item (or removes it), a plain post
    comes back to ``back``."""
    return Form(
        CsrfField(csrf),
        Input(type="hidden", name="next", value=back),
        Button(
            # Names each button after its notification ("Mark read (Your password was changed)").
            label,
            Span(f" ({hidden_label})", cls="sr-only"),
            cls=(ButtonT.destructive if destructive else ButtonT.default, ButtonT.xs),
            type="submit",
        ),
        method="post",
        action=action,
        hx_post=action,
        hx_target="closest li",
        hx_swap="delete" if remove else "outerHTML",
    )


def NotificationItem(
    row: Notification,
    *,
    category: str,
    csrf: str,
    back: str,
    urls: Callable[[str, str], str],
    prefs: DisplayPrefs = DEFAULT_DISPLAY,
) -> FT:
    """One notification with its actions; ``urls(action, id)`` gives each action's URL."""
    ident = str(row.id)
    unread = row.read_at is None
    title: FT = (
        A(row.title, href=row.link, cls="underline underline-offset-2 break-words")
        if row.link
        else Span(row.title, cls="break-words")
    )
    actions = []
    if unread and row.archived_at is None:
        actions.append(_action_form("Mark read", row.title, urls("read", ident), csrf, back, remove=False))
    if row.archived_at is None:
        actions.append(_action_form("Archive", row.title, urls("archive", ident), csrf, back, remove=True))
    else:
        actions.append(_action_form("Move to inbox", row.title, urls("unarchive", ident), csrf, back, remove=True))
    return Li(
        Div(
            P(
                Span("New", cls="badge badge-primary badge-sm mr-2") if unread else None,
                Span(title, cls="font-semibold" if unread else ""),
            ),
            P(row.body, cls="break-words") if row.body else None,
            P(_when(row.created_at, prefs), f" · {category}", cls=TextPresets.muted_sm),
            cls="min-w-0 space-y-1",
        ),
        Div(*actions, cls="flex flex-wrap gap-2"),
        id=f"notification-{ident}",
        cls="flex flex-col gap-2 py-3 sm:flex-row sm:items-start sm:justify-between",
    )


def Results(items: list[FT], *, empty: tuple[str, str], next_url: str | None) -> FT:
    """The list region the filter form and the read-all button swap."""
    if items:
        body: FT = Ul(*items, cls="divide-y divide-border", aria_label="Notifications")
    else:
        body = EmptyState(empty[0], empty[1], icon="bell")
    more = (
        A(
            "Older notifications",
            href=next_url,
            hx_get=next_url,
            hx_target=f"#{RESULTS_ID}",
            hx_push_url="true",
            cls="uk-btn uk-btn-default uk-btn-sm",
        )
        if next_url
        else None
    )
    return Div(Card(body, more, cls="min-w-0 space-y-4"), id=RESULTS_ID, aria_live="polite", cls="min-w-0")


def ReadAllForm(action: str, csrf: str, values: dict[str, str]) -> FT:
    return Form(
        CsrfField(csrf),
        *(Input(type="hidden", name=k, value=v) for k, v in values.items() if v),
        Button("Mark all read", cls=(ButtonT.default, ButtonT.sm), type="submit"),
        method="post",
        action=action,
        hx_post=action,
        hx_target=f"#{RESULTS_ID}",
        hx_swap="outerHTML",
    )


def InboxPage(filters: FT, results: FT, read_all: FT, settings_url: str, notice: str | None) -> FT:
    return Div(
        PageHeading("Notifications", "What happened that concerns you, newest first."),
        Div(P(notice), cls="alert alert-success", role="status") if notice else None,
        Div(
            read_all,
            A("Notification settings", href=settings_url, cls="uk-btn uk-btn-ghost uk-btn-sm"),
            cls="flex flex-wrap items-center gap-2",
        ),
        Card(filters, cls="min-w-0"),
        results,
        cls="space-y-6",
    )


# -- the header bell ------------------------------------------------------------------------------


def Bell(*, menu_url: str, stream_url: str, count_url: str, page_url: str, settings_url: str) -> FT:
    """The header's bell: a menu button whose label and badge app.js keeps at the unread count
    (live over ``stream_url``, else by polling ``count_url``); its menu loads the latest
    notifications only when opened, so no page pays for them."""
    return Div(
        Details(
            Summary(
                UkIcon("bell", height=18, width=18, aria_hidden="true"),
                Span(cls="badge badge-primary badge-sm", data_bell_badge="", hidden=True, aria_hidden="true"),
                cls="uk-btn uk-btn-ghost uk-btn-sm gap-1 list-none cursor-pointer [&::-webkit-details-marker]:hidden",
                aria_label="Notifications",
                data_bell_toggle="",
            ),
            Div(
                Div(
                    P("Loading…", cls=TextPresets.muted_sm),
                    id="notification-menu",
                    hx_get=menu_url,
                    hx_trigger="bell-open",
                    hx_swap="innerHTML",
                    aria_live="polite",
                ),
                Div(
                    A("See all notifications", href=page_url, cls="underline"),
                    A("Settings", href=settings_url, cls="underline"),
                    cls="flex flex-wrap justify-between gap-2 pt-3 mt-3 border-t border-border text-sm",
                ),
                cls=(
                    "absolute left-0 right-0 top-full z-40 mt-1 p-3 rounded-md border border-border bg-background "
                    "shadow-lg sm:left-auto sm:w-80"
                ),
            ),
            cls="sm:relative",
            data_bell_menu="",
        ),
        id="notification-bell",
        data_bell="",
        data_stream_url=stream_url,
        data_count_url=count_url,
    )


def BellMenu(rows: list[Notification], page_url: str) -> FT:
    """The bell menu's list: the latest notifications, unread ones marked in words."""
    if not rows:
        return P("No notifications yet.", cls=TextPresets.muted_sm)
    return Ul(
        *(
            Li(
                A(
                    Span("New: ", cls="font-semibold") if row.read_at is None else None,
                    row.title,
                    href=row.link or page_url,
                    cls="block break-words hover:underline",
                ),
                P(_when(row.created_at), cls=TextPresets.muted_sm),
                cls="py-2",
            )
            for row in rows
        ),
        cls="divide-y divide-border",
        aria_label="Latest notifications",
    )


# -- settings -------------------------------------------------------------------------------------

# A table of category x channel. ARIA roles rather than <table>: on a narrow screen each row
# stacks, which CSS cannot do to a real table without losing what it means to a screen reader.
COLUMNS = "sm:grid-cols-[minmax(0,1fr)_7rem_7rem_10rem]"


def _label(pref: CategoryPreference, text: str, ident: str) -> FT:
    """The control's label: the column's name, shown on narrow screens where there is no header
    row; screen readers also hear the category."""
    return Label(Span(f"{pref.category.label}: ", cls="sr-only"), text, fr=ident, cls="text-sm sm:sr-only")


def _switch(pref: CategoryPreference, channel: str, text: str, checked: bool, described: str | None) -> FT:
    key = pref.category.key
    ident = f"pref-{key}-{channel}"
    return Div(
        Switch(id=ident, name=f"{channel}.{key}", checked=checked, disabled=pref.locked, aria_describedby=described),
        _label(pref, text, ident),
        role="cell",
        cls="flex items-center gap-2",
    )


def _frequency(pref: CategoryPreference) -> FT:
    key = pref.category.key
    if not pref.frequency_choosable:
        return Div(
            Span("Email frequency: ", cls="sm:sr-only"),
            "always at once",
            role="cell",
            cls=("col-span-2 sm:col-span-1", TextPresets.muted_sm),
        )
    ident = f"pref-{key}-frequency"
    return Div(
        _label(pref, "Email frequency", ident),
        Select(
            Option(
                "Immediately",
                value=Frequency.immediately.value,
                selected=pref.email_frequency is Frequency.immediately,
            ),
            Option("Daily digest", value=Frequency.daily.value, selected=pref.email_frequency is Frequency.daily),
            id=ident,
            name=f"frequency.{key}",
            cls="uk-select uk-form-small",
        ),
        role="cell",
        cls="col-span-2 sm:col-span-1 space-y-1",
    )


def PreferenceRow(pref: CategoryPreference) -> FT:
    key = pref.category.key
    note = f"pref-{key}-locked" if pref.locked else None
    return Div(
        Div(
            P(pref.category.label, cls="font-medium"),
            P(pref.category.description, cls=TextPresets.muted_sm) if pref.category.description else None,
            P(
                UkIcon("lock", height=14, width=14, aria_hidden="true", cls="inline-block mr-1 align-[-2px]"),
                "Always on: these notices keep your account safe and cannot be turned off.",
                id=note,
                cls=TextPresets.muted_sm,
            )
            if pref.locked
            else Input(type="hidden", name="category", value=key),
            role="rowheader",
            cls="col-span-2 sm:col-span-1",
        ),
        _switch(pref, "in_app", "In the app", pref.in_app, note),
        _switch(pref, "email", "By email", pref.email, note),
        _frequency(pref),
        role="row",
        cls=("grid grid-cols-2 items-start gap-x-4 gap-y-3 py-4", COLUMNS),
    )


def PreferencesForm(action: str, csrf: str, prefs: list[CategoryPreference], *, error: str | None = None) -> FT:
    header = Div(
        *(Div(name, role="columnheader") for name in ("Category", "In the app", "By email", "Email frequency")),
        role="row",
        cls=("sr-only sm:not-sr-only sm:grid gap-x-4 pb-2 text-sm font-medium", COLUMNS),
    )
    return Form(
        FormErrors(error),
        CsrfField(csrf),
        Div(
            Div(header, role="rowgroup"),
            Div(
                *(PreferenceRow(p) for p in prefs),
                role="rowgroup",
                cls="divide-y divide-border sm:border-t sm:border-border",
            ),
            role="table",
            aria_label="How each kind of notification reaches you",
        ),
        SubmitButton("Save preferences"),
        method="post",
        action=action,
        hx_post=action,
        hx_target="this",
        hx_swap="outerHTML",
        id=PREFERENCES_ID,
        cls="space-y-4",
    )


def SettingsPage(form: FT, inbox_url: str, notice: str | None) -> FT:
    return Div(
        PageHeading("Notification settings", "Choose how we tell you about each kind of event."),
        Div(P(notice), cls="alert alert-success", role="status") if notice else None,
        Card(form, header=H2("Channels", cls="text-lg"), cls="min-w-0"),
        P(A("Back to your notifications", href=inbox_url, cls="underline")),
        cls="space-y-6",
    )
