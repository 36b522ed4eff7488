"""What every user controls about themselves: profile and display preferences.

``ProfileService`` validates and saves the user's own profile (display name, bio, locale,
timezone and the application fields registered with ``add_profile_field``) and their display
preferences (theme, locale, timezone, date and time format). Every change is audited with the
values before and after; callers own the transaction and invalidate the cached principal when
the display name changes (the header shows it).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from PIL import UnidentifiedImageError
from pydantic import TypeAdapter, ValidationError

from fastapp.accounts import avatars
from fastapp.accounts.models import User, UserStatus
from fastapp.accounts.sessions import SessionService
from fastapp.accounts.tokens import EmailLinks
from fastapp.audit import Action, record
from fastapp.files import services as files
from fastapp.files.models import FileStatus, StoredFile
from fastapp.files.scanning import storage_of
from fastapp.files.upload import ReceivedUpload
from fastapp.platform.context import Context, Runtime, open_context
from fastapp.platform.errors import Conflict, Invalid, NotFound
from fastapp.platform.storage import StoredObjectMissing
from fastapp.ui.dates import DEFAULT_DISPLAY, DisplayPrefs

#: The locales the interface offers (value, name in that language).
LOCALES: tuple[tuple[str, str], ...] = (
    ("en", "English"),
    ("en-GB", "English (United Kingdom)"),
    ("fr", "Français"),
    ("de", "Deutsch"),
    ("es", "Español"),
    ("pt-BR", "Português (Brasil)"),
)
THEMES: tuple[tuple[str, str], ...] = (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark"))
DATE_FORMATS: tuple[tuple[str, str], ...] = (
    ("iso", "2026-01-31 (ISO)"),
    ("dmy", "31/01/2026 (day first)"),
    ("mdy", "01/31/2026 (month first)"),
)
TIME_FORMATS: tuple[tuple[str, str], ...] = (("24h", "13:45 (24-hour)"), ("12h", "1:45 PM (12-hour)"))
DISPLAY_NAME_MAX = 100
BIO_MAX = 500

PROFILE_FIELDS = ("display_name", "bio", "locale", "timezone")
PREFERENCE_FIELDS = ("theme", "locale", "timezone", "date_format", "time_format")


@dataclass(frozen=True)
class ProfileField:
    """An application-defined profile field, kept in ``User.profile_extra``.

    ``kind`` is any type pydantic validates (``str``, ``int``, ``Annotated[str, Field(...)]``, an
    enum...); a form's text is validated with it, and the validated value must be JSON-serialisable.
    """

    name: str
    label: str
    kind: Any = str
    help: str | None = None

    def __post_init__(self) -> None:
        if self.name in PROFILE_FIELDS or not self.name.isidentifier():
            raise ValueError(f"profile field name not allowed: {self.name!r}")


def profile_fields(ctx: Context) -> tuple[ProfileField, ...]:
    """The application fields registered in ``registry.profile_fields`` (none without a runtime)."""
    if ctx.runtime is None:
        return ()
    return tuple(f for f in ctx.runtime.registry.profile_fields if isinstance(f, ProfileField))


@cache
def timezones() -> frozenset[str]:
    """Every IANA timezone name this system knows (read once: it scans the tz database)."""
    return frozenset(available_timezones())


@dataclass(frozen=True)
class Preferences:
    """How a user wants things shown; ``DEFAULT`` for visitors and API clients without a user."""

    theme: str = "system"
    locale: str = "en"
    timezone: str = "UTC"
    date_format: str = "iso"
    time_format: str = "24h"

    @classmethod
    def of(cls, user: User) -> Preferences:
        return cls(
            theme=user.theme,
            locale=user.locale,
            timezone=user.timezone,
            date_format=user.date_format,
            time_format=user.time_format,
        )


DEFAULT_PREFERENCES = Preferences()


def extras_of(user: User) -> dict[str, Any]:
    """The user's application field values (unknown or unreadable JSON reads as empty)."""
    try:
        value = json.loads(user.profile_extra or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _choice(value: str, choices: tuple[tuple[str, str], ...], message: str) -> str | None:
    return None if value in {v for v, _ in choices} else message


def _check(name: str, value: str) -> str | None:
    """The error message for one built-in field's value, or None when it is acceptable."""
    if name == "display_name":
        if not value.strip():
            return "Enter the name other people see."
        if len(value) > DISPLAY_NAME_MAX:
            return f"Use at most {DISPLAY_NAME_MAX} characters."
    elif name == "bio" and len(value) > BIO_MAX:
        return f"Use at most {BIO_MAX} characters (this has {len(value)})."
    elif name == "locale":
        return _choice(value, LOCALES, "Choose one of the offered languages.")
    elif name == "timezone":
        return None if value in timezones() else "Choose a timezone from the list, e.g. Europe/Paris."
    elif name == "theme":
        return _choice(value, THEMES, "Choose light, dark or system.")
    elif name == "date_format":
        return _choice(value, DATE_FORMATS, "Choose iso, dmy or mdy.")
    elif name == "time_format":
        return _choice(value, TIME_FORMATS, "Choose 24h or 12h.")
    return None


class ProfileService:
    """The signed-in user's own profile and preferences (``ctx`` owns the transaction)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def get(self, user_id: uuid.UUID) -> User:
        user = await self.ctx.session.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        return user

    async def update_profile(
        self, user_id: uuid.UUID, changes: Mapping[str, str], extra: Mapping[str, str] | None = None
    ) -> User:
        """Apply the given built-in fields (``PROFILE_FIELDS``) and application fields.

        Fields not given are left alone. All values are checked first: ``Invalid`` with every
        field's message, and nothing changed, when any is wrong.
        """
        cleaned = {k: v.strip() if k != "bio" else v for k, v in changes.items() if k in PROFILE_FIELDS}
        errors = {k: msg for k, v in cleaned.items() if (msg := _check(k, v))}
        new_extra: dict[str, Any] = {}
        known = {f.name: f for f in profile_fields(self.ctx)}
        for name, raw in (extra or {}).items():
            field = known.get(name)
            if field is None:
                errors[name] = "Unknown profile field."
                continue
            try:
                value = TypeAdapter(field.kind).validate_python(raw)
            except ValidationError as exc:
                errors[name] = str(exc.errors()[0]["msg"])
                continue
            new_extra[name] = value
        if errors:
            raise Invalid("Please correct the fields below.", fields=errors)
        user = await self.get(user_id)
        return await self._apply(user, cleaned, new_extra, Action.PROFILE_UPDATED)

    async def update_preferences(self, user_id: uuid.UUID, changes: Mapping[str, str]) -> User:
        """Apply the given display preferences (``PREFERENCE_FIELDS``); ``Invalid`` when any is wrong."""
        cleaned = {k: v.strip() for k, v in changes.items() if k in PREFERENCE_FIELDS}
        errors = {k: msg for k, v in cleaned.items() if (msg := _check(k, v))}
        if errors:
            raise Invalid("Please correct the fields below.", fields=errors)
        user = await self.get(user_id)
        return await self._apply(user, cleaned, {}, Action.PREFERENCES_CHANGED)

    async def _apply(
        self, user: User, cleaned: Mapping[str, str], new_extra: Mapping[str, Any], action: Action
    ) -> User:
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for name, value in cleaned.items():
            if getattr(user, name) != value:
                before[name], after[name] = getattr(user, name), value
                setattr(user, name, value)
        if new_extra:
            current = extras_of(user)
            merged = {**current, **new_extra}
            if merged != current:
                changed = [k for k in new_extra if current.get(k) != new_extra[k]]
                before["profile_extra"] = {k: current.get(k) for k in changed}
                after["profile_extra"] = {k: new_extra[k] for k in changed}
                user.profile_extra = json.dumps(merged, ensure_ascii=False, sort_keys=True)
        if after:
            self._forget_display(user.id)
            # The name, the bio and application fields are what the user wrote about themselves:
            # they go in the personal part, which erasure blanks (the plain part is hash-chained).
            personal: dict[str, Any] = {
                k: {"before": before.pop(k), "after": after.pop(k)}
                for k in ("display_name", "bio", "profile_extra")
                if k in after
            }
            await record(
                self.ctx,
                action,
                target=("user", user.id),
                data={"before": before, "after": after},
                personal=personal or None,
            )
        return user

    # -- avatar ---------------------------------------------------------------------------

    async def set_avatar(self, user_id: uuid.UUID, received: ReceivedUpload) -> User:
        """Store ``received`` as the user's avatar through the files pipeline (purpose ``avatar``)
        and keep its square sizes; the previous avatar file goes to the trash.

        The caller discards ``received``. ``Invalid`` for an image Pillow cannot read or one the
        virus scan quarantined; the files errors (415, 413, 409) pass through.
        """
        user = await self.get(user_id)
        received.purpose = "avatar"
        file = await files.upload(self.ctx, received)
        if file.status == FileStatus.infected.value:
            raise Invalid("The virus scan refused this image.", fields={"file": "The virus scan refused this image."})
        storage = storage_of(self.ctx)
        data = b"".join([chunk async for chunk in storage.read(file.storage_key)])
        try:
            sizes = await asyncio.to_thread(avatars.square_sizes, data)
        except (UnidentifiedImageError, OSError) as exc:
            raise Invalid("Upload a PNG, JPEG, GIF or WebP image.", fields={"file": "Not a readable image."}) from exc
        keys = []
        for size, body in sizes.items():
            key = avatars.size_key(file.id, size)
            await storage.put_stream(key, _one(body), content_type=avatars.AVATAR_TYPE)
            keys.append(key)

        async def forget_sizes() -> None:
            for key in keys:
                await storage.delete(key)

        self.ctx.on_rollback(forget_sizes)
        before = user.avatar_file_id
        await self._drop_avatar_file(before)
        user.avatar_file_id = file.id
        await record(
            self.ctx,
            Action.AVATAR_CHANGED,
            target=("user", user.id),
            data={"before": str(before) if before else None, "after": str(file.id)},
        )
        return user

    async def remove_avatar(self, user_id: uuid.UUID) -> User:
        """Back to the generated initials; the avatar file goes to the trash. Idempotent."""
        user = await self.get(user_id)
        before = user.avatar_file_id
        if before is None:
            return user
        await self._drop_avatar_file(before)
        user.avatar_file_id = None
        await record(
            self.ctx, Action.AVATAR_CHANGED, target=("user", user.id), data={"before": str(before), "after": None}
        )
        return user

    async def _drop_avatar_file(self, file_id: uuid.UUID | None) -> None:
        if file_id is None:
            return
        await files.delete(self.ctx, file_id)
        storage = storage_of(self.ctx)

        async def forget_sizes() -> None:
            for size in avatars.SIZES:
                await storage.delete(avatars.size_key(file_id, size))

        self.ctx.on_commit(forget_sizes)

    async def avatar_image(self, user: User, size: int) -> bytes | None:
        """The PNG of ``user``'s avatar at ``size`` (one of ``avatars.SIZES``), or None when they
        have none that may be shown (none uploaded, waiting for its scan, removed)."""
        if user.avatar_file_id is None or size not in avatars.SIZES:
            return None
        file = await self.ctx.session.get(StoredFile, user.avatar_file_id)
        if file is None or file.deleted_at is not None:
            return None
        if file.status not in (FileStatus.clean.value, FileStatus.unscanned.value):
            return None
        try:
            chunks = [c async for c in storage_of(self.ctx).read(avatars.size_key(file.id, size))]
        except StoredObjectMissing:
            return None
        return b"".join(chunks)

    # -- deactivation ---------------------------------------------------------------------

    async def deactivate(self, user_id: uuid.UUID, sessions: SessionService) -> User:
        """Deactivate the user's own account: every session ends (cached principals too), they
        stop receiving notifications and are hidden from others; their data is kept. The caller
        checks the recent sign-in. ``Conflict`` unless the account is active."""
        user = await self.get(user_id)
        if user.status != UserStatus.active.value:
            raise Conflict("Only an active account can be deactivated.")
        user.status = UserStatus.deactivated.value
        user.deactivated_at = self.ctx.clock.now()
        ended = await sessions.end_all(user.id, reason="account deactivated")
        await sessions.invalidate_user(user.id)
        await record(
            self.ctx,
            Action.USER_DEACTIVATED,
            target=("user", user.id),
            data={"before": {"status": UserStatus.active.value}, "after": {"status": user.status}, "sessions": ended},
        )
        return user

    async def reactivate(self, links: EmailLinks, token: str) -> User:
        """Restore the account a reactivation token (``reactivation_token``) was issued for.
        ``Invalid`` when the token expired or the account is no longer deactivated."""
        user_id, fingerprint = links.read(token, REACTIVATE, max_age=timedelta(minutes=REACTIVATE_MINUTES))
        user = await self.ctx.session.get(User, user_id)
        if user is None or fingerprint != _reactivation_fingerprint(user):
            raise Invalid("This reactivation link has expired. Sign in again.")
        deactivated_at = user.deactivated_at
        user.status = UserStatus.active.value
        user.deactivated_at = None
        await record(
            self.ctx,
            Action.USER_REACTIVATED,
            target=("user", user.id),
            data={
                "before": {"status": UserStatus.deactivated.value},
                "after": {"status": user.status},
                "deactivated_at": deactivated_at.isoformat() if deactivated_at else None,
            },
        )
        return user

    def _forget_display(self, user_id: uuid.UUID) -> None:
        """Drop the cached display preferences once the change is committed."""
        if self.ctx.runtime is not None:
            cache = self.ctx.runtime.backends.cache

            async def forget() -> None:
                await cache.delete(_display_key(user_id))

            self.ctx.on_commit(forget)


DISPLAY_TTL_SECONDS = 3600
REACTIVATE = "reactivate"
REACTIVATE_MINUTES = 10


def _reactivation_fingerprint(user: User) -> str:
    # Stale once the account changes status or password: a token reactivates at most once.
    return EmailLinks.fingerprint(user.status, str(user.deactivated_at), user.password_hash)


def reactivation_token(links: EmailLinks, user: User) -> str:
    """A signed, 10-minute proof that a deactivated user just gave their password."""
    return links.make(REACTIVATE, user.id, _reactivation_fingerprint(user))


def _display_key(user_id: uuid.UUID) -> str:
    return f"accounts:display:{user_id}"


async def display_preferences(runtime: Runtime, user_id: uuid.UUID) -> DisplayPrefs:
    """``registry.display_preferences``: a user's timezone and date/time formats, from the cache
    (shared by every process, forgotten when they change), else read once from the database."""
    cache = runtime.backends.cache
    raw = await cache.get(_display_key(user_id))
    if raw is not None:
        data = json.loads(raw)
        return DisplayPrefs(timezone=data["tz"], date_format=data["date"], time_format=data["time"])
    async with open_context(runtime, request_id="display-preferences", ip=None) as ctx:
        user = await ctx.session.get(User, user_id)
        prefs = (
            DisplayPrefs(timezone=user.timezone, date_format=user.date_format, time_format=user.time_format)
            if user is not None
            else DEFAULT_DISPLAY
        )
    value = {"tz": prefs.timezone, "date": prefs.date_format, "time": prefs.time_format}
    await cache.set(_display_key(user_id), json.dumps(value).encode(), ttl=DISPLAY_TTL_SECONDS)
    return prefs


async def _one(body: bytes) -> AsyncIterator[bytes]:
    yield body
