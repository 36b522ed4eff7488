"""Views of the profile page: profile and preference forms, avatar, deactivation."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fasthtml.common import FT, A, Datalist, Div, Form, Img, Input, Label, Option, P, Textarea
from monsterui.franken import H2, Card, TextPresets
from starlette.requests import Request
from starlette.responses import Response

from fastapp.accounts.profile import BIO_MAX, DATE_FORMATS, LOCALES, THEMES, TIME_FORMATS, ProfileField
from fastapp.ui.components import CsrfField, FormField, PageHeading, SelectField, SubmitButton
from fastapp.ui.dates import DisplayPrefs, format_datetime
from fastapp.ui.request import THEME_COOKIE, set_site_cookie

#: As long as the shell's own theme switch keeps it (web/pages.py).
THEME_COOKIE_MAX_AGE = 400 * 24 * 3600
PROFILE_FORM_ID = "profile-form"
#: Where a deactivated user's reactivation form posts (``profile_pages.reactivate``).
REACTIVATE_PATH = "/account/reactivate"
PREFERENCES_FORM_ID = "preferences-form"
_ERROR = "text-sm text-red-700 dark:text-red-400"


def _Summary(errors: Mapping[str, str]) -> FT | None:
    """What went wrong, announced; the fields carry the details."""
    if not errors:
        return None
    return P("Please correct the fields below.", role="alert", cls=f"font-medium {_ERROR}")


def Saved(message: str) -> FT:
    """A polite status line inside a form after an HTMX save."""
    return P(message, role="status", cls="text-sm text-green-700 dark:text-green-400")


def BioField(value: str, error: str | None) -> FT:
    ident = "field-bio"
    described = f"{ident}-help" + (f" {ident}-error" if error else "")
    return Div(
        Label("Bio", fr=ident, cls="uk-form-label"),
        Textarea(
            value,
            id=ident,
            name="bio",
            rows="4",
            maxlength=str(BIO_MAX),
            cls=("uk-textarea", "uk-form-danger" if error else ""),
            aria_invalid="true" if error else None,
            aria_describedby=described,
        ),
        P(f"A few words about you, at most {BIO_MAX} characters.", id=f"{ident}-help", cls=TextPresets.muted_sm),
        P(error, id=f"{ident}-error", cls=_ERROR, role="alert") if error else None,
        cls="space-y-1",
    )


def TimezoneField(value: str, zones: list[str], error: str | None) -> FT:
    """A text input with the known zones as suggestions (a 600-option select is unusable)."""
    ident = "field-timezone"
    described = f"{ident}-help" + (f" {ident}-error" if error else "")
    return Div(
        Label("Timezone", fr=ident, cls="uk-form-label"),
        Input(
            id=ident,
            name="timezone",
            value=value,
            list="timezones",
            autocomplete="off",
            required=True,
            cls=("uk-input", "uk-form-danger" if error else ""),
            aria_invalid="true" if error else None,
            aria_describedby=described,
        ),
        Datalist(*(Option(value=z) for z in zones), id="timezones"),
        P("Dates and times are shown in this zone, e.g. Europe/Paris.", id=f"{ident}-help", cls=TextPresets.muted_sm),
        P(error, id=f"{ident}-error", cls=_ERROR, role="alert") if error else None,
        cls="space-y-1",
    )


def ProfileForm(
    action: str,
    csrf: str,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    *,
    fields: tuple[ProfileField, ...],
    extra: Mapping[str, Any],
    zones: list[str],
    notice: str | None = None,
) -> FT:
    """Display name, bio, language, timezone and the application fields; posts with HTMX
    (the form replaces itself) or as a plain form."""
    return Form(
        CsrfField(csrf),
        _Summary(errors),
        FormField(
            "Display name",
            "display_name",
            value=values.get("display_name", ""),
            error=errors.get("display_name"),
            autocomplete="name",
            help="The name other people see.",
        ),
        BioField(values.get("bio", ""), errors.get("bio")),
        SelectField(
            "Language", "locale", list(LOCALES), selected=values.get("locale", "en"), error=errors.get("locale")
        ),
        TimezoneField(values.get("timezone", "UTC"), zones, errors.get("timezone")),
        *(
            FormField(
                f.label,
                f"extra_{f.name}",
                value=str(values.get(f"extra_{f.name}", extra.get(f.name, "")) or ""),
                error=errors.get(f.name),
                help=f.help,
                required=False,
            )
            for f in fields
        ),
        Saved(notice) if notice else None,
        SubmitButton("Save profile"),
        id=PROFILE_FORM_ID,
        method="post",
        action=action,
        hx_post=action,
        hx_target=f"#{PROFILE_FORM_ID}",
        hx_swap="outerHTML",
        cls="space-y-4",
    )


def PreferencesForm(
    action: str,
    csrf: str,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    *,
    sample: datetime,
    notice: str | None = None,
) -> FT:
    """Theme, date and time format, with how a date looks with the saved choices."""
    prefs = DisplayPrefs(
        timezone=values.get("timezone", "UTC"),
        date_format=values.get("date_format", "iso"),
        time_format=values.get("time_format", "24h"),
    )
    return Form(
        CsrfField(csrf),
        _Summary(errors),
        SelectField("Theme", "theme", list(THEMES), selected=values.get("theme", "system"), error=errors.get("theme")),
        SelectField(
            "Date format",
            "date_format",
            list(DATE_FORMATS),
            selected=values.get("date_format", "iso"),
            error=errors.get("date_format"),
        ),
        SelectField(
            "Time format",
            "time_format",
            list(TIME_FORMATS),
            selected=values.get("time_format", "24h"),
            error=errors.get("time_format"),
        ),
        P("Dates look like this: ", Div(format_datetime(sample, prefs), id="date-sample", cls="inline font-mono")),
        Saved(notice) if notice else None,
        SubmitButton("Save preferences"),
        id=PREFERENCES_FORM_ID,
        method="post",
        action=action,
        hx_post=action,
        hx_target=f"#{PREFERENCES_FORM_ID}",
        hx_swap="outerHTML",
        cls="space-y-4",
    )


def Avatar(url: str, *, size: int, label: str = "") -> FT:
    """The user's avatar; decorative (empty alt) unless ``label`` names it."""
    return Img(src=url, alt=label, width=str(size), height=str(size), cls="rounded-full shrink-0")


def AvatarCard(
    image_url: str,
    *,
    custom: bool,
    upload_action: str,
    remove_action: str,
    csrf: str,
    error: str | None,
    notice: str | None = None,
) -> FT:
    """The current avatar, a picture upload (plain multipart form) and, for a picture, removal."""
    ident = "field-avatar"
    return Card(
        Div(
            Avatar(image_url, size=128, label="Your current avatar"),
            Div(
                Form(
                    CsrfField(csrf),
                    Label("Choose a picture", fr=ident, cls="uk-form-label"),
                    Input(
                        type="file",
                        id=ident,
                        name="file",
                        accept="image/png,image/jpeg,image/gif,image/webp",
                        required=True,
                        cls="block w-full text-sm",
                        aria_describedby=f"{ident}-help" + (f" {ident}-error" if error else ""),
                        aria_invalid="true" if error else None,
                    ),
                    P(
                        "PNG, JPEG, GIF or WebP. It is cropped to a square from the centre.",
                        id=f"{ident}-help",
                        cls=TextPresets.muted_sm,
                    ),
                    P(error, id=f"{ident}-error", cls=_ERROR, role="alert") if error else None,
                    SubmitButton("Upload picture"),
                    method="post",
                    action=upload_action,
                    enctype="multipart/form-data",
                    cls="space-y-2",
                ),
                Form(
                    CsrfField(csrf),
                    SubmitButton("Remove picture", destructive=True),
                    method="post",
                    action=remove_action,
                )
                if custom
                else P("Until you upload a picture, your initials are shown.", cls=TextPresets.muted_sm),
                Saved(notice) if notice else None,
                cls="space-y-4 min-w-0 flex-1",
            ),
            cls="flex flex-wrap items-start gap-6",
        ),
        header=H2("Avatar", cls="text-lg"),
        id="avatar",
    )


def ProfilePage(
    name: str,
    avatar: FT | None,
    profile_form: FT,
    preferences_form: FT,
    deactivate: FT | None,
    *,
    notifications_url: str,
    security_url: str,
) -> FT:
    return Div(
        PageHeading("Your profile", f"How {name} appears to others, and how the app appears to you."),
        Div(
            avatar,
            Card(profile_form, header=H2("Profile", cls="text-lg")),
            Card(preferences_form, header=H2("Preferences", cls="text-lg"), id="preferences"),
            Card(
                P(
                    "Choose which notifications reach you in the app and by email. ",
                    A("Notification settings", href=notifications_url, cls="underline"),
                ),
                P(
                    "Password, sessions and two-factor sign-in: ",
                    A("Account security", href=security_url, cls="underline"),
                ),
                header=H2("More settings", cls="text-lg"),
                body_cls="space-y-2",
            ),
            deactivate,
            cls="grid gap-6",
        ),
        cls="space-y-6 max-w-3xl",
    )


def DeactivateCard(action: str, csrf: str, *, error: str | None = None) -> FT:
    """Self-service deactivation: what it does, and a button (asks for the password when the
    sign-in is not recent)."""
    return Card(
        P(
            "Deactivating signs you out everywhere and hides you from other people. Nothing is deleted: "
            "sign in again at any time to reactivate your account.",
            cls=TextPresets.muted_sm,
        ),
        P(error, cls=_ERROR, role="alert") if error else None,
        Form(
            CsrfField(csrf),
            SubmitButton("Deactivate my account", destructive=True),
            method="post",
            action=action,
        ),
        header=H2("Deactivate your account", cls="text-lg"),
        id="deactivate",
        body_cls="space-y-4",
    )


def ReactivationOffer(action: str, csrf: str, token: str) -> FT:
    """For a deactivated user who just gave their password: one button brings the account back."""
    return Form(
        CsrfField(csrf),
        Input(type="hidden", name="token", value=token),
        P("You deactivated this account. Reactivate it to sign in and be visible to others again."),
        SubmitButton("Reactivate my account"),
        method="post",
        action=action,
        cls="space-y-4",
    )


def set_theme_cookie(request: Request, response: Response, theme: str) -> None:
    """Make the shell follow the user's saved theme (the shell reads only this cookie)."""
    set_site_cookie(request, response, THEME_COOKIE, theme, max_age=THEME_COOKIE_MAX_AGE)
