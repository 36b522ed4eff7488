"""Erasure's jobs: the sweep (reminders, due erasures) and the erasure of one account.

The sweep runs every quarter hour (``SWEEP_SCHEDULE``). It mails the reminder once,
``FASTAPP_PRIVACY_ERASURE_REMINDER_DAYS`` before the due date, and queues ``privacy.erasure.run``
for every request that is due, still scheduled and not held, keyed by ``services.run_key`` so
later sweeps do not queue it again.

The last mail. The user is told their account is gone, and after the erasure no table may hold
their address. So this mail is not queued with the email service (its record and its job's
payload would keep the address, or need erasing again afterwards): it is rendered with the same
templates and handed straight to the process's mailer, leaving no record. It is sent inside the
erasure's transaction, after every eraser has run but before the commit: the address is erased
only when that commit lands, so the mail goes out before it, and an eraser that fails rolls back
before anything is sent (no "your data is gone" mail for an erasure that did not happen). If the
mailer refuses, the transaction rolls back too and the job retries later. Only a commit failing
after a successful send could send the mail twice, which is better than erasing unannounced.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import structlog
from sqlalchemy import select

from fastapp.accounts.models import User, UserStatus
from fastapp.accounts.services import ACCOUNT_MAIL
from fastapp.audit import Action, Actor, record
from fastapp.notifications import suppression
from fastapp.notifications.email import kit as email_kit
from fastapp.notifications.email import mailer_of
from fastapp.platform.context import Context, Runtime, separate_context
from fastapp.platform.jobs import Schedule, enqueue
from fastapp.platform.mail import Message, new_message_id
from fastapp.privacy import registry as privacy_registry
from fastapp.privacy.erasure import services
from fastapp.privacy.models import ErasureRequest, ErasureStatus

log = structlog.get_logger("fastapp.privacy.erasure")

SWEEP_SCHEDULE = Schedule(services.SWEEP_JOB, "*/15 * * * *", services.SWEEP_JOB)
SYSTEM = Actor.system("privacy.erasure")


async def sweep(runtime: Runtime, ctx: Context, _payload: dict[str, Any]) -> None:
    """``privacy.erasure.sweep``: reminders that are due, and a run job for every due erasure."""
    await send_reminders(runtime, ctx)
    await queue_due(ctx)


async def send_reminders(runtime: Runtime, ctx: Context) -> int:
    """Mail each scheduled, unheld request's reminder once, ``erasure_reminder_days`` before it
    is due (never after: a request already due is erased instead); how many were sent."""
    now = ctx.clock.now()
    ahead = timedelta(days=runtime.config.privacy.erasure_reminder_days)
    rows = await ctx.session.execute(
        select(ErasureRequest, User)
        .join(User, User.id == ErasureRequest.user_id)
        .where(
            ErasureRequest.status == ErasureStatus.scheduled.value,
            ErasureRequest.reminder_sent_at.is_(None),
            ErasureRequest.hold_reason.is_(None),
            ErasureRequest.due_at > now,
            ErasureRequest.due_at <= now + ahead,
        )
        .order_by(ErasureRequest.due_at)
        .limit(services.SWEEP_BATCH)
    )
    accounts = services.ErasureService(runtime, ctx).accounts
    sent = 0
    for request, user in rows.all():
        request.reminder_sent_at = now
        await accounts.queue_mail(
            user.email,
            services.REMINDER_MAIL,
            category=ACCOUNT_MAIL,
            user_id=user.id,
            name=user.display_name,
            due_at=request.due_at,
            action_url=f"{accounts.site_url}/sign-in",
        )
        sent += 1
    await ctx.session.flush()
    return sent


async def queue_due(ctx: Context) -> int:
    """A run job for each due, scheduled, unheld request (once per ``run_key``); how many were new."""
    now = ctx.clock.now()
    rows = await ctx.session.scalars(
        select(ErasureRequest)
        .where(
            ErasureRequest.status == ErasureStatus.scheduled.value,
            ErasureRequest.hold_reason.is_(None),
            ErasureRequest.due_at <= now,
        )
        .order_by(ErasureRequest.due_at)
        .limit(services.SWEEP_BATCH)
    )
    added = 0
    for request in rows.all():
        added += await enqueue(
            ctx, services.RUN_JOB, {"request": str(request.id)}, idempotency_key=services.run_key(request)
        )
    return added


async def run(runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
    """``privacy.erasure.run``: erase one account if its request is still due (see the module
    docstring for the last mail). A failure is noted on the request and raised for a retry."""
    request_id = uuid.UUID(str(payload["request"]))
    try:
        await erase(runtime, ctx, request_id)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]

        async def note() -> None:
            # Once the job's transaction has rolled back (it holds the request's row lock).
            async with separate_context(ctx) as alone:
                request = await alone.session.get(ErasureRequest, request_id)
                if request is not None:
                    request.error = error

        ctx.on_rollback(note)
        log.warning("erasure failed, will retry", request=str(request_id), error=type(exc).__name__)
        raise


async def erase(runtime: Runtime, ctx: Context, request_id: uuid.UUID) -> bool:
    """Run every eraser for the request's user, send the last mail, mark it ``completed``, in
    ``ctx``'s transaction. False (nothing done) unless it is still scheduled, unheld and due."""
    request = await services.lock_request(ctx, request_id)
    if request is None or not services.is_due(request, ctx.clock.now()):
        return False
    user = await ctx.session.get(User, request.user_id)
    address = name = None
    if user is not None and user.status != UserStatus.erased.value:
        address, name = user.email, user.display_name
        if await suppression.is_suppressed(ctx, address):
            address = None  # the address refuses mail: nothing to send
    counts = await privacy_registry.erase_user(ctx, request.user_id)
    if address is not None:
        await _send_last_mail(runtime, address, name or "")
    request.status = ErasureStatus.completed.value
    request.completed_at = ctx.clock.now()
    request.error = None
    await record(
        ctx,
        Action.PRIVACY_ERASURE_PROCESSED,
        actor=SYSTEM,
        target=("erasure", request.id),
        data={"user": str(request.user_id), "stage": "completed", "rows": counts},
    )
    await ctx.session.flush()
    log.info("account erased", request=str(request.id))
    return True


async def _send_last_mail(runtime: Runtime, address: str, name: str) -> None:
    """The erasure's confirmation, straight to the mailer (no record; see the module docstring).
    Raises whatever the mailer raises, which rolls the erasure back for a retry."""
    email = email_kit(runtime)
    action_url = f"{email.site_url}/sign-up"
    subject, text, html = email.templates.render(services.COMPLETED_MAIL, name=name, action_url=action_url)
    domain = urlsplit(runtime.config.app.site_url).hostname or "fastapp.invalid"
    message = Message(
        to=address, subject=subject, text=text, html=html, category=ACCOUNT_MAIL, message_id=new_message_id(domain)
    )
    await mailer_of(runtime).send(message)
