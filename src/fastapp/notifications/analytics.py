"""Queries behind ``/admin/email``: delivery figures per template and day, messages, suppressions.

The figures are counted from ``email_messages`` alone, whose ``*_at`` columns hold the first time
each thing happened to a message, so one grouped scan answers a whole range. A message counts
once per figure, by the UTC day it was queued:

- **sent**: it left (sent, or anything later was reported: delivered, opened, bounced...);
- **delivered**: delivery was reported, or proven by an open, a click or a complaint;
- **open / click rate**: opened (clicked) among delivered *tracked* messages, because mandatory
  mails carry no tracking and would otherwise drag the rates down;
- **bounce / complaint rate**: bounced (complained) among sent.

Lists are cut by keyset (``created_at``, then the key, newest first), so a deep page costs what the
first does. Cursors are opaque strings ``<microseconds since 1970>~<key>``. Every query runs on
SQLite and PostgreSQL; the only difference, the day a timestamp falls on, is ``day_bucket``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal_column, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from fastapp.notifications.models import EmailEvent, EmailMessage, EmailSuppression, MailStatus
from fastapp.platform.context import Context
from fastapp.platform.errors import Invalid, NotFound

DEFAULT_DAYS = 30
MAX_DAYS = 366
PAGE_SIZE = 50
STATUSES = tuple(s.value for s in MailStatus)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def day_bucket(column: Any, dialect: str) -> ColumnElement[str]:
    """The UTC calendar day of timestamp ``column`` as text ``YYYY-MM-DD``, on either backend.

    PostgreSQL keeps ``timestamptz`` as an instant: it is shifted to UTC before its day is taken.
    SQLite keeps the UTC wall time as text (``UTCDateTime`` converts on the way in), whose
    ``date()`` is the day.
    """
    # Literals, not bound parameters: PostgreSQL matches a grouped expression to the selected
    # one only when they are identical, and two binds ($1, $3) of the same value are not.
    if dialect == "postgresql":
        return func.to_char(func.timezone(literal_column("'UTC'"), column), literal_column("'YYYY-MM-DD'"))
    return func.date(column)


def _start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# -- cursors ------------------------------------------------------------------------------------


def encode_cursor(at: datetime, key: str) -> str:
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}~{key}"


def decode_cursor(text: str) -> tuple[datetime, str]:
    """The (time, key) of a cursor; ``Invalid`` when ``text`` is not one of ours."""
    micros, sep, key = text.partition("~")
    if not sep or not key or not micros.lstrip("-").isdigit():
        raise Invalid("That page link is not valid: start again from the first page.")
    return _EPOCH + timedelta(microseconds=int(micros)), key


def _after(column_at: InstrumentedAttribute[Any], column_key: Any, cursor: tuple[datetime, Any]) -> ColumnElement[bool]:
    """Rows strictly after ``cursor`` in (at, key) descending order."""
    at, key = cursor
    return or_(column_at < at, and_(column_at == at, column_key < key))


# -- delivery figures ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    sent: int = 0
    delivered: int = 0
    #: Delivered messages that carried tracking (not mandatory): the base of open and click rates.
    tracked: int = 0
    opened: int = 0
    clicked: int = 0
    bounced: int = 0
    complained: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def open_rate(self) -> float | None:
        return self.opened / self.tracked if self.tracked else None

    @property
    def click_rate(self) -> float | None:
        return self.clicked / self.tracked if self.tracked else None

    @property
    def bounce_rate(self) -> float | None:
        return self.bounced / self.sent if self.sent else None

    @property
    def complaint_rate(self) -> float | None:
        return self.complained / self.sent if self.sent else None


@dataclass(frozen=True)
class TemplateDay:
    day: date
    template: str
    counts: Counts


@dataclass(frozen=True)
class Report:
    """The figures of ``since`` to ``until`` (both included), per template and day."""

    since: date
    until: date
    rows: list[TemplateDay]

    def days(self) -> Iterator[date]:
        day = self.since
        while day <= self.until:
            yield day
            day += timedelta(days=1)

    def by_day(self) -> list[tuple[date, Counts]]:
        """Every day of the range in order, with zeros for days without mail."""
        totals: dict[date, Counts] = {}
        for row in self.rows:
            totals[row.day] = totals.get(row.day, Counts()) + row.counts
        return [(day, totals.get(day, Counts())) for day in self.days()]

    def by_template(self) -> list[tuple[str, Counts]]:
        totals: dict[str, Counts] = {}
        for row in self.rows:
            totals[row.template] = totals.get(row.template, Counts()) + row.counts
        return sorted(totals.items())

    @property
    def total(self) -> Counts:
        return sum((row.counts for row in self.rows), Counts())


def parse_range(since: str, until: str, *, today: date) -> tuple[date, date]:
    """The days a report covers: by default the last ``DEFAULT_DAYS`` up to ``today``.

    Raises ``Invalid`` (fields ``since`` / ``until``) for a bad date, a reversed range or one
    longer than ``MAX_DAYS``.
    """
    errors: dict[str, str] = {}

    def read(name: str, value: str, default: date) -> date:
        if not value.strip():
            return default
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            errors[name] = "Enter a date as YYYY-MM-DD."
            return default

    last = read("until", until, today)
    first = read("since", since, last - timedelta(days=DEFAULT_DAYS - 1))
    if not errors and first > last:
        errors["since"] = "Start on or before the end date."
    elif not errors and (last - first).days >= MAX_DAYS:
        errors["since"] = f"Choose at most {MAX_DAYS} days."
    if errors:
        raise Invalid("Check the dates of the range.", fields=errors)
    return first, last


def _flag(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def report(ctx: Context, *, since: date, until: date) -> Report:
    """The figures per template and day of messages queued from ``since`` to ``until``."""
    m = EmailMessage
    sent = func.coalesce(m.sent_at, m.delivered_at, m.opened_at, m.clicked_at, m.bounced_at, m.complained_at)
    delivered = func.coalesce(m.delivered_at, m.opened_at, m.clicked_at, m.complained_at).is_not(None)
    tracked = m.mandatory.is_(False)
    day = day_bucket(m.created_at, ctx.session.get_bind().dialect.name).label("day")
    statement = (
        select(
            day,
            m.template,
            _flag(sent.is_not(None)),
            _flag(delivered),
            _flag(and_(delivered, tracked)),
            _flag(and_(m.opened_at.is_not(None), tracked)),
            _flag(and_(m.clicked_at.is_not(None), tracked)),
            _flag(m.bounced_at.is_not(None)),
            _flag(m.complained_at.is_not(None)),
        )
        .where(m.created_at >= _start_of(since), m.created_at < _start_of(until + timedelta(days=1)))
        .group_by(day, m.template)
        .order_by(day, m.template)
    )
    rows = [
        TemplateDay(date.fromisoformat(str(r[0])), r[1], Counts(*(int(v) for v in r[2:])))
        for r in (await ctx.session.execute(statement)).all()
    ]
    return Report(since, until, rows)


# -- messages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageFilter:
    """Which messages to list; empty fields do not filter."""

    status: str = ""
    template: str = ""
    #: Part of the recipient's address, any case.
    recipient: str = ""
    day: date | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        m = EmailMessage
        found: list[ColumnElement[bool]] = []
        if self.status:
            found.append(m.status == self.status)
        if self.template:
            found.append(m.template == self.template)
        if self.recipient:
            found.append(func.lower(m.to_address).contains(self.recipient.lower(), autoescape=True))
        if self.day is not None:
            found.append(m.created_at >= _start_of(self.day))
            found.append(m.created_at < _start_of(self.day + timedelta(days=1)))
        return found


def parse_filter(*, status: str = "", template: str = "", recipient: str = "", day: str = "") -> MessageFilter:
    """A ``MessageFilter`` from query parameters; ``Invalid`` (with fields) for a bad value."""
    errors: dict[str, str] = {}
    status = status.strip()
    if status and status not in STATUSES:
        errors["status"] = "Choose a status from the list."
    when: date | None = None
    if day.strip():
        try:
            when = date.fromisoformat(day.strip())
        except ValueError:
            errors["day"] = "Enter a date as YYYY-MM-DD."
    if errors:
        raise Invalid("Check the filters.", fields=errors)
    return MessageFilter(status=status, template=template.strip()[:100], recipient=recipient.strip()[:320], day=when)


async def messages_page(
    ctx: Context, wanted: MessageFilter, *, before: str = "", limit: int = PAGE_SIZE
) -> tuple[list[EmailMessage], str | None]:
    """Matching messages newest first, and the cursor of the next page (None on the last)."""
    m = EmailMessage
    statement = select(m).where(*wanted.conditions())
    if before:
        at, key = decode_cursor(before)
        try:
            ident = uuid.UUID(key)
        except ValueError as exc:
            raise Invalid("That page link is not valid: start again from the first page.") from exc
        statement = statement.where(_after(m.created_at, m.id, (at, ident)))
    found = list(
        (await ctx.session.scalars(statement.order_by(m.created_at.desc(), m.id.desc()).limit(limit + 1))).all()
    )
    more = len(found) > limit
    found = found[:limit]
    return found, encode_cursor(found[-1].created_at, found[-1].id.hex) if more else None


async def templates_in_use(ctx: Context) -> list[str]:
    """Every template some message was sent with, for the filter's choices."""
    return list(
        (await ctx.session.scalars(select(EmailMessage.template).distinct().order_by(EmailMessage.template))).all()
    )


async def message_with_events(ctx: Context, message_id: str) -> tuple[EmailMessage, list[EmailEvent]]:
    """One message and its events, oldest first; ``NotFound`` for an unknown or malformed id."""
    try:
        ident = uuid.UUID(message_id)
    except ValueError as exc:
        raise NotFound("There is no message with that id.") from exc
    message = await ctx.session.get(EmailMessage, ident)
    if message is None:
        raise NotFound("There is no message with that id.")
    events = (
        await ctx.session.scalars(
            select(EmailEvent).where(EmailEvent.message_id == ident).order_by(EmailEvent.occurred_at)
        )
    ).all()
    return message, list(events)


# -- suppressions -------------------------------------------------------------------------------


async def suppressions_page(
    ctx: Context, *, search: str = "", before: str = "", limit: int = PAGE_SIZE
) -> tuple[list[EmailSuppression], str | None]:
    """Suppressed addresses newest first, those containing ``search`` if given, and the next cursor."""
    s = EmailSuppression
    statement = select(s)
    if search.strip():
        statement = statement.where(s.address.contains(search.strip().lower()[:320], autoescape=True))
    if before:
        statement = statement.where(_after(s.created_at, s.address, decode_cursor(before)))
    found = list(
        (await ctx.session.scalars(statement.order_by(s.created_at.desc(), s.address.desc()).limit(limit + 1))).all()
    )
    more = len(found) > limit
    found = found[:limit]
    return found, encode_cursor(found[-1].created_at, found[-1].address) if more else None


async def suppression_count(ctx: Context) -> int:
    return int(await ctx.session.scalar(select(func.count()).select_from(EmailSuppression)) or 0)
