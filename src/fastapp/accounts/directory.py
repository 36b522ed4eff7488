"""The user directory as administrators query it: search, filters, sort and keyset pagination.

One service behind ``/admin/users`` and ``GET /api/v1/admin/users``. Pages are cut by a cursor on
``(sort key, id)`` (``WHERE (key, id) > (:key, :id) ORDER BY key, id LIMIT n``), never by offset, so
page 1,000 costs what page 1 costs and rows inserted meanwhile do not shift the pages. The cursor is
opaque to callers (URL-safe base64 of JSON) and is checked: a forged or stale cursor is ``Invalid``.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, or_, select

from fastapp.accounts import wiring
from fastapp.accounts.models import AuthSession, Role, User, UserRole, UserStatus
from fastapp.accounts.services import is_last_owner
from fastapp.audit import Action, record
from fastapp.notifications import NotificationKind, notify
from fastapp.platform.context import Context, Principal, Runtime
from fastapp.platform.errors import Conflict, DomainError, Invalid, PermissionDenied

Sort = Literal["created", "email", "name"]
SORTS: tuple[Sort, ...] = ("created", "email", "name")
STATUSES: tuple[str, ...] = tuple(s.value for s in UserStatus)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class UserQuery:
    """What an administrator asks for. Empty/None fields do not filter.

    ``search`` matches email or display name, case-insensitively, anywhere in them. ``created_from``
    and ``created_to`` are whole UTC days, both included. ``sort`` ``created`` is newest first;
    ``email`` and ``name`` are A to Z.
    """

    search: str = ""
    role: str | None = None
    status: str | None = None
    verified: bool | None = None
    two_factor: bool | None = None
    created_from: date | None = None
    created_to: date | None = None
    sort: Sort = "created"
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    next_cursor: str | None


def _key(sort: Sort) -> ColumnElement[Any]:
    if sort == "email":
        return User.email_key  # type: ignore[return-value]
    if sort == "name":
        return func.lower(User.display_name)
    return User.created_at  # type: ignore[return-value]


def encode_cursor(sort: Sort, value: str, ident: uuid.UUID) -> str:
    raw = json.dumps([sort, value, str(ident)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: Sort) -> tuple[Any, uuid.UUID]:
    """The (key, id) a cursor continues after; ``Invalid`` when it is malformed or of another sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, value, ident = json.loads(raw)
        if kind != sort or not isinstance(value, str):
            raise ValueError(kind)
        key: Any = datetime.fromisoformat(value) if sort == "created" else value
        return key, uuid.UUID(ident)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("This page link is no longer valid: start again from the first page.") from exc


def _filters(query: UserQuery, role_id: uuid.UUID | None = None) -> list[ColumnElement[bool]]:
    """The WHERE conditions of ``query``; ``role_id`` is its role, already looked up (``_role_id``)."""
    found: list[ColumnElement[bool]] = []
    if query.role:
        found.append(User.id.in_(select(UserRole.user_id).where(UserRole.role_id == role_id)))
    text = query.search.strip().lower()
    if text:
        # One constant pattern (wildcards in the input escaped), rather than contains()'s
        # '%' || :text || '%' that the database would concatenate again for every row.
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        found.append(
            or_(
                User.email_key.like(pattern, escape="\\"),
                func.lower(User.display_name).like(pattern, escape="\\"),
            )
        )
    if query.status:
        if query.status not in STATUSES:
            raise Invalid("Choose a known status.", fields={"status": "Choose a known status."})
        found.append(User.status == query.status)
    if query.verified is not None:
        found.append(User.email_verified_at.is_not(None) if query.verified else User.email_verified_at.is_(None))
    if query.two_factor is not None:
        found.append(User.totp_enabled_at.is_not(None) if query.two_factor else User.totp_enabled_at.is_(None))
    if query.created_from and query.created_to and query.created_from > query.created_to:
        raise Invalid(
            "The first day comes after the last.", fields={"created_to": "Choose a day on or after the first day."}
        )
    if query.created_from:
        found.append(User.created_at >= datetime.combine(query.created_from, time.min, UTC))
    if query.created_to:
        found.append(User.created_at < datetime.combine(query.created_to + timedelta(days=1), time.min, UTC))
    return found


async def _role_id(ctx: Context, name: str | None) -> uuid.UUID | None:
    """The role's id, looked up first: with the id as a constant PostgreSQL plans the role filter
    from user_roles' statistics (a join on roles.name made it walk every user, ~400 ms at 100k)."""
    if not name:
        return None
    return await ctx.session.scalar(select(Role.id).where(Role.name == name))


async def list_users(ctx: Context, query: UserQuery) -> UserPage:
    """One page of users matching ``query``, and the cursor of the next page (``None`` on the last).

    Raises ``Invalid`` for an unknown sort or status, an inverted date range or a bad cursor.
    The caller checks ``users:read``.
    """
    if query.sort not in SORTS:
        raise Invalid("Choose a known sort order.", fields={"sort": "Choose a known sort order."})
    limit = max(1, min(query.limit, MAX_LIMIT))
    key = _key(query.sort)
    descending = query.sort == "created"  # newest sign-ups first; names and addresses A to Z
    # The key is read back from the database so the cursor holds exactly what the database compares
    # (SQLite's lower() folds only ASCII, Python's folds everything).
    stmt = select(User, key.label("sort_key")).where(*_filters(query, await _role_id(ctx, query.role)))
    if query.cursor:
        value, ident = decode_cursor(query.cursor, query.sort)
        if descending:
            stmt = stmt.where(or_(key < value, and_(key == value, User.id < ident)))
        else:
            stmt = stmt.where(or_(key > value, and_(key == value, User.id > ident)))
    order = (key.desc(), User.id.desc()) if descending else (key.asc(), User.id.asc())
    rows = (await ctx.session.execute(stmt.order_by(*order).limit(limit + 1))).all()
    users = [user for user, _ in rows[:limit]]
    if len(rows) <= limit:
        return UserPage(users, None)
    last, value = rows[limit - 1]
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return UserPage(users, encode_cursor(query.sort, text, last.id))


async def count_by_status(ctx: Context) -> dict[str, int]:
    """How many accounts are in each status (every status present, zero when none)."""
    rows = await ctx.session.execute(select(User.status, func.count()).group_by(User.status))
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({str(status): int(n) for status, n in rows.all()})
    return counts


def _yes_no(value: str, name: str) -> bool | None:
    if value in ("", None):
        return None
    if value in ("yes", "true", "1"):
        return True
    if value in ("no", "false", "0"):
        return False
    raise Invalid("Choose yes, no or either.", fields={name: "Choose yes, no or either."})


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Invalid("Enter a date as YYYY-MM-DD.", fields={name: "Enter a date as YYYY-MM-DD."}) from exc


def parse_query(values: dict[str, str], *, limit: int = DEFAULT_LIMIT) -> UserQuery:
    """A ``UserQuery`` from text parameters (a page's query string or the API's); ``Invalid`` with
    the offending field for a bad value. Keys: q, role, status, verified, two_factor (yes|no),
    created_from, created_to (YYYY-MM-DD), sort, cursor."""
    sort = values.get("sort") or "created"
    if sort not in SORTS:
        raise Invalid("Choose a known sort order.", fields={"sort": "Choose a known sort order."})
    status = values.get("status") or None
    if status is not None and status not in STATUSES:
        raise Invalid("Choose a known status.", fields={"status": "Choose a known status."})
    return UserQuery(
        search=values.get("q", "")[:320],
        role=values.get("role") or None,
        status=status,
        verified=_yes_no(values.get("verified", ""), "verified"),
        two_factor=_yes_no(values.get("two_factor", ""), "two_factor"),
        created_from=_day(values.get("created_from", ""), "created_from"),
        created_to=_day(values.get("created_to", ""), "created_to"),
        sort=sort,  # checked against SORTS above
        limit=limit,
        cursor=values.get("cursor") or None,
    )


# -- what an administrator does to one account (``users:manage``) ---------------------------------

ACCOUNT_DEACTIVATED = "account.deactivated"
ACCOUNT_REACTIVATED = "account.reactivated"
SESSIONS_ENDED = "account.sessions_ended"
PASSWORD_RESET_REQUIRED = "account.password_reset_required"  # noqa: S105 - a kind's name, not a secret

#: The confirmation shown after an action on one account (keys travel in the redirect's query string,
#: so only these fixed texts can ever appear).
DONE: dict[str, str] = {
    "role": "The role was changed; it applies from the user's next request.",
    "deactivate": "The account was deactivated and every session of it ended.",
    "reactivate": "The account was reactivated.",
    "end-sessions": "Every session of the account was ended.",
    "resend-verification": "A new verification link is on its way.",
    "require-password-reset": "The user must choose a new password at their next sign-in.",
}


def notification_kinds(security_url: str) -> list[NotificationKind]:
    """The notifications an administrator's actions send (category ``account``), for the registry."""
    return [
        NotificationKind(
            key=ACCOUNT_REACTIVATED,
            category="account",
            title="Your account was reactivated",
            body="{by} reactivated your account: you can sign in again.",
            link=security_url,
            sample={"by": "Ada Lovelace"},
        ),
        NotificationKind(
            key=SESSIONS_ENDED,
            category="account",
            title="You were signed out everywhere",
            body="{by} ended all your sessions. Sign in again to continue.",
            link=security_url,
            sample={"by": "Ada Lovelace"},
        ),
        NotificationKind(
            key=PASSWORD_RESET_REQUIRED,
            category="account",
            title="Choose a new password",
            body="{by} asked you to choose a new password the next time you sign in.",
            link=security_url,
            sample={"by": "Ada Lovelace"},
        ),
    ]


class UserAdmin:
    """Administrator actions on accounts. Every method checks ``users:manage`` and that the target
    holds no permission the administrator lacks (an admin cannot act on an owner), is audited with
    the state before and after, and notifies the user where it affects them. The caller owns the
    transaction: a bulk action is one transaction."""

    def __init__(self, runtime: Runtime, ctx: Context) -> None:
        self.runtime, self.ctx = runtime, ctx
        self.accounts = wiring.accounts(runtime, ctx)
        self.sessions = wiring.sessions(runtime, ctx)

    @property
    def principal(self) -> Principal:
        principal = self.ctx.principal
        if principal is None or not principal.can("users:manage"):
            raise PermissionDenied("You do not have permission to manage users.")
        return principal

    @property
    def _by(self) -> str:
        return self.principal.display_name or "An administrator"

    async def target(self, user_id: uuid.UUID) -> User:
        """The account to act on; ``NotFound`` or ``PermissionDenied`` (it holds more than you do)."""
        principal = self.principal
        user = await self.accounts.get_user(user_id)
        if not await self.accounts.permissions_of(user) <= principal.permissions:
            raise PermissionDenied("You cannot manage an account that holds permissions you do not hold.")
        return user

    async def set_role(self, user_id: uuid.UUID, role: str) -> User:
        """Exactly one role, with the Identity rules of ``AccountService.set_role`` (grant only what
        you hold, the last owner stays owner); audited and notified there."""
        user = await self.target(user_id)
        await self.accounts.set_role(user, role, granter=self.principal.permissions)
        return user

    async def deactivate(self, user_id: uuid.UUID) -> User:
        """Deactivate the account and end every session it has. Not yourself, not the last owner;
        ``Conflict`` when already deactivated."""
        user = await self.target(user_id)
        if user.id == self.principal.user_id:
            raise Conflict("You cannot deactivate your own account here.")
        if user.status == UserStatus.deactivated.value:
            raise Conflict(f"{user.email} is already deactivated.")
        if user.status == UserStatus.erased.value:
            raise Conflict("An erased account cannot be changed.")
        if user.status == UserStatus.deletion_requested.value:
            raise Conflict(f"{user.email} is waiting to be erased: see the pending erasures instead.")
        if await is_last_owner(self.ctx, user.id):
            raise Conflict("This is the last owner: make someone else an owner first.")
        before = user.status
        user.status = UserStatus.deactivated.value
        user.deactivated_at = self.ctx.clock.now()
        ended = await self.sessions.end_all(user.id, reason="account deactivated by an administrator")
        await self.sessions.invalidate_user(user.id)
        await record(
            self.ctx,
            Action.USER_DEACTIVATED,
            target=("user", user.id),
            data={"before": {"status": before}, "after": {"status": user.status}, "sessions_ended": ended},
        )
        # No notification: a deactivated account receives none (see registry.recipients).
        return user

    async def reactivate(self, user_id: uuid.UUID) -> User:
        """Active again (pending when the address was never verified); ``Conflict`` unless deactivated."""
        user = await self.target(user_id)
        if user.status != UserStatus.deactivated.value:
            raise Conflict(f"{user.email} is not deactivated.")
        user.status = (UserStatus.active if user.email_verified_at else UserStatus.pending).value
        user.deactivated_at = None
        await self.sessions.invalidate_user(user.id)
        await record(
            self.ctx,
            Action.USER_REACTIVATED,
            target=("user", user.id),
            data={"before": {"status": UserStatus.deactivated.value}, "after": {"status": user.status}},
        )
        await self.ctx.session.flush()
        await notify(self.ctx, [user.id], ACCOUNT_REACTIVATED, {"by": self._by})
        return user

    async def end_sessions(self, user_id: uuid.UUID) -> int:
        """End every session of the user (each is audited as ended); how many there were."""
        user = await self.target(user_id)
        ended = await self.sessions.end_all(user.id, reason="ended by an administrator")
        await record(
            self.ctx,
            Action.ADMIN_SESSIONS_ENDED,
            target=("user", user.id),
            data={"before": {"sessions": ended}, "after": {"sessions": 0}},
        )
        if ended:
            await notify(self.ctx, [user.id], SESSIONS_ENDED, {"by": self._by})
        return ended

    async def resend_verification(self, user_id: uuid.UUID) -> User:
        """A new verification link for an unverified address; ``Conflict`` when already verified."""
        user = await self.target(user_id)
        if user.email_verified_at is not None:
            raise Conflict(f"{user.email} is already verified.")
        await self.accounts.resend_verification(user)
        await record(self.ctx, Action.ADMIN_VERIFICATION_RESENT, target=("user", user.id))
        return user

    async def require_password_reset(self, user_id: uuid.UUID) -> User:
        """The user must choose a new password right after their next correct one."""
        user = await self.target(user_id)
        if user.password_reset_required:
            raise Conflict(f"{user.email} must already choose a new password.")
        user.password_reset_required = True
        await record(
            self.ctx,
            Action.ADMIN_PASSWORD_RESET_REQUIRED,
            target=("user", user.id),
            data={"before": {"password_reset_required": False}, "after": {"password_reset_required": True}},
        )
        await self.ctx.session.flush()
        await notify(self.ctx, [user.id], PASSWORD_RESET_REQUIRED, {"by": self._by})
        return user


BULK_ACTIONS: dict[str, str] = {
    "deactivate": "Deactivate",
    "reactivate": "Reactivate",
    "role": "Assign role",
}
MAX_BULK = MAX_LIMIT


def parse_ids(values: list[str]) -> list[uuid.UUID]:
    """The selected user ids, in order and without repeats; ``Invalid`` when none, too many or malformed."""
    try:
        ids = list(dict.fromkeys(uuid.UUID(v) for v in values))
    except ValueError as exc:
        raise Invalid("The selection is not valid: choose the users again.") from exc
    if not ids:
        raise Invalid("Select at least one user.")
    if len(ids) > MAX_BULK:
        raise Invalid(f"Select at most {MAX_BULK} users at a time.")
    return ids


async def users_by_id(ctx: Context, ids: list[uuid.UUID]) -> list[User]:
    """The existing users among ``ids``, in the order given."""
    found = {u.id: u for u in (await ctx.session.scalars(select(User).where(User.id.in_(ids)))).all()}
    return [found[i] for i in ids if i in found]


async def bulk(admin: UserAdmin, ids: list[uuid.UUID], action: str, role: str = "") -> int:
    """Apply ``action`` to every user in ``ids`` in the caller's one transaction; how many changed.

    Users already in the wanted state are skipped. Any refusal (the last owner, yourself, an account
    holding more than you) raises, naming the account, and the caller's transaction rolls back: all
    or nothing. Each change is audited per user by the single-user action.
    """
    if action not in BULK_ACTIONS:
        raise Invalid("Choose an action.", fields={"action": "Choose an action."})
    changed = 0
    for user in await users_by_id(admin.ctx, ids):
        try:
            if action == "deactivate" and user.status != UserStatus.deactivated.value:
                await admin.deactivate(user.id)
            elif action == "reactivate" and user.status == UserStatus.deactivated.value:
                await admin.reactivate(user.id)
            elif action == "role" and {r.name for r in user.roles} != {role}:
                await admin.set_role(user.id, role)
            else:
                continue
        except DomainError as exc:
            # Same error (and status), naming the account it was about.
            exc.detail = f"{user.email}: {exc.detail} Nothing was changed."
            raise
        changed += 1
    return changed


# -- figures for the admin dashboard ------------------------------------------------------------


async def active_sessions(ctx: Context) -> int:
    """Sessions neither ended nor expired (idle browser sessions still count until they expire)."""
    now = ctx.clock.now()
    count = await ctx.session.scalar(
        select(func.count())
        .select_from(AuthSession)
        .where(AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
    )
    return int(count or 0)


async def signups_per_day(ctx: Context, days: int = 30) -> list[tuple[date, int]]:
    """Accounts created on each of the last ``days`` UTC days (today included), oldest first, zeros
    included. Days are bucketed here rather than in SQL, where date functions differ per database."""
    today = ctx.clock.now().astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, UTC)
    counts = dict.fromkeys((first + timedelta(days=i) for i in range(days)), 0)
    rows = await ctx.session.scalars(select(User.created_at).where(User.created_at >= since))
    for created in rows:
        day = created.astimezone(UTC).date()
        if day in counts:
            counts[day] += 1
    return sorted(counts.items())
