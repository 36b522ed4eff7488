"""Components of the policy pages, the accept page, the sign-up checkbox, the /privacy section
and ``/admin/policies``. Pure: data in, FT out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from fasthtml.common import (
    FT,
    H2,
    H3,
    A,
    Article,
    Div,
    Form,
    Input,
    Label,
    Li,
    NotStr,
    P,
    Section,
    Span,
    Td,
    Textarea,
    Tr,
    Ul,
)
from monsterui.franken import Button, ButtonT, Card, TextPresets

from fastapp.privacy.models import PolicyAcceptance, PolicyVersion
from fastapp.privacy.policies.markdown import render_markdown
from fastapp.privacy.policies.services import KIND_LABELS, label_of
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
from fastapp.ui.dates import DateTime, DisplayPrefs

_ERROR = "text-sm text-red-700 dark:text-red-400"
#: The sign-up form's field (and the API's ``accept_policies``): the ids of the versions shown.
ACCEPT_FIELD = "accept_policies"


def version_url(kind: str, version: str) -> str:
    return f"/policies/{kind}/{version}"


def same_site_path(value: str, fallback: str = "/") -> str:
    """``value`` when it is a path on this site (never an absolute or protocol-relative URL)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return fallback


def _names(versions: Sequence[PolicyVersion]) -> list[FT | str]:
    """ "the Privacy policy (v3) and the Terms of service (v2)", each a link to its text."""
    parts: list[FT | str] = []
    for index, version in enumerate(versions):
        if index:
            parts.append(" and " if index == len(versions) - 1 else ", ")
        parts.extend(
            [
                "the ",
                A(label_of(version.kind), href=version_url(version.kind, version.version), cls="uk-link underline"),
                f" (v{version.version})",
            ]
        )
    return parts


def PolicyText(version: PolicyVersion, prefs: DisplayPrefs) -> FT:
    """A version's text, rendered safely from its Markdown, with its number and date."""
    return Article(
        P(
            f"Version {version.version}, in force from ",
            DateTime(version.effective_at, prefs),
            cls=TextPresets.muted_sm,
        ),
        Div(NotStr(render_markdown(version.body)), cls="policy-text max-w-3xl break-words"),
        cls="space-y-4",
    )


def PolicyPage(version: PolicyVersion, prefs: DisplayPrefs, *, current: bool, current_url: str | None) -> FT:
    notice = (
        None
        if current
        else P(
            "This is not the version in force. ",
            A("Read the current version", href=current_url, cls="uk-link underline") if current_url else None,
            cls="alert alert-warning",
            role="status",
        )
    )
    return Div(
        PageHeading(version.title, label_of(version.kind)), notice, Card(PolicyText(version, prefs)), cls="space-y-6"
    )


def NoPolicy(kind: str) -> FT:
    return Div(
        PageHeading(label_of(kind)),
        Card(EmptyState("Not published yet", f"No version of the {label_of(kind).lower()} is in force yet.")),
        cls="space-y-6",
    )


def AcceptForm(
    action: str, csrf: str, pending: Sequence[PolicyVersion], *, next_url: str, error: str | None, privacy_url: str
) -> FT:
    """The accept page: what changed, links to each text, one required checkbox."""
    return Div(
        PageHeading("Please review our updated policies", "Accept them to continue using your account."),
        Card(
            FormErrors(error),
            P("These versions are now in force:"),
            Ul(
                *(
                    Li(
                        A(
                            f"{label_of(v.kind)}, version {v.version}",
                            href=version_url(v.kind, v.version),
                            cls="uk-link underline",
                        ),
                        Span(f" — {v.title}", cls=TextPresets.muted_sm),
                    )
                    for v in pending
                ),
                cls="uk-list uk-list-bullet",
            ),
            Form(
                CsrfField(csrf),
                Input(type="hidden", name="next", value=next_url),
                *(Input(type="hidden", name="policy_ids", value=str(v.id)) for v in pending),
                Div(
                    Input(
                        type="checkbox",
                        id="accept-policies",
                        name="confirm",
                        value="1",
                        required=True,
                        cls="uk-checkbox mt-1",
                        aria_invalid="true" if error else None,
                    ),
                    Label("I have read and accept ", *_names(pending), fr="accept-policies"),
                    cls="flex items-start gap-2",
                ),
                SubmitButton("Accept and continue"),
                method="post",
                action=action,
                cls="space-y-4",
            ),
            P(
                "If you do not accept, you can still download your data or delete your account from the ",
                A("privacy page", href=privacy_url, cls="uk-link underline"),
                ", or sign out.",
                cls=TextPresets.muted_sm,
            ),
            cls="space-y-4",
        ),
        cls="max-w-3xl mx-auto space-y-6",
    )


def SignUpAcceptField(versions: Sequence[PolicyVersion]) -> FT:
    """The sign-up form's required checkbox; its value names the versions shown."""
    return Div(
        Input(
            type="checkbox",
            id="field-accept_policies",
            name=ACCEPT_FIELD,
            value=",".join(str(v.id) for v in versions),
            required=True,
            cls="uk-checkbox mt-1",
        ),
        Label("I accept ", *_names(versions), fr="field-accept_policies"),
        cls="flex items-start gap-2",
    )


def AcceptedSection(
    rows: Sequence[tuple[PolicyAcceptance, PolicyVersion]], prefs: DisplayPrefs, *, accept_url: str | None
) -> FT:
    """The /privacy page's section: which versions the user accepted, when, and how."""
    table = (
        DataTable(
            "Policy versions you accepted",
            ["Policy", "Version", "Accepted", "How"],
            (
                Tr(
                    Td(label_of(version.kind)),
                    Td(A(version.version, href=version_url(version.kind, version.version), cls="uk-link underline")),
                    Td(DateTime(acceptance.accepted_at, prefs)),
                    Td(acceptance.source),
                )
                for acceptance, version in rows
            ),
            label="Accepted policies",
        )
        if rows
        else P("You have not accepted any policy version yet.", cls=TextPresets.muted_sm)
    )
    return Section(
        H2("Policies", id="policies-heading", cls="text-xl font-semibold"),
        P(
            "Read the ",
            A("privacy policy", href="/policies/privacy", cls="uk-link underline"),
            " and the ",
            A("terms of service", href="/policies/terms", cls="uk-link underline"),
            ".",
        ),
        P("New versions are waiting for you: ", A("review and accept", href=accept_url, cls="uk-link underline"))
        if accept_url
        else None,
        table,
        aria_labelledby="policies-heading",
        cls="space-y-3",
    )


# -- administration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    version: PolicyVersion
    #: "current", "scheduled" or "superseded".
    state: str


def VersionsTable(kind: str, rows: Sequence[VersionRow], prefs: DisplayPrefs, pager: FT | None) -> FT:
    badge = {
        "current": "uk-label uk-label-primary",
        "scheduled": "uk-label uk-label-secondary",
        "superseded": "uk-label",
    }
    body = (
        DataTable(
            f"Versions of the {label_of(kind).lower()}",
            ["Version", "Title", "In force from", "State"],
            (
                Tr(
                    Td(A(r.version.version, href=version_url(kind, r.version.version), cls="uk-link underline")),
                    Td(r.version.title, cls="break-words"),
                    Td(DateTime(r.version.effective_at, prefs)),
                    Td(Span(r.state.capitalize(), cls=badge[r.state])),
                )
                for r in rows
            ),
            label=f"{label_of(kind)} versions",
        )
        if rows
        else P("No version published yet.", cls=TextPresets.muted_sm)
    )
    return Section(H3(label_of(kind), cls="text-lg font-semibold"), body, pager, cls="space-y-3 min-w-0")


def PublishForm(
    action: str,
    preview_action: str,
    csrf: str,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    message: str | None,
    timezone: str,
) -> FT:
    """Kind, version, title, Markdown text and effective date; "Preview" shows the rendered
    text below without publishing (HTMX, or a full page without JavaScript)."""
    body_error = errors.get("body")
    return Form(
        FormErrors(message),
        CsrfField(csrf),
        SelectField(
            "Policy", "kind", list(KIND_LABELS.items()), selected=values.get("kind", ""), error=errors.get("kind")
        ),
        FormField(
            "Version", "version", value=values.get("version", ""), error=errors.get("version"), help="e.g. 3 or 2026-01"
        ),
        FormField("Title", "title", value=values.get("title", ""), error=errors.get("title")),
        Div(
            Label("Text (Markdown)", fr="field-body", cls="uk-form-label"),
            Textarea(
                values.get("body", ""),
                id="field-body",
                name="body",
                rows="12",
                required=True,
                cls=("uk-textarea font-mono", "uk-form-danger" if body_error else ""),
                aria_invalid="true" if body_error else None,
                aria_describedby="field-body-help" + (" field-body-error" if body_error else ""),
            ),
            P(
                "Headings, lists, emphasis and links. HTML is shown as text.",
                id="field-body-help",
                cls=TextPresets.muted_sm,
            ),
            P(body_error, id="field-body-error", cls=_ERROR, role="alert") if body_error else None,
            cls="space-y-1",
        ),
        FormField(
            "In force from",
            "effective_at",
            type="datetime-local",
            value=values.get("effective_at", ""),
            error=errors.get("effective_at"),
            required=False,
            help=f"In your time zone ({timezone}). Leave empty to apply it now; users accept it when it takes effect.",
        ),
        Div(
            Button(
                "Preview",
                type="submit",
                formaction=preview_action,
                hx_post=preview_action,
                hx_target="#policy-preview",
                hx_swap="innerHTML",
                cls=ButtonT.default,
            ),
            SubmitButton("Publish"),
            cls="flex flex-wrap gap-2",
        ),
        method="post",
        action=action,
        cls="space-y-4",
        novalidate=True,
    )


def Preview(title: str, body: str) -> FT:
    return Div(
        H3(f"Preview: {title}" if title else "Preview", cls="text-lg font-semibold"),
        Div(NotStr(render_markdown(body)), cls="policy-text max-w-3xl break-words"),
        cls="space-y-3",
    )


def AdminPoliciesPage(
    form: FT, tables: Sequence[FT], *, notice: str | None, preview: FT | None, now: datetime, prefs: DisplayPrefs
) -> FT:
    return Div(
        PageHeading("Policies", "Publish versions of the privacy policy and the terms."),
        Div(P(notice), cls="alert alert-success", role="status") if notice else None,
        Card(*tables, cls="min-w-0 space-y-6"),
        Card(
            H2("Publish a version", id="publish-heading", cls="text-xl font-semibold"),
            P(
                "Signed-in users are asked to accept it once it is in force. Now: ",
                DateTime(now, prefs),
                cls=TextPresets.muted_sm,
            ),
            form,
            Div(preview, id="policy-preview", aria_live="polite"),
            cls="min-w-0 space-y-4",
        ),
        cls="space-y-6",
    )
