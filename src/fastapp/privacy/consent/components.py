"""The consent banner, the "Choose" page and the consent section of /privacy: data in, FT out."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from html import escape
from urllib.parse import urlencode

from fasthtml.common import FT, A, Div, Fieldset, Form, Input, Label, Legend, NotStr, P, Section, Span, Td, Tr, to_xml
from monsterui.franken import H2, Button, ButtonT, Card, ContainerT, Switch, TextPresets

from fastapp.platform.privacy import ConsentPurpose
from fastapp.privacy.consent.services import HistoryPage
from fastapp.privacy.models import ConsentRecord
from fastapp.ui.components import CsrfField, DataTable, EmptyState, FormErrors, PageHeading, SubmitButton
from fastapp.ui.dates import DateTime, DisplayPrefs

BANNER_ID = "consent-banner"
SECTION_ID = "consent"
HISTORY_ID = "consent-history"
#: The banner's three choices look exactly alike: none is easier to take than another (MonsterUI's
#: ``Button`` adds the ``uk-btn`` the link spells out).
CHOICE = (ButtonT.primary, "w-full")
SOURCES = {"banner": "Cookie banner", "settings": "Privacy page", "sign-up": "Sign-up", "api": "API"}


def Banner(*, action: str, choose_url: str, csrf: str, next_url: str) -> FT:
    """Shown until the viewer decides: "Accept all", "Reject all" and "Choose", equally prominent.

    A named region in the page flow (never over the page's controls); the two buttons post the
    form (HTMX removes the banner, a plain post comes back to ``next_url``), "Choose" opens the
    page with one switch per purpose.
    """
    return Section(
        Div(
            H2("Your privacy choices", id=f"{BANNER_ID}-title", cls="text-base font-semibold"),
            P(
                "We use strictly necessary cookies to run this site and keep it secure. With your "
                "permission we would also remember your preferences, measure how the site is used and "
                "send you news. You can change your choice at any time on the privacy page."
            ),
            Form(
                CsrfField(csrf),
                Input(type="hidden", name="next", value=next_url),
                Div(
                    Button("Accept all", type="submit", name="choice", value="accept", cls=CHOICE),
                    Button("Reject all", type="submit", name="choice", value="reject", cls=CHOICE),
                    A("Choose", href=f"{choose_url}?{urlencode({'next': next_url})}", cls=("uk-btn", *CHOICE)),
                    cls="grid grid-cols-1 sm:grid-cols-3 gap-2 max-w-xl",
                ),
                method="post",
                action=action,
                hx_post=action,
                hx_target=f"#{BANNER_ID}",
                hx_swap="outerHTML",
            ),
            cls=("uk-container", ContainerT.xl, "py-4 space-y-3"),
        ),
        id=BANNER_ID,
        aria_labelledby=f"{BANNER_ID}-title",
        cls="border-b border-border bg-muted",
    )


# The banner is the same on every page but for the CSRF token and the page to come back to: it
# is rendered once (about 20 elements, ~0.6 ms) with placeholders that survive HTML escaping and
# URL encoding, and each request only fills them in.
_CSRF = "consentcsrfplaceholder"
_NEXT = "consentnextplaceholder"


@lru_cache(maxsize=8)
def _banner_template(action: str, choose_url: str) -> str:
    return str(to_xml(Banner(action=action, choose_url=choose_url, csrf=_CSRF, next_url=_NEXT)))


def CachedBanner(*, action: str, choose_url: str, csrf: str, next_url: str) -> NotStr:
    """``Banner`` for every page render, from its cached HTML."""
    html = _banner_template(action, choose_url)
    html = html.replace(urlencode({"next": _NEXT}), escape(urlencode({"next": next_url})))
    return NotStr(html.replace(_NEXT, escape(next_url)).replace(_CSRF, escape(csrf)))


def BannerLoader(url: str) -> FT:
    """For a signed-in user whose decision this browser does not know yet: HTMX asks the server,
    which answers with the banner, or with nothing when the user's records already decide."""
    return Div(id=BANNER_ID, hx_get=url, hx_trigger="load", hx_swap="outerHTML")


def _purpose_row(purpose: ConsentPurpose, granted: bool, prefix: str) -> FT:
    ident = f"{prefix}-{purpose.key}"
    described = f"{ident}-help"
    return Div(
        Switch(
            id=ident,
            name="purpose",
            value=purpose.key,
            checked=granted or purpose.necessary,
            disabled=purpose.necessary,
            aria_describedby=described,
        ),
        Div(
            Label(purpose.label, fr=ident, cls="font-medium"),
            P(
                purpose.description,
                Span(" Always on.", cls="font-medium") if purpose.necessary else None,
                id=described,
                cls=TextPresets.muted_sm,
            ),
            cls="space-y-1 min-w-0",
        ),
        cls="flex items-start gap-3 py-3",
    )


def PurposeSwitches(purposes: Sequence[ConsentPurpose], granted: dict[str, bool], *, prefix: str) -> FT:
    """One switch per purpose with its description; necessary ones locked on."""
    return Fieldset(
        Legend("What you allow", cls="sr-only"),
        *(_purpose_row(p, granted.get(p.key, False), prefix) for p in purposes),
        cls="divide-y divide-border",
    )


def ChoosePage(
    *, action: str, csrf: str, next_url: str, purposes: Sequence[ConsentPurpose], granted: dict[str, bool]
) -> FT:
    """The "Choose" page: switches for every purpose, saved with "Save choices"."""
    return Div(
        PageHeading("Privacy choices", "Choose what this site may do beyond what it needs to work."),
        Card(
            Form(
                CsrfField(csrf),
                Input(type="hidden", name="next", value=next_url),
                PurposeSwitches(purposes, granted, prefix="choose"),
                Button("Save choices", type="submit", name="choice", value="choose", cls=ButtonT.primary),
                method="post",
                action=action,
                cls="space-y-4",
            ),
            cls="min-w-0 max-w-xl",
        ),
        cls="space-y-6",
    )


def _record_row(row: ConsentRecord, labels: dict[str, str], prefs: DisplayPrefs) -> FT:
    return Tr(
        Td(DateTime(row.created_at, prefs)),
        Td(labels.get(row.purpose, row.purpose)),
        Td("Granted" if row.granted else "Withdrawn"),
        Td(row.policy_version or "—"),
        Td(SOURCES.get(row.source, row.source)),
    )


def History(page: HistoryPage, labels: dict[str, str], *, page_url: str, fragment_url: str, prefs: DisplayPrefs) -> FT:
    """Your decisions, newest first, a page at a time (HTMX swaps the table; links work without)."""
    if not page.items:
        body: FT = EmptyState(
            "No decisions yet", "When you grant or withdraw consent, it is listed here.", icon="history"
        )
    else:
        body = DataTable(
            "Your consent decisions, newest first",
            ("When", "Purpose", "Decision", "Policy version", "Where"),
            [_record_row(row, labels, prefs) for row in page.items],
            label="Consent history table",
        )

    def link(label: str, number: int) -> FT:
        return A(
            label,
            href=f"{page_url}?{urlencode({'consent_page': number})}#{HISTORY_ID}",
            hx_get=f"{fragment_url}?{urlencode({'page': number})}",
            hx_target=f"#{HISTORY_ID}",
            hx_swap="outerHTML",
            cls="uk-btn uk-btn-default uk-btn-sm",
        )

    pages = max(1, -(-page.total // page.per_page))
    pager = (
        Div(
            P(f"Page {page.page} of {pages}", cls=TextPresets.muted_sm),
            Div(
                link("Newer", page.page - 1) if page.page > 1 else None,
                link("Older", page.page + 1) if page.has_next else None,
                cls="flex gap-2",
            ),
            role="navigation",
            aria_label="Consent history pages",
            cls="flex flex-wrap items-center justify-between gap-2",
        )
        if page.total > page.per_page
        else None
    )
    return Div(body, pager, id=HISTORY_ID, cls="space-y-3", aria_live="polite")


def ConsentForm(
    *,
    action: str,
    csrf: str,
    purposes: Sequence[ConsentPurpose],
    granted: dict[str, bool],
    error: str | None = None,
    notice: str | None = None,
) -> FT:
    """The /privacy switches: turning one off withdraws it, as easily as it was granted."""
    return Form(
        FormErrors(error),
        Div(P(notice), cls="alert alert-success", role="status") if notice else None,
        CsrfField(csrf),
        PurposeSwitches(purposes, granted, prefix="consent"),
        SubmitButton("Save consent choices"),
        method="post",
        action=action,
        hx_post=action,
        hx_target=f"#{SECTION_ID}",
        hx_swap="outerHTML",
        cls="space-y-4",
    )


def ConsentSection(form: FT, history: FT) -> FT:
    return Section(
        Card(
            form,
            Div(H2("History", cls="text-base font-semibold"), history, cls="space-y-3 pt-4"),
            header=H2("Consent", id=f"{SECTION_ID}-title", cls="text-lg"),
            cls="min-w-0",
        ),
        id=SECTION_ID,
        aria_labelledby=f"{SECTION_ID}-title",
    )
