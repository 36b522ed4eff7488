"""Open and click tracking of non-mandatory mail, and the links that unsubscribe from a category.

Every link here is signed (itsdangerous, a key derived from the app secret), so the URL itself is
the proof: a forged or altered token is refused (404) and never redirects anywhere, so
``/email/click`` cannot be used as an open redirect. Tokens do not expire: a link in an old mail
keeps working.

- ``/email/open/TOKEN``: a 1x1 transparent GIF at the end of the HTML part; loading it records
  ``opened``. Any token gets the image (a broken image helps nobody); only a valid token of a
  known, non-mandatory message is recorded.
- ``/email/click/TOKEN``: every absolute http(s) link of the HTML part is rewritten to it; a valid
  token records ``clicked`` (and ``opened`` when the pixel was blocked) and redirects to the
  signed URL. A valid token of a message no longer on record (purged) still redirects, without
  recording: the link was ours.
- ``/email/unsubscribe?token=TOKEN``: the ``List-Unsubscribe`` URL (RFC 8058). The token names a
  user and a category; the confirmation page's POST, or a mail client's one-click POST, turns that
  category's email channel off.

Tracking happens only when ``FASTAPP_EMAIL_TRACKING`` is on, and never for mandatory mail
(security and account notices), which also has no unsubscribe link.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from html import escape, unescape
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fastapp.audit import Action, record
from fastapp.notifications.delivery import lock_message, record_event
from fastapp.notifications.kinds import DIGEST_CATEGORY, Frequency
from fastapp.notifications.models import EmailMessage, MailStatus, NotificationPreference
from fastapp.platform.context import Context
from fastapp.platform.errors import NotFound

OPEN_PATH = "/email/open/{token}"
CLICK_PATH = "/email/click/{token}"
UNSUBSCRIBE_PATH = "/email/unsubscribe"
#: Links under this path are the mail's own machinery (unsubscribe): never rewritten for tracking.
OWN_PREFIX = "/email/"
INVALID_LINK = "This link is not valid. It may have been copied incompletely."

#: A 1x1 transparent GIF (GIF89a, two-colour table, colour 0 transparent): 43 bytes.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00"  # header, 1x1 screen, global colour table of 2
    b"\x00\x00\x00\xff\xff\xff"  # the two colours
    b"\x21\xf9\x04\x01\x00\x00\x00\x00"  # graphic control: colour 0 is transparent
    b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00"  # one 1x1 image
    b"\x02\x02\x44\x01\x00"  # its LZW data
    b"\x3b"  # trailer
)

# An <a> start tag, with quoted attribute values that may hold ">"; and its href attribute.
_ANCHOR = re.compile(r"""<a\s(?:[^>"']|"[^"]*"|'[^']*')*>""", re.IGNORECASE)
_HREF = re.compile(r"""(\shref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


class MailTokens:
    """Signs and reads the tokens of tracking and unsubscribe links.

    Each purpose has its own salt, so a token made for one is refused by the others. ``read_*``
    return None for anything not signed by this key or not of the expected shape.
    """

    def __init__(self, secret_key: str) -> None:
        key = hmac.new(secret_key.encode(), b"fastapp.email.links", hashlib.sha256).digest()
        self._open = URLSafeSerializer(key, salt="email.open")
        self._click = URLSafeSerializer(key, salt="email.click")
        self._unsubscribe = URLSafeSerializer(key, salt="email.unsubscribe")

    def open_token(self, message_id: uuid.UUID) -> str:
        return str(self._open.dumps(message_id.hex))

    def click_token(self, message_id: uuid.UUID, url: str) -> str:
        return str(self._click.dumps([message_id.hex, url]))

    def unsubscribe_token(self, user_id: uuid.UUID, category: str) -> str:
        return str(self._unsubscribe.dumps([user_id.hex, category]))

    def read_open(self, token: str) -> uuid.UUID | None:
        data = _loads(self._open, token)
        return _uuid(data) if isinstance(data, str) else None

    def read_click(self, token: str) -> tuple[uuid.UUID, str] | None:
        data = _loads(self._click, token)
        if not (isinstance(data, list) and len(data) == 2 and all(isinstance(v, str) for v in data)):
            return None
        message_id = _uuid(data[0])
        if message_id is None or not _is_web_url(data[1]):
            return None
        return message_id, data[1]

    def read_unsubscribe(self, token: str) -> tuple[uuid.UUID, str] | None:
        data = _loads(self._unsubscribe, token)
        if not (isinstance(data, list) and len(data) == 2 and all(isinstance(v, str) for v in data)):
            return None
        user_id = _uuid(data[0])
        return (user_id, data[1]) if user_id is not None and data[1] else None


def _loads(serializer: URLSafeSerializer, token: str) -> Any:
    if not token or len(token) > 4096:
        return None
    try:
        return serializer.loads(token)
    except (BadSignature, ValueError, UnicodeError):
        return None


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(hex=value)
    except ValueError:
        return None


def rewrite_links(html: str, rewrite: Callable[[str], str | None]) -> str:
    """``html`` with the ``href`` of every ``<a>`` replaced by ``rewrite(url)`` (the URL
    unescaped; the result escaped back), or kept when ``rewrite`` returns None."""

    def href(match: re.Match[str]) -> str:
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        new = rewrite(unescape(raw).strip())
        return match.group(0) if new is None else f'{match.group(1)}"{escape(new, quote=True)}"'

    return _ANCHOR.sub(lambda tag: _HREF.sub(href, tag.group(0), count=1), html)


def track_html(html: str, message_id: uuid.UUID, *, tokens: MailTokens, site_url: str) -> str:
    """The HTML part with its web links going through ``/email/click`` and an open pixel at the
    end of the body. Links to the mail machinery itself (unsubscribe) stay as they are."""
    site = site_url.rstrip("/")
    own = site + OWN_PREFIX

    def through_click(url: str) -> str | None:
        if not _is_web_url(url) or url.startswith(own):
            return None
        return site + CLICK_PATH.format(token=tokens.click_token(message_id, url))

    html = rewrite_links(html, through_click)
    pixel_url = escape(site + OPEN_PATH.format(token=tokens.open_token(message_id)), quote=True)
    pixel = f'<img src="{pixel_url}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0;">'
    ends = list(_BODY_END.finditer(html))
    if not ends:
        return html + pixel
    at = ends[-1].start()
    return html[:at] + pixel + html[at:]


async def _tracked(ctx: Context, message_id: uuid.UUID) -> EmailMessage | None:
    message = await lock_message(ctx, message_id)
    return message if message is not None and not message.mandatory else None


async def record_open(ctx: Context, message_id: uuid.UUID) -> bool:
    """Record that the message was opened; False when there is no such (trackable) message."""
    message = await _tracked(ctx, message_id)
    if message is None:
        return False
    await record_event(ctx, message, MailStatus.opened)
    return True


async def record_click(ctx: Context, message_id: uuid.UUID, url: str) -> bool:
    """Record a click on ``url`` (and an open, if none was seen: the pixel may be blocked);
    False when there is no such (trackable) message."""
    message = await _tracked(ctx, message_id)
    if message is None:
        return False
    if message.opened_at is None:
        await record_event(ctx, message, MailStatus.opened)
    await record_event(ctx, message, MailStatus.clicked, detail={"url": url[:2000]})
    return True


@dataclass(frozen=True)
class Unsubscription:
    """What an unsubscribe link is for: one user's email about one category."""

    user_id: uuid.UUID
    category: str
    label: str


async def find_unsubscription(ctx: Context, tokens: MailTokens, token: str) -> Unsubscription:
    """The user and category ``token`` names; NotFound for a forged or altered token, a
    mandatory category, or a user who no longer exists."""
    found = tokens.read_unsubscribe(token)
    if found is None:
        raise NotFound(INVALID_LINK)
    user_id, key = found
    registry = ctx.runtime.registry if ctx.runtime is not None else None
    category = registry.notification_categories.get(key) if registry is not None else None
    if category is not None and category.mandatory:
        raise NotFound(INVALID_LINK)
    lookup = registry.recipients if registry is not None else None
    if lookup is not None and user_id not in await lookup(ctx, [user_id]):
        raise NotFound("This link belongs to an account that no longer exists.")
    return Unsubscription(user_id, key, category.label if category is not None else key.replace("_", " "))


async def unsubscribe(ctx: Context, target: Unsubscription, *, one_click: bool) -> bool:
    """Turn off email for ``target``'s category (other channels keep their setting).

    Returns True when it was on (the change is audited) and False when it was already off, so a
    mail client posting twice changes and records nothing more.
    """
    if target.category == DIGEST_CATEGORY:
        return await _unsubscribe_from_digest(ctx, target, one_click=one_click)
    current = await ctx.session.get(NotificationPreference, (target.user_id, target.category))
    if current is not None and current.email is False:
        return False
    now = ctx.clock.now()
    insert = pg_insert if ctx.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(NotificationPreference).values(
        user_id=target.user_id, category=target.category, email=False, updated_at=now
    )
    # An upsert: a one-click POST and a click on the page may race to create the row.
    await ctx.session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id", "category"], set_={"email": False, "updated_at": now}
        )
    )
    if current is not None:
        await ctx.session.refresh(current)
    await record(
        ctx,
        Action.NOTIFICATIONS_UNSUBSCRIBED,
        target=("user", target.user_id),
        data={"category": target.category, "via": "one-click" if one_click else "page"},
    )
    return True


async def _unsubscribe_from_digest(ctx: Context, target: Unsubscription, *, one_click: bool) -> bool:
    """A digest listing several categories: email goes off for each category on the daily digest."""
    changed = await ctx.session.execute(
        update(NotificationPreference)
        .where(
            NotificationPreference.user_id == target.user_id,
            NotificationPreference.email_frequency == Frequency.daily.value,
            NotificationPreference.email.is_not(False),
        )
        .values(email=False, updated_at=ctx.clock.now())
        .returning(NotificationPreference.category)
    )
    categories = sorted(changed.scalars().all())
    if not categories:
        return False
    await record(
        ctx,
        Action.NOTIFICATIONS_UNSUBSCRIBED,
        target=("user", target.user_id),
        data={"category": DIGEST_CATEGORY, "categories": categories, "via": "one-click" if one_click else "page"},
    )
    return True
