"""JSON routes for the signed-in user's profile, preferences, avatar and deactivation (/api/v1/me)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from fastapp.accounts import avatars, wiring
from fastapp.accounts.models import User
from fastapp.accounts.policy import require_recent_authentication
from fastapp.accounts.profile import ProfileService, extras_of
from fastapp.accounts.schemas import AcceptedOut, AvatarOut, PreferencesIn, PreferencesOut, ProfileIn, ProfileOut
from fastapp.api.deps import ContextDep, PrincipalDep, RuntimeDep, VerifiedPrincipalDep
from fastapp.files.upload import receive_request

router = APIRouter(prefix="/me", tags=["me"])


def _profile_out(user: User) -> ProfileOut:
    return ProfileOut(
        display_name=user.display_name,
        bio=user.bio,
        locale=user.locale,
        timezone=user.timezone,
        extra=extras_of(user),
    )


def _preferences_out(user: User) -> PreferencesOut:
    return PreferencesOut(
        theme=user.theme,
        locale=user.locale,
        timezone=user.timezone,
        date_format=user.date_format,
        time_format=user.time_format,
    )


@router.get("/profile", response_model=ProfileOut)
async def get_profile(principal: PrincipalDep, ctx: ContextDep) -> ProfileOut:
    return _profile_out(await ProfileService(ctx).get(principal.user_id))


@router.patch("/profile", response_model=ProfileOut)
async def update_profile(body: ProfileIn, principal: PrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> ProfileOut:
    """Change the fields sent; 422 (with each field's message) when any value is refused."""
    changes = body.model_dump(exclude_none=True, exclude={"extra"})
    user = await ProfileService(ctx).update_profile(principal.user_id, changes, body.extra)
    if "display_name" in changes:
        await wiring.sessions(runtime, ctx).invalidate_user(principal.user_id)
    return _profile_out(user)


@router.get("/preferences", response_model=PreferencesOut)
async def get_preferences(principal: PrincipalDep, ctx: ContextDep) -> PreferencesOut:
    return _preferences_out(await ProfileService(ctx).get(principal.user_id))


@router.patch("/preferences", response_model=PreferencesOut)
async def update_preferences(
    body: PreferencesIn, principal: PrincipalDep, ctx: ContextDep, runtime: RuntimeDep
) -> PreferencesOut:
    """Change the preferences sent; 422 when any value is not one of the offered choices."""
    user = await ProfileService(ctx).update_preferences(principal.user_id, body.model_dump(exclude_none=True))
    await wiring.sessions(runtime, ctx).invalidate_user(principal.user_id)
    return _preferences_out(user)


_MULTIPART: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def _avatar_out(user: User) -> AvatarOut:
    return AvatarOut(
        custom=user.avatar_file_id is not None,
        urls={str(size): avatars.avatar_url(user.id, size) for size in avatars.SIZES},
    )


@router.get("/avatar", response_model=AvatarOut)
async def get_avatar(principal: PrincipalDep, ctx: ContextDep) -> AvatarOut:
    return _avatar_out(await ProfileService(ctx).get(principal.user_id))


@router.put("/avatar", response_model=AvatarOut, openapi_extra=_MULTIPART)
async def put_avatar(
    request: Request, principal: VerifiedPrincipalDep, ctx: ContextDep, runtime: RuntimeDep
) -> AvatarOut:
    """Upload a picture (multipart field ``file``); it is centre-cropped to a square and served
    at 64, 128 and 256 px. 415 for a type that is not an image, 413 past the size limit."""
    config = runtime.config
    received = await receive_request(
        request, max_bytes=config.files.max_upload_bytes, tmp_dir=config.app.var_dir / "tmp" / "uploads"
    )
    try:
        user = await ProfileService(ctx).set_avatar(principal.user_id, received)
    finally:
        received.discard()
    return _avatar_out(user)


@router.delete("/avatar", response_model=AvatarOut)
async def delete_avatar(principal: PrincipalDep, ctx: ContextDep) -> AvatarOut:
    """Remove the picture: the generated initials are shown again."""
    return _avatar_out(await ProfileService(ctx).remove_avatar(principal.user_id))


@router.post("/deactivate", response_model=AcceptedOut)
async def deactivate(principal: PrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> AcceptedOut:
    """Deactivate your account (needs a sign-in within the last minutes): every session and
    token ends, you are hidden from others, nothing is deleted. Sign in on the website to
    reactivate it."""
    require_recent_authentication(principal, now=ctx.clock.now(), minutes=wiring.kit(runtime).settings.sudo_minutes)
    await ProfileService(ctx).deactivate(principal.user_id, wiring.sessions(runtime, ctx))
    return AcceptedOut(detail="Your account is deactivated. Sign in on the website to reactivate it.")
