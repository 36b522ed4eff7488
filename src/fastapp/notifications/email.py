"""Sending one queued email: the ``email.send`` job, and how a message is rendered.

``queue_email`` (``delivery.py``) records an ``EmailMessage`` and enqueues this job in the
caller's transaction. The job renders the template with the stored context (subject, text, HTML
with its CSS inlined), adds the headers, hands the mail to the process's ``Mailer`` and records
what happened:

- already final (sent or later, failed, suppressed): nothing, so a retried job never sends twice;
- suppressed address: ``suppressed``, nothing sent;
- accepted: ``sent`` with the provider's id;
- temporary failure (4xx, network): ``deferred`` and one more attempt, written in a transaction of
  its own so they survive the job's rollback; then the job raises and the queue retries it with
  backoff. On the job's last attempt the message is marked ``failed`` as well;
- permanent failure (5xx) or a template that cannot render: ``failed``, not retried; a 5xx refusal
  of the address itself is a hard bounce (the address is suppressed).

Once final, the stored context is blanked: it may hold sign-in links.

Non-mandatory mail carries ``List-Unsubscribe`` / ``List-Unsubscribe-Post`` (RFC 8058) when it has
a user to unsubscribe, and is tracked (open pixel, click redirects) when
``FASTAPP_EMAIL_TRACKING`` is on; mandatory mail (security, account) gets neither.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from jinja2 import TemplateError
from sqlalchemy import select

from fastapp.notifications import suppression
from fastapp.notifications.delivery import record_event, send_job_key
from fastapp.notifications.models import EmailMessage, MailStatus
from fastapp.notifications.tracking import UNSUBSCRIBE_PATH, MailTokens, track_html
from fastapp.platform.context import Context, Runtime, separate_context
from fastapp.platform.jobs import Job
from fastapp.platform.mail import MAILER, MailDeliveryError, Mailer, MailTemplates, Message

log = structlog.get_logger("fastapp.email")

KIT = "notifications.email"
TEMPLATE_DIR = Path(__file__).parent / "mail_templates"
#: Statuses from which the message may still be sent.
PENDING = frozenset({MailStatus.queued.value, MailStatus.deferred.value})


@dataclass(frozen=True)
class EmailKit:
    """What rendering needs, built once per process from the configuration."""

    templates: MailTemplates
    tokens: MailTokens
    site_url: str
    tracking: bool

    def unsubscribe_url(self, user_id: uuid.UUID, category: str) -> str:
        token = self.tokens.unsubscribe_token(user_id, category)
        return f"{self.site_url}{UNSUBSCRIBE_PATH}?token={quote(token, safe='')}"


def kit(runtime: Runtime) -> EmailKit:
    found: EmailKit | None = runtime.services.get(KIT)
    if found is None:
        config = runtime.config
        found = EmailKit(
            templates=MailTemplates(product=config.app.name, site_url=config.app.site_url, search_path=[TEMPLATE_DIR]),
            tokens=MailTokens(config.app.secret_key.get_secret_value()),
            site_url=config.app.site_url.rstrip("/"),
            tracking=config.mail.email_tracking,
        )
        runtime.services[KIT] = found
    return found


def mailer_of(runtime: Runtime) -> Mailer:
    """The process's mailer (the composition root builds it from ``FASTAPP_SMTP_URL``)."""
    mailer: Mailer = runtime.services[MAILER]
    return mailer


def compose(kit: EmailKit, message: EmailMessage) -> Message:
    """The mail for ``message``: rendered from its template and stored context, with its headers.

    Raises ``jinja2.TemplateError`` for a missing template or variable, and ``ValueError`` (or
    ``TypeError``) for data the templates or the message refuse (a relative link, two addresses).
    """
    context: dict[str, Any] = json.loads(message.context or "{}")
    headers: dict[str, str] = {}
    if not message.mandatory and message.user_id is not None:
        url = kit.unsubscribe_url(message.user_id, message.category)
        context["unsubscribe_url"] = url
        headers["List-Unsubscribe"] = f"<{url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    subject, text, html = kit.templates.render(message.template, **context)
    if kit.tracking and not message.mandatory:
        html = track_html(html, message.id, tokens=kit.tokens, site_url=kit.site_url)
    return Message(
        to=message.to_address,
        subject=subject,
        text=text,
        html=html,
        category=message.category,
        headers=headers,
        message_id=message.message_id,
    )


async def send_email(runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
    """The ``email.send`` job (payload ``{"message": "<uuid>"}``); see the module docstring.

    Raises ``MailDeliveryError`` (or whatever the mailer raised) on a temporary failure, for the
    queue to retry; returns normally in every final case.
    """
    message = await ctx.session.get(EmailMessage, uuid.UUID(payload["message"]))
    if message is None:
        log.warning("email to send is gone", message=payload["message"])
        return
    if message.status not in PENDING:
        return
    if await suppression.is_suppressed(ctx, message.to_address):
        await record_event(ctx, message, MailStatus.suppressed)
        message.context = None
        log.info("email suppressed", message=str(message.id), template=message.template)
        return
    try:
        mail = compose(kit(runtime), message)
    except (TemplateError, ValueError, TypeError) as exc:
        # The same data will never render: retrying cannot help.
        await _fail(ctx, message, {"error": f"could not render: {exc}"})
        log.error("email could not be rendered", message=str(message.id), template=message.template, error=str(exc))
        return
    try:
        provider_id = await mailer_of(runtime).send(mail)
    except MailDeliveryError as exc:
        if exc.permanent:
            await _fail(ctx, message, {"code": exc.code, "error": exc.detail})
            if exc.bad_recipient:
                await suppression.record_bounce(ctx, message.to_address, hard=True, source="smtp", detail=exc.detail)
            log.warning("email refused", message=str(message.id), code=exc.code, bad_recipient=exc.bad_recipient)
            return
        await _defer(ctx, message.id, {"code": exc.code, "error": exc.detail}, last=await _last_attempt(ctx, message))
        raise
    except Exception as exc:
        # Not a refusal the mailer understood (a bug, an unexpected transport error): retry.
        await _defer(ctx, message.id, {"error": repr(exc)[:2000]}, last=await _last_attempt(ctx, message))
        raise
    message.attempts += 1
    message.subject = mail.subject[:300]
    message.provider_message_id = provider_id
    message.last_error = None
    await record_event(ctx, message, MailStatus.sent, detail={"provider_id": provider_id})
    message.context = None
    await ctx.session.flush()
    log.info("email sent", message=str(message.id), template=message.template)


async def _fail(ctx: Context, message: EmailMessage, detail: dict[str, Any]) -> None:
    message.attempts += 1
    message.last_error = str(detail.get("error", ""))[:2000]
    await record_event(ctx, message, MailStatus.failed, detail=detail)
    message.context = None
    await ctx.session.flush()


async def _last_attempt(ctx: Context, message: EmailMessage) -> bool:
    """Whether the job running now is the message's last attempt (the queue then gives up)."""
    job = await ctx.session.scalar(select(Job).where(Job.idempotency_key == send_job_key(message.id)))
    return job is not None and job.attempts >= job.max_attempts


async def _defer(ctx: Context, message_id: uuid.UUID, detail: dict[str, Any], *, last: bool) -> None:
    """Record a temporary failure in a transaction of its own: the job's own is about to roll
    back so the queue can retry. On the last attempt the message is also marked failed."""
    async with separate_context(ctx) as alone:
        message = await alone.session.get(EmailMessage, message_id)
        if message is None:
            return
        message.attempts += 1
        message.last_error = str(detail.get("error", ""))[:2000]
        await record_event(alone, message, MailStatus.deferred, detail=detail)
        if last:
            await record_event(alone, message, MailStatus.failed, detail={"error": "gave up after the last attempt"})
            message.context = None
    log.warning("email deferred", message=str(message_id), code=detail.get("code"), gave_up=last)
