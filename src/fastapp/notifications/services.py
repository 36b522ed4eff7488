"""In-app notifications: ``notify``, the inbox, preferences and the daily digest.

``notify(ctx, users, kind, data)`` is how a domain tells people something. In the caller's
transaction it writes one ``Notification`` per active recipient and, by the recipient's
preferences for the kind's category, queues its email at once (``queue_email``) or holds it for
the daily digest; only after the commit are open pages told (``live.publish``). A rolled-back
change therefore leaves no notification, no email and no job behind.

Preferences: a user's ``NotificationPreference`` row for a category, field by field, or the
category's defaults where the row (or a field of it) is absent. A mandatory category always
uses its defaults; an urgent one is never held for the digest.

The inbox functions act for ``ctx.principal`` only: a notification of someone else is
``NotFound``, exactly like one that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fastapp.audit import Action, record
from fastapp.notifications import live
from fastapp.notifications.delivery import queue_email
from fastapp.notifications.kinds import DIGEST_CATEGORY, Category, Channel, Frequency, NotificationKind, Recipient
from fastapp.notifications.models import EmailState, Notification, NotificationPreference
from fastapp.platform.context import Context, Runtime
from fastapp.platform.errors import Invalid, NotFound, Unauthenticated

GENERIC_TEMPLATE = "notification"
DIGEST_TEMPLATE = "digest"
PAGE_SIZE = 20
MAX_PAGE = 100
INVALID_CURSOR = "The cursor is not valid: start again from the first page."


def _runtime(ctx: Context) -> Runtime:
    if ctx.runtime is None:
        raise RuntimeError("notifications need ctx.runtime: open the context with open_context(runtime, ...)")
    return ctx.runtime


def _categories(ctx: Context) -> dict[str, Category]:
    return cast(dict[str, Category], _runtime(ctx).registry.notification_categories)


async def _recipients(ctx: Context, user_ids: list[uuid.UUID]) -> Mapping[uuid.UUID, Recipient]:
    lookup = _runtime(ctx).registry.recipients
    if lookup is None:
        raise RuntimeError("no recipient lookup is registered (the accounts domain sets registry.recipients)")
    return cast(Mapping[uuid.UUID, Recipient], await lookup(ctx, user_ids))


# -- delivery decisions ------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """Where one notification goes for one user."""

    in_app: bool
    email: bool
    #: The email waits for the daily digest instead of leaving at once.
    digest: bool = False


def resolve_delivery(
    category: Category, preference: NotificationPreference | None, kind: NotificationKind | None = None
) -> Delivery:
    """The channels a user's ``preference`` (or its absence) gives ``category``, narrowed to the
    channels ``kind`` can use. Mandatory categories always deliver on their default channels."""
    defaults = category.default_channels
    in_app, email = Channel.in_app in defaults, Channel.email in defaults
    daily = False
    if preference is not None and not category.mandatory:
        in_app = in_app if preference.in_app is None else preference.in_app
        email = email if preference.email is None else preference.email
        daily = not category.urgent and preference.email_frequency == Frequency.daily.value
    if kind is not None:
        in_app = in_app and Channel.in_app in kind.channels
        email = email and Channel.email in kind.channels
    return Delivery(in_app=in_app, email=email, digest=email and daily)


def render(kind: NotificationKind, data: Mapping[str, Any]) -> tuple[str, str, str | None]:
    """``kind``'s title, body and link filled from ``data``; ``ValueError`` naming what is missing.

    The link must be a path on this site: it becomes an ``href`` in the inbox and in mail.
    """
    values = dict(data)

    def fill(part: str, template: str) -> str:
        try:
            return template.format_map(values)
        except KeyError as exc:
            raise ValueError(f"notification kind {kind.key!r}: its {part} needs {exc.args[0]!r} in data") from exc
        except (IndexError, AttributeError, ValueError) as exc:
            raise ValueError(f"notification kind {kind.key!r}: its {part} cannot be filled: {exc}") from exc

    title = fill("title", kind.title)[:200]
    body = fill("body", kind.body)
    link = fill("link", kind.link)[:500] if kind.link else None
    if link is not None and (not link.startswith("/") or link.startswith("//")):
        raise ValueError(f"notification kind {kind.key!r}: its link must be a path on this site, not {link!r}")
    return title, body, link


def absolute_link(runtime: Runtime, link: str | None) -> str:
    """``link`` as an absolute URL for mail (the inbox when there is none)."""
    return runtime.config.app.site_url + (link or "/notifications")


def _mail_domain(runtime: Runtime) -> str:
    return urlsplit(runtime.config.app.site_url).hostname or "fastapp.invalid"


async def _consented(ctx: Context, user_id: uuid.UUID, purpose: str) -> bool:
    """Whether ``user_id`` granted ``purpose``; with no consent check registered, nobody has."""
    check = _runtime(ctx).registry.consent_check
    return check is not None and bool(await check(ctx, user_id, purpose))


# -- notify ---------------------------------------------------------------------------------------


async def notify(ctx: Context, users: Iterable[uuid.UUID], kind: str, data: Mapping[str, Any]) -> list[Notification]:
    """Tell ``users`` (user ids) about ``kind`` in ``ctx``'s transaction; the notifications made.

    Users who are unknown or not active get nothing, nor does a user whose preferences turn
    every channel of the category off. Raises ``ValueError`` for an unknown kind or when
    ``data`` lacks a value the kind's templates name.
    """
    runtime = _runtime(ctx)
    spec = cast(NotificationKind | None, runtime.registry.notification_kinds.get(kind))
    if spec is None:
        raise ValueError(f"unknown notification kind {kind!r}: declare it with registry.add_notification_kind")
    category = _categories(ctx)[spec.category]
    title, body, link = render(spec, data)
    ids = list(dict.fromkeys(users))
    if not ids:
        return []
    recipients = await _recipients(ctx, ids)
    preferences = await _preference_rows(ctx, ids, category.key)
    payload = json.dumps(dict(data), separators=(",", ":"), default=str)
    now = ctx.clock.now()
    created: list[Notification] = []
    for user_id in ids:
        recipient = recipients.get(user_id)
        if recipient is None or not recipient.active:
            continue
        delivery = resolve_delivery(category, preferences.get(user_id), spec)
        if delivery.email and category.consent and not await _consented(ctx, user_id, category.consent):
            delivery = replace(delivery, email=False, digest=False)
        if not (delivery.in_app or delivery.email):
            continue
        row = Notification(
            id=uuid.uuid4(),
            user_id=user_id,
            kind=spec.key,
            category=category.key,
            title=title,
            body=body,
            link=link,
            data=payload,
            in_app=delivery.in_app,
            email_state=None,
            created_at=now,
        )
        if delivery.digest:
            row.email_state = EmailState.digest.value
        elif delivery.email:
            await queue_email(
                ctx,
                to=recipient.email,
                template=spec.email_template or GENERIC_TEMPLATE,
                category=category.key,
                mandatory=category.mandatory,
                context={
                    "title": title,
                    "body": body,
                    "link": absolute_link(runtime, link),
                    "user_name": recipient.display_name,
                },
                user_id=user_id,
                message_domain=_mail_domain(runtime),
            )
            row.email_state = EmailState.queued.value
        ctx.session.add(row)
        created.append(row)
    if created:
        await ctx.session.flush()
        await _announce(ctx, [row for row in created if row.in_app])
    return created


async def _announce(ctx: Context, rows: list[Notification]) -> None:
    """After the commit, push each new in-app notification to its user's open pages."""
    if not rows:
        return
    counts = await _unread_counts(ctx, {row.user_id for row in rows})
    cache = _runtime(ctx).backends.cache
    for row in rows:
        user_id, unread, title, link, ident = row.user_id, counts.get(row.user_id, 0), row.title, row.link, row.id

        async def push(
            user_id: uuid.UUID = user_id,
            unread: int = unread,
            title: str = title,
            link: str | None = link,
            ident: uuid.UUID = ident,
        ) -> None:
            await live.publish(cache, user_id, unread=unread, title=title, link=link, notification_id=ident)

        ctx.on_commit(push)


async def _announce_count(ctx: Context, user_id: uuid.UUID) -> None:
    """After the commit, give ``user_id``'s open pages their new unread count."""
    unread = (await _unread_counts(ctx, {user_id})).get(user_id, 0)
    cache = _runtime(ctx).backends.cache

    async def push() -> None:
        await live.publish(cache, user_id, unread=unread)

    ctx.on_commit(push)


def _unread() -> ColumnElement[bool]:
    return and_(Notification.in_app.is_(True), Notification.read_at.is_(None), Notification.archived_at.is_(None))


async def _unread_counts(ctx: Context, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await ctx.session.execute(
        select(Notification.user_id, func.count())
        .where(Notification.user_id.in_(user_ids), _unread())
        .group_by(Notification.user_id)
    )
    return {user_id: int(count) for user_id, count in rows.all()}


# -- the inbox ------------------------------------------------------------------------------------


class Archived(StrEnum):
    exclude = "exclude"
    include = "include"
    only = "only"


@dataclass(frozen=True)
class InboxFilter:
    unread_only: bool = False
    category: str | None = None
    archived: Archived = Archived.exclude


@dataclass(frozen=True)
class InboxPage:
    items: list[Notification]
    #: Pass back as ``cursor`` for the next (older) page; None on the last page.
    next_cursor: str | None


def _me(ctx: Context) -> uuid.UUID:
    if ctx.principal is None:
        raise Unauthenticated("Sign in to see your notifications.")
    return ctx.principal.user_id


def _mine(user_id: uuid.UUID) -> ColumnElement[bool]:
    # A notification that only went by email has no place in the inbox.
    return and_(Notification.user_id == user_id, Notification.in_app.is_(True))


def encode_cursor(row: Notification) -> str:
    raw = f"{row.created_at.isoformat()}|{row.id.hex}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) position ``cursor`` names; ``Invalid`` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, ident = raw.split("|")
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, uuid.UUID(hex=ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid(INVALID_CURSOR, fields={"cursor": INVALID_CURSOR}) from exc


async def inbox(
    ctx: Context, filters: InboxFilter = InboxFilter(), *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> InboxPage:
    """The principal's notifications, newest first, one page of at most ``limit``."""
    me = _me(ctx)
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Notification).where(_mine(me))
    if filters.unread_only:
        query = query.where(Notification.read_at.is_(None))
    if filters.category:
        if filters.category not in _categories(ctx):
            message = f"Unknown category {filters.category!r}."
            raise Invalid(message, fields={"category": message})
        query = query.where(Notification.category == filters.category)
    if filters.archived is Archived.exclude:
        query = query.where(Notification.archived_at.is_(None))
    elif filters.archived is Archived.only:
        query = query.where(Notification.archived_at.is_not(None))
    if cursor:
        at, ident = decode_cursor(cursor)
        query = query.where(
            or_(Notification.created_at < at, and_(Notification.created_at == at, Notification.id < ident))
        )
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit + 1)
    rows = list((await ctx.session.scalars(query)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return InboxPage(rows, encode_cursor(rows[-1]) if more and rows else None)


async def latest(ctx: Context, *, limit: int = 5) -> list[Notification]:
    """The principal's newest notifications that are not archived (the bell's menu)."""
    return (await inbox(ctx, limit=limit)).items


async def unread_count(ctx: Context) -> int:
    me = _me(ctx)
    return (await _unread_counts(ctx, {me})).get(me, 0)


async def get_notification(ctx: Context, notification_id: uuid.UUID) -> Notification:
    """One of the principal's notifications; ``NotFound`` for any other id."""
    row = await ctx.session.scalar(select(Notification).where(Notification.id == notification_id, _mine(_me(ctx))))
    if row is None:
        raise NotFound("No such notification.")
    return row


async def mark_read(ctx: Context, notification_id: uuid.UUID) -> Notification:
    row = await get_notification(ctx, notification_id)
    if row.read_at is None:
        row.read_at = ctx.clock.now()
        await ctx.session.flush()
        await _announce_count(ctx, row.user_id)
    return row


async def mark_all_read(ctx: Context, *, category: str | None = None) -> int:
    """Mark every unread notification of the principal read (of one category when given);
    returns how many changed."""
    me = _me(ctx)
    statement = update(Notification).where(_mine(me), Notification.read_at.is_(None))
    if category:
        statement = statement.where(Notification.category == category)
    result = await ctx.session.execute(
        statement.values(read_at=ctx.clock.now()).execution_options(synchronize_session=False)
    )
    changed = int(result.rowcount)  # type: ignore[attr-defined]
    if changed:
        await _announce_count(ctx, me)
    return changed


async def archive(ctx: Context, notification_id: uuid.UUID) -> Notification:
    """Move a notification out of the inbox (it no longer counts as unread); kept, not deleted."""
    row = await get_notification(ctx, notification_id)
    if row.archived_at is None:
        row.archived_at = ctx.clock.now()
        await ctx.session.flush()
        await _announce_count(ctx, row.user_id)
    return row


async def unarchive(ctx: Context, notification_id: uuid.UUID) -> Notification:
    row = await get_notification(ctx, notification_id)
    if row.archived_at is not None:
        row.archived_at = None
        await ctx.session.flush()
        await _announce_count(ctx, row.user_id)
    return row


# -- preferences ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryPreference:
    """A user's effective choice for one category (defaults filled in)."""

    category: Category
    in_app: bool
    email: bool
    email_frequency: Frequency

    @property
    def locked(self) -> bool:
        return self.category.mandatory

    @property
    def frequency_choosable(self) -> bool:
        return not (self.category.mandatory or self.category.urgent)


@dataclass(frozen=True)
class PreferenceChange:
    """What to change for one category; None leaves that field as it is."""

    in_app: bool | None = None
    email: bool | None = None
    email_frequency: Frequency | None = None


async def _preference_rows(
    ctx: Context, user_ids: list[uuid.UUID], category: str | None = None
) -> dict[uuid.UUID, NotificationPreference]:
    query = select(NotificationPreference).where(NotificationPreference.user_id.in_(user_ids))
    if category is not None:
        query = query.where(NotificationPreference.category == category)
    rows = (await ctx.session.scalars(query.execution_options(populate_existing=True))).all()
    return {row.user_id: row for row in rows}


async def preferences(ctx: Context, user_id: uuid.UUID) -> list[CategoryPreference]:
    """Every declared category with ``user_id``'s effective choice, in declaration order."""
    query = select(NotificationPreference).where(NotificationPreference.user_id == user_id)
    rows = {r.category: r for r in (await ctx.session.scalars(query.execution_options(populate_existing=True))).all()}
    found = []
    for category in _categories(ctx).values():
        row = rows.get(category.key)
        delivery = resolve_delivery(category, row)
        daily = row is not None and row.email_frequency == Frequency.daily.value and not category.urgent
        found.append(
            CategoryPreference(
                category=category,
                in_app=delivery.in_app,
                email=delivery.email,
                email_frequency=Frequency.daily if daily and not category.mandatory else Frequency.immediately,
            )
        )
    return found


def _refusal(current: CategoryPreference, change: PreferenceChange) -> str | None:
    category = current.category
    if category.mandatory:
        wanted = (change.in_app, change.email, change.email_frequency)
        have = (current.in_app, current.email, current.email_frequency)
        if any(w is not None and w != h for w, h in zip(wanted, have, strict=True)):
            return f"{category.label} notifications are mandatory: they cannot be turned off or changed."
    elif change.email_frequency is Frequency.daily and category.urgent:
        return f"{category.label} notifications are urgent: their email always leaves at once."
    return None


async def update_preferences(
    ctx: Context, user_id: uuid.UUID, changes: Mapping[str, PreferenceChange]
) -> list[CategoryPreference]:
    """Apply ``changes`` (category key -> change) for ``user_id`` and return every category's
    effective choice. ``Invalid`` (nothing changed) for an unknown category, any change to a
    mandatory one (restating its fixed values is accepted), or a digest for an urgent one."""
    before = {p.category.key: p for p in await preferences(ctx, user_id)}
    errors: dict[str, str] = {}
    for key, change in changes.items():
        current = before.get(key)
        problem = f"Unknown category {key!r}." if current is None else _refusal(current, change)
        if problem:
            errors[key] = problem
    if errors:
        raise Invalid(" ".join(errors.values()), fields=errors)
    now = ctx.clock.now()
    insert = pg_insert if ctx.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for key, change in changes.items():
        given = {
            field: (value.value if isinstance(value, Frequency) else value)
            for field, value in (
                ("in_app", change.in_app),
                ("email", change.email),
                ("email_frequency", change.email_frequency),
            )
            if value is not None
        }
        if before[key].locked or not given:
            continue
        # An upsert: two tabs saving a user's first choice at once must not collide.
        statement = insert(NotificationPreference).values(user_id=user_id, category=key, updated_at=now, **given)
        await ctx.session.execute(
            statement.on_conflict_do_update(index_elements=["user_id", "category"], set_={**given, "updated_at": now})
        )
    after = await preferences(ctx, user_id)
    changed = {p.category.key: (before[p.category.key], p) for p in after if before[p.category.key] != p}
    if changed:
        await record(
            ctx,
            Action.NOTIFICATION_PREFERENCES_CHANGED,
            target=("user", user_id),
            data={
                "before": {key: _summary(old) for key, (old, _new) in changed.items()},
                "after": {key: _summary(new) for key, (_old, new) in changed.items()},
            },
        )
    return after


def _summary(preference: CategoryPreference) -> dict[str, Any]:
    return {
        "in_app": preference.in_app,
        "email": preference.email,
        "email_frequency": preference.email_frequency.value,
    }


# -- the daily digest -----------------------------------------------------------------------------


async def users_awaiting_digest(ctx: Context) -> list[uuid.UUID]:
    """Users with notifications whose email waits for the digest."""
    rows = await ctx.session.scalars(
        select(Notification.user_id).where(Notification.email_state == EmailState.digest.value).distinct()
    )
    return list(rows.all())


async def send_digest(ctx: Context, user_id: uuid.UUID) -> int:
    """Queue one ``digest`` mail listing ``user_id``'s waiting notifications and mark them
    ``digested``, in ``ctx``'s transaction; returns how many it lists (0 sends nothing).

    Notifications whose category the user has since turned email off for are dropped from the
    digest. Claiming the rows is a conditional update, so two runs at once cannot list one twice.
    """
    runtime = _runtime(ctx)
    waiting = (
        await ctx.session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id, Notification.email_state == EmailState.digest.value)
            .order_by(Notification.created_at, Notification.id)
        )
    ).all()
    if not waiting:
        return 0
    claimed = set(
        (
            await ctx.session.scalars(
                update(Notification)
                .where(
                    Notification.id.in_([row.id for row in waiting]),
                    Notification.email_state == EmailState.digest.value,
                )
                .values(email_state=EmailState.digested.value)
                .returning(Notification.id)
                .execution_options(synchronize_session=False)
            )
        ).all()
    )
    recipient = (await _recipients(ctx, [user_id])).get(user_id)
    categories = _categories(ctx)
    prefs = {p.category.key: p for p in await preferences(ctx, user_id)}
    # A category's consent withdrawn since the notification was held keeps it out of the digest.
    withheld = {
        key
        for key in {row.category for row in waiting}
        if key in categories and (purpose := categories[key].consent) and not await _consented(ctx, user_id, purpose)
    }
    items = [
        row
        for row in waiting
        if row.id in claimed
        and row.category in categories
        and prefs[row.category].email
        and row.category not in withheld
    ]
    listed = {row.id for row in items}
    dropped = [ident for ident in claimed if ident not in listed]
    if dropped:
        await ctx.session.execute(
            update(Notification)
            .where(Notification.id.in_(dropped))
            .values(email_state=None)
            .execution_options(synchronize_session=False)
        )
    if not items or recipient is None or not recipient.active:
        return 0
    kinds = {row.category for row in items}
    await queue_email(
        ctx,
        to=recipient.email,
        template=DIGEST_TEMPLATE,
        category=kinds.pop() if len(kinds) == 1 else DIGEST_CATEGORY,
        mandatory=False,
        context={
            "user_name": recipient.display_name,
            "items": [
                {
                    "title": row.title,
                    "body": row.body,
                    "link": absolute_link(runtime, row.link),
                    "created_at": row.created_at.isoformat(),
                }
                for row in items
            ],
        },
        user_id=user_id,
        message_domain=_mail_domain(runtime),
    )
    return len(items)
