"""Outgoing mail: one ``Mailer`` Protocol with a dev outbox and an SMTP implementation.

``OutboxMailer`` is the embedded default: it writes each message as an RFC 5322 ``.eml`` file under
``var/mail`` instead of sending it, so development and tests need no mail server, never mail a real
person by accident, and show exactly what would have gone out (the dev viewer at ``/dev/mail`` and
any mail client can open the files). ``SmtpMailer`` delivers through any SMTP submission server
(``FASTAPP_SMTP_URL``). Both build the same MIME message, ``multipart/alternative`` with a text and
an HTML part, and both report failures as ``MailDeliveryError`` whose ``permanent`` flag tells the
job runner whether retrying can help. Subjects and bodies come from ``MailTemplates``
(``mail_templates/``, re-exported here).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from fastapp.platform.clock import Clock, SystemClock
from fastapp.platform.errors import NotFound
from fastapp.platform.mail_templates import MailTemplates, RenderedMail

__all__ = [
    "DEFAULT_SENDER",
    "MAILER",
    "MailDeliveryError",
    "MailTemplates",
    "Mailer",
    "Message",
    "OutboxEntry",
    "OutboxMailer",
    "OutboxMessage",
    "RenderedMail",
    "SmtpMailer",
    "build_email",
    "create_mailer",
    "new_message_id",
]

DEFAULT_SENDER = "FastApp <no-reply@localhost>"
#: Headers the mailer writes itself; a message may not set them through ``headers``.
RESERVED_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "content-type", "auto-submitted"}
    | {"content-transfer-encoding", "x-fastapp-category"}
)
_OUTBOX_NAME = re.compile(r"^(\d{8}T\d{12}Z)-[0-9a-f]{12}\.eml$")
_ADDRESS_STATUS = re.compile(r"^\s*5\.1\.\d{1,3}\b")
#: Where the composition root keeps the process's ``Mailer`` (``runtime.services[MAILER]``).
MAILER = "platform.mailer"


def new_message_id(domain: str = "fastapp.invalid") -> str:
    """A globally unique RFC 5322 Message-ID, ``<uuid@domain>``; pass the site's host as ``domain``."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def _one_address(value: str, what: str) -> str:
    """``value`` when it is exactly one mailbox (``a@b`` or ``Name <a@b>``); ValueError otherwise."""
    found = getaddresses([value])
    if "\r" in value or "\n" in value or len(found) != 1 or "@" not in found[0][1]:
        raise ValueError(f"{what} must be one email address such as 'Name <user@example.com>'")
    return value


@dataclass(frozen=True, kw_only=True)
class Message:
    """One mail to one recipient.

    ``category`` names the kind of mail (``security``, ``account``, a notification category) for
    logs, delivery tracking and the dev viewer (header ``X-FastApp-Category``); ``headers`` adds
    headers such as ``Reply-To`` or ``List-Unsubscribe`` (not the ones in RESERVED_HEADERS).
    """

    to: str
    subject: str
    text: str
    html: str
    category: str
    headers: Mapping[str, str] = field(default_factory=dict)
    message_id: str = field(default_factory=new_message_id)

    def __post_init__(self) -> None:
        _one_address(self.to, "the recipient")
        if "\r" in self.subject or "\n" in self.subject:
            raise ValueError("a subject is one line")
        reserved = sorted(name for name in self.headers if name.lower() in RESERVED_HEADERS)
        if reserved:
            raise ValueError(f"these headers are set by the mailer: {', '.join(reserved)}")


class MailDeliveryError(Exception):
    """The message was not accepted for delivery.

    ``permanent`` is True when sending the same message again cannot succeed (the server answered
    5xx: unknown mailbox, rejected content) and False when a later retry may (4xx, network errors,
    timeouts, a rejected login, which is our configuration rather than the message). ``code`` is
    the SMTP reply code when there was one. ``bad_recipient`` is True for a permanent refusal of
    the recipient's address itself (5xx to RCPT TO, or an enhanced status 5.1.x: no such mailbox,
    bad address): a hard bounce, after which the address should get no more mail. A refusal of
    the content (554 at DATA, say) is permanent for this message but says nothing about the address.
    """

    def __init__(self, detail: str, *, permanent: bool, code: int | None = None, bad_recipient: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent
        self.code = code
        self.bad_recipient = permanent and bad_recipient


class Mailer(Protocol):
    async def send(self, message: Message) -> str:
        """Hand ``message`` over for delivery and return the id it is known by (its Message-ID).

        Raises ``MailDeliveryError`` (``permanent`` says whether to retry) when it was not accepted.
        Acceptance is not delivery: bounces arrive later, and refer to that id.
        """
        ...


def build_email(message: Message, *, sender: str, now: datetime) -> EmailMessage:
    """``message`` as MIME: ``multipart/alternative`` with a text and an HTML part."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = format_datetime(now.astimezone(UTC))
    email["Message-ID"] = message.message_id
    # RFC 3834: tells auto-responders (vacation replies) not to answer.
    email["Auto-Submitted"] = "auto-generated"
    email["X-FastApp-Category"] = message.category
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


@dataclass(frozen=True)
class OutboxEntry:
    """A stored message's summary; ``sent_at`` comes from its file name."""

    name: str
    sent_at: datetime
    to: str
    subject: str
    category: str


@dataclass(frozen=True)
class OutboxMessage:
    """A stored message in full, with the names of its neighbours in time (None at either end)."""

    entry: OutboxEntry
    headers: tuple[tuple[str, str], ...]
    text: str
    html: str
    newer: str | None
    older: str | None


class OutboxMailer:
    """Writes each message as ``<UTC time>-<random>.eml`` into ``folder``; names sort by time.

    Files are written under a temporary name and renamed, so a reader never sees half a message.
    """

    def __init__(self, folder: Path, *, sender: str = DEFAULT_SENDER, clock: Clock | None = None) -> None:
        self.folder = folder
        self.sender = _one_address(sender, "the sender")
        self._clock = clock or SystemClock()

    async def send(self, message: Message) -> str:
        now = self._clock.now().astimezone(UTC)
        data = build_email(message, sender=self.sender, now=now).as_bytes(policy=policy.SMTP)
        name = f"{now:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:12]}.eml"
        try:
            await asyncio.to_thread(self._write, name, data)
        except OSError as exc:
            raise MailDeliveryError(f"could not write to the outbox: {exc.strerror}", permanent=False) from exc
        return message.message_id

    def _write(self, name: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{name}.partial"
        partial.write_bytes(data)
        partial.replace(self.folder / name)

    def _names(self) -> list[str]:
        """Every stored message's file name, newest first."""
        if not self.folder.is_dir():
            return []
        return sorted((p.name for p in self.folder.iterdir() if _OUTBOX_NAME.match(p.name)), reverse=True)

    def _parse(self, name: str) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes((self.folder / name).read_bytes())
        assert isinstance(parsed, EmailMessage)  # noqa: S101 - policy.default always builds EmailMessage
        return parsed

    def _entry(self, name: str, email: EmailMessage) -> OutboxEntry:
        stamp = _OUTBOX_NAME.match(name)
        assert stamp  # noqa: S101 - only matching names get here
        sent_at = datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
        return OutboxEntry(
            name=name,
            sent_at=sent_at,
            to=str(email.get("To", "")),
            subject=str(email.get("Subject", "")),
            category=str(email.get("X-FastApp-Category", "")),
        )

    async def list_messages(self, limit: int = 100) -> list[OutboxEntry]:
        """The newest ``limit`` stored messages, newest first."""

        def load() -> list[OutboxEntry]:
            return [self._entry(name, self._parse(name)) for name in self._names()[:limit]]

        return await asyncio.to_thread(load)

    async def read_message(self, name: str) -> OutboxMessage:
        """The stored message called ``name``; NotFound unless ``name`` is an outbox file name
        (which has no path separators) that exists in the folder."""

        def load() -> OutboxMessage:
            names = self._names()
            if not _OUTBOX_NAME.match(name) or name not in names:
                raise NotFound("There is no such message in the outbox.")
            email = self._parse(name)
            index = names.index(name)
            return OutboxMessage(
                entry=self._entry(name, email),
                headers=tuple((key, str(value)) for key, value in email.items()),
                text=_part(email, "plain"),
                html=_part(email, "html"),
                newer=names[index - 1] if index > 0 else None,
                older=names[index + 1] if index + 1 < len(names) else None,
            )

        return await asyncio.to_thread(load)


def _part(email: EmailMessage, subtype: str) -> str:
    body = email.get_body(preferencelist=(subtype,))
    # The file has RFC 5322 CRLF line ends; a decoded 8bit part keeps them.
    return str(body.get_content()).replace("\r\n", "\n") if isinstance(body, EmailMessage) else ""


TlsMode = Literal["tls", "starttls", "auto", "off"]
_SMTP_OPTIONS = ("starttls", "timeout", "from")


class SmtpMailer:
    """Delivers through an SMTP server; one connection per message (aiosmtplib).

    ``tls``: ``tls`` is TLS from the first byte (smtps, usually port 465); ``starttls`` requires the
    STARTTLS upgrade; ``auto`` upgrades when the server offers it; ``off`` never does.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        tls: TlsMode = "auto",
        timeout: float = 10.0,
        sender: str = DEFAULT_SENDER,
        clock: Clock | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.tls: TlsMode = tls
        self.timeout = timeout
        self.sender = _one_address(sender, "the sender")
        self._clock = clock or SystemClock()

    def __repr__(self) -> str:  # never the password
        user = f"{self.username}@" if self.username else ""
        return f"SmtpMailer({user}{self.host}:{self.port}, tls={self.tls})"

    @classmethod
    def from_url(cls, url: str, *, sender: str = DEFAULT_SENDER, clock: Clock | None = None) -> SmtpMailer:
        """A mailer for ``smtp://user:password@host:port?starttls=required|auto|off&timeout=10&from=...``
        or ``smtps://...`` (TLS from the first byte). Default ports: 587 for smtp, 465 for smtps.
        Percent-encode reserved characters in the user name and password. ``from`` overrides
        ``sender``. Raises ValueError naming what is wrong; messages never contain the password."""
        parts = urlsplit(url.strip())
        if parts.scheme not in {"smtp", "smtps"}:
            raise ValueError("the SMTP URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("the SMTP URL needs a host, as in smtp://user:password@smtp.example.com:587")
        try:
            port = parts.port if parts.port is not None else (465 if parts.scheme == "smtps" else 587)
        except ValueError:
            port = 0
        if not 0 < port < 65536:
            raise ValueError("the SMTP URL's port must be a number from 1 to 65535")
        if parts.path not in {"", "/"} or parts.fragment:
            raise ValueError("the SMTP URL takes no path; percent-encode '/', '?' and '#' in the password")
        if parts.password is not None and not parts.username:
            raise ValueError("the SMTP URL has a password but no user name")
        options: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key not in _SMTP_OPTIONS or key in options:
                raise ValueError(f"the SMTP URL takes each of these options at most once: {', '.join(_SMTP_OPTIONS)}")
            options[key] = value
        tls: TlsMode = "tls" if parts.scheme == "smtps" else "auto"
        if "starttls" in options:
            if parts.scheme == "smtps":
                raise ValueError("starttls does not apply to smtps://, which uses TLS from the first byte")
            modes: dict[str, TlsMode] = {"required": "starttls", "auto": "auto", "off": "off"}
            if options["starttls"] not in modes:
                raise ValueError("the SMTP URL's starttls option must be required, auto or off")
            tls = modes[options["starttls"]]
        try:
            timeout = float(options.get("timeout", "10"))
        except ValueError:
            timeout = 0.0
        if not 0 < timeout <= 600:
            raise ValueError("the SMTP URL's timeout must be a number of seconds from 0 to 600")
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
            tls=tls,
            timeout=timeout,
            sender=_one_address(options["from"], "the SMTP URL's from option") if "from" in options else sender,
            clock=clock,
        )

    async def send(self, message: Message) -> str:
        import aiosmtplib  # imported on use: ~0.15 s of start-up the outbox mode skips

        email = build_email(message, sender=self.sender, now=self._clock.now())
        try:
            await aiosmtplib.send(
                email,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self._password,
                use_tls=self.tls == "tls",
                start_tls={"starttls": True, "auto": None}.get(self.tls, False),
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise self._delivery_error(exc) from exc
        return message.message_id

    def _delivery_error(self, exc: Exception) -> MailDeliveryError:
        import aiosmtplib

        code: int | None = None
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
            exc = exc.recipients[0]  # one recipient per message
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            code = exc.code
        permanent = code is not None and 500 <= code < 600 and not isinstance(exc, aiosmtplib.SMTPAuthenticationError)
        # RFC 3463: enhanced status 5.1.x is about the address (unknown user, bad domain, moved);
        # some servers only check recipients after DATA, so the stage alone does not tell.
        message = exc.message if isinstance(exc, aiosmtplib.SMTPResponseException) else ""
        bad_recipient = isinstance(exc, aiosmtplib.SMTPRecipientRefused) or _ADDRESS_STATUS.match(message) is not None
        reason = str(exc) or type(exc).__name__
        return MailDeliveryError(
            f"SMTP {self.host}:{self.port}: {reason}", permanent=permanent, code=code, bad_recipient=bad_recipient
        )


def create_mailer(
    smtp_url: str, outbox_dir: Path, *, sender: str = DEFAULT_SENDER, clock: Clock | None = None
) -> Mailer:
    """An ``SmtpMailer`` when ``smtp_url`` is set, else an ``OutboxMailer`` writing to ``outbox_dir``."""
    if smtp_url:
        return SmtpMailer.from_url(smtp_url, sender=sender, clock=clock)
    return OutboxMailer(outbox_dir, sender=sender, clock=clock)
