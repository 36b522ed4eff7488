"""The profile page (/account/profile): profile, preferences, avatar and deactivation.

Routes are adapters: parse the form, call ``ProfileService`` in one transaction, render. Forms
post with HTMX (the form replaces itself, errors inline) and work as plain forms without it.
"""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import quote

from fasthtml.common import FT, APIRouter, P, Redirect, to_xml
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from fastapp.accounts import avatars, pages, wiring
from fastapp.accounts import components as c
from fastapp.accounts import profile_components as pc
from fastapp.accounts.models import User
from fastapp.accounts.policy import require_recent_authentication
from fastapp.accounts.profile import (
    PREFERENCE_FIELDS,
    PROFILE_FIELDS,
    ProfileService,
    extras_of,
    timezones,
)
from fastapp.accounts.web import context_of, csrf_of, runtime_of, signed_in
from fastapp.files.pages import _received
from fastapp.notifications.pages import settings_page as notification_settings
from fastapp.platform.context import Principal
from fastapp.platform.errors import DomainError, Invalid, NotFound, ReauthenticationRequired
from fastapp.platform.htmx import is_htmx, trigger_header
from fastapp.ui.request import render_response

rt = APIRouter()
NOTICES = {
    "profile": "Your profile is saved.",
    "preferences": "Your preferences are saved.",
    "avatar": "Your picture is saved.",
    "avatar-removed": "Your picture is removed: your initials are shown.",
}


def _profile_values(user: User) -> dict[str, str]:
    return {name: str(getattr(user, name)) for name in PROFILE_FIELDS}


def _preference_values(user: User) -> dict[str, str]:
    return {name: str(getattr(user, name)) for name in PREFERENCE_FIELDS}


def _profile_form(
    request: Request, user: User, values: dict[str, str], errors: dict[str, str], notice: str | None = None
) -> FT:
    fields = tuple(f for f in runtime_of(request).registry.profile_fields)
    return pc.ProfileForm(
        save_profile.to(),
        csrf_of(request),
        values,
        errors,
        fields=fields,
        extra=extras_of(user),
        zones=sorted(timezones()),
        notice=notice,
    )


def _preferences_form(
    request: Request, values: dict[str, str], errors: dict[str, str], notice: str | None = None
) -> FT:
    return pc.PreferencesForm(
        save_preferences.to(),
        csrf_of(request),
        values,
        errors,
        sample=runtime_of(request).backends.clock.now(),
        notice=notice,
    )


async def _page(
    request: Request,
    principal: Principal,
    *,
    profile: tuple[dict[str, str], dict[str, str]] | None = None,
    preferences: tuple[dict[str, str], dict[str, str]] | None = None,
    notice: str | None = None,
    avatar_error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with context_of(request) as ctx:
        user = await ProfileService(ctx).get(principal.user_id)
    profile_values, profile_errors = profile or (_profile_values(user), {})
    pref_values, pref_errors = preferences or (_preference_values(user), {})
    links = runtime_of(request).registry.account_links
    return render_response(
        request,
        "Your profile",
        pc.ProfilePage(
            user.display_name,
            pc.AvatarCard(
                avatars.avatar_url(user.id, 128),
                custom=user.avatar_file_id is not None,
                upload_action=upload_avatar.to(),
                remove_action=remove_avatar.to(),
                csrf=csrf_of(request),
                error=avatar_error,
                notice=notice if notice in (NOTICES["avatar"], NOTICES["avatar-removed"]) else None,
            ),
            _profile_form(
                request, user, profile_values, profile_errors, notice if notice == NOTICES["profile"] else None
            ),
            _preferences_form(request, pref_values, pref_errors, notice if notice == NOTICES["preferences"] else None),
            pc.DeactivateCard(deactivate.to(), csrf_of(request)),
            notifications_url=notification_settings.to(),
            security_url=links.get("account", "/account/security"),
        ),
        status=status,
    )


@rt("/account/profile", methods=["get"])
async def profile_page(request: Request, saved: str = "") -> object:
    principal = signed_in(request)
    return await _page(request, principal, notice=NOTICES.get(saved))


def _form_values(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(form[name]) for name in names if name in form}


def _extra_values(request: Request, form: FormData) -> dict[str, str]:
    names = [f.name for f in runtime_of(request).registry.profile_fields]
    return {name: str(form[f"extra_{name}"]) for name in names if f"extra_{name}" in form}


@rt("/account/profile", methods=["post"])
async def save_profile(request: Request) -> Response:
    """Save the profile; the HTMX form gets itself back (with errors, 422), a plain form a redirect."""
    principal = signed_in(request)
    runtime = runtime_of(request)
    form = await request.form()
    changes = _form_values(form, PROFILE_FIELDS)
    extra = _extra_values(request, form)
    try:
        async with context_of(request) as ctx:
            user = await ProfileService(ctx).update_profile(principal.user_id, changes, extra)
            if changes.get("display_name", principal.display_name) != principal.display_name:
                await wiring.sessions(runtime, ctx).invalidate_user(principal.user_id)
            fresh = _profile_form(request, user, _profile_values(user), {}, NOTICES["profile"])
    except Invalid as exc:
        values = {**changes, **{f"extra_{k}": v for k, v in extra.items()}}
        if is_htmx(request.headers):
            async with context_of(request) as ctx:
                user = await ProfileService(ctx).get(principal.user_id)
            return HTMLResponse(to_xml(_profile_form(request, user, values, exc.fields)), status_code=422)
        return await _page(request, principal, profile=(values, exc.fields), status=422)
    if is_htmx(request.headers):
        return HTMLResponse(to_xml(fresh))
    return _redirect(request, "profile")


@rt("/account/preferences", methods=["post"])
async def save_preferences(request: Request) -> Response:
    """Save display preferences; a theme choice also sets the shell's theme cookie."""
    principal = signed_in(request)
    form = await request.form()
    changes = _form_values(form, PREFERENCE_FIELDS)
    try:
        async with context_of(request) as ctx:
            user = await ProfileService(ctx).update_preferences(principal.user_id, changes)
            values = _preference_values(user)
    except Invalid as exc:
        if is_htmx(request.headers):
            return HTMLResponse(to_xml(_preferences_form(request, changes, exc.fields)), status_code=422)
        return await _page(request, principal, preferences=(changes, exc.fields), status=422)
    response: Response
    if is_htmx(request.headers):
        response = HTMLResponse(
            to_xml(_preferences_form(request, values, {}, NOTICES["preferences"])),
            headers=trigger_header({"themeChanged": {"mode": user.theme}}),
        )
    else:
        response = _redirect(request, "preferences")
    pc.set_theme_cookie(request, response, user.theme)
    return response


def _redirect(request: Request, saved: str) -> Response:
    response: Response = Redirect(f"{profile_page.to()}?saved={saved}").__response__(request)
    return response


# -- avatar -------------------------------------------------------------------------------------


@rt("/account/avatar", methods=["post"])
async def upload_avatar(request: Request) -> Response:
    """The picture upload (a plain multipart form): then back to the profile page."""
    principal = signed_in(request)
    config = runtime_of(request).config
    form = await request.form()
    try:
        received = await _received(
            form.get("file"),
            "avatar",
            max_bytes=config.files.max_upload_bytes,
            tmp_dir=config.app.var_dir / "tmp" / "uploads",
        )
        try:
            async with context_of(request) as ctx:
                await ProfileService(ctx).set_avatar(principal.user_id, received)
        finally:
            received.discard()
    except DomainError as exc:
        return await _page(request, principal, avatar_error=exc.fields.get("file") or exc.detail, status=exc.status)
    finally:
        await form.close()
    return _redirect(request, "avatar")


@rt("/account/avatar/remove", methods=["post"])
async def remove_avatar(request: Request) -> Response:
    principal = signed_in(request)
    async with context_of(request) as ctx:
        await ProfileService(ctx).remove_avatar(principal.user_id)
    return _redirect(request, "avatar-removed")


@rt("/avatars/{user_id}/{size}", methods=["get"])
async def avatar_image(request: Request, user_id: str, size: int) -> Response:
    """A user's avatar for signed-in viewers: their picture (PNG) or their initials (SVG).

    Revalidated on every use (``no-cache`` with an ETag naming the picture), so a new picture
    shows at once while an unchanged one costs a 304.
    """
    signed_in(request)
    if size not in avatars.SIZES:
        raise NotFound("No such avatar size.")
    try:
        ident = uuid.UUID(user_id)
    except ValueError as exc:
        raise NotFound("No such user.") from exc
    async with context_of(request) as ctx:
        service = ProfileService(ctx)
        user = await service.get(ident)
        image = await service.avatar_image(user, size)
    if image is not None:
        etag = f'"{user.avatar_file_id}-{size}"'
        body, media_type = image, avatars.AVATAR_TYPE
    else:
        body = avatars.initials_svg(user.id, user.display_name, size).encode()
        etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        media_type = "image/svg+xml"
    headers = {"Cache-Control": "private, no-cache", "ETag": etag, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


# -- deactivation and reactivation ----------------------------------------------------------------


@rt("/account/deactivate", methods=["post"])
async def deactivate(request: Request) -> Response:
    """Deactivate the signed-in account (after a recent password confirmation), then say so."""
    principal = signed_in(request)
    runtime = runtime_of(request)
    try:
        require_recent_authentication(
            principal, now=runtime.backends.clock.now(), minutes=wiring.kit(runtime).settings.sudo_minutes
        )
    except ReauthenticationRequired:
        back = quote(f"{profile_page.to()}#deactivate")
        response: Response = Redirect(f"{pages.confirm_password_page.to()}?next={back}").__response__(request)
        return response
    async with context_of(request) as ctx:
        await ProfileService(ctx).deactivate(principal.user_id, wiring.sessions(runtime, ctx))
    response = Redirect(deactivated_page.to()).__response__(request)
    k = wiring.kit(runtime)
    response.delete_cookie(k.cookie_name, path="/", secure=k.secure_cookies, httponly=True, samesite="lax")
    return response


@rt("/account/deactivated", methods=["get"])
async def deactivated_page(request: Request) -> HTMLResponse:
    link = c.Link("Sign in to reactivate", pages.sign_in_page.to())
    return render_response(
        request,
        "Account deactivated",
        c.AuthCard(
            "Your account is deactivated",
            "You are signed out everywhere. Your data is kept.",
            P("Changed your mind? Sign in again at any time to reactivate it."),
            footer=link,
        ),
    )


@rt(pc.REACTIVATE_PATH, methods=["post"])
async def reactivate(request: Request, token: str = "") -> HTMLResponse:
    """Restore the account, then ask for a normal sign-in (with the second factor when on)."""
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            await ProfileService(ctx).reactivate(wiring.kit(runtime).links, token)
    except Invalid as exc:
        link = c.Link("Sign in", pages.sign_in_page.to())
        body = c.AuthCard("Reactivation failed", exc.detail, P(exc.detail, role="alert"), footer=link)
        return render_response(request, "Reactivation failed", body, status=422)
    link = c.Link("Sign in", f"{pages.sign_in_page.to()}?next={quote(profile_page.to())}")
    body = c.AuthCard(
        "Your account is active again",
        "Welcome back.",
        P("Sign in to continue where you left off."),
        footer=link,
    )
    return render_response(request, "Account reactivated", body)
