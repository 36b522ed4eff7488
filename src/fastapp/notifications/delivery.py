"""The life of one email: queued in the caller's transaction, then moved along by events.

``queue_email`` writes the message record and enqueues the ``email.send`` job in the caller's
transaction, so a mail leaves exactly when the change it announces commits. ``record_event``
appends one delivery event (from the sender, a tracking hit or a provider webhook) and moves the
message's status forward: a later, weaker event never hides a stronger one (a "delivered" report
arriving after an "opened" keeps "opened"; a bounce always wins).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from fastapp.notifications.models import EmailEvent, EmailMessage, MailStatus
from fastapp.platform.context import Context
from fastapp.platform.jobs import enqueue
from fastapp.platform.mail import new_message_id

SEND_JOB = "email.send"
EMAIL_QUEUE = "email"
#: Attempts of one message before it is given up as failed. With the queue's doubling backoff the
#: last retry comes up to an hour after the first, past typical greylisting and short outages.
SEND_ATTEMPTS = 12

#: Rank of each status: an event moves the message to its status only when it ranks at least as
#: high as the current one. Final failures outrank every success.
_RANK = {
    MailStatus.queued: 0,
    MailStatus.deferred: 1,
    MailStatus.sent: 2,
    MailStatus.delivered: 3,
    MailStatus.opened: 4,
    MailStatus.clicked: 5,
    MailStatus.failed: 6,
    MailStatus.suppressed: 6,
    MailStatus.bounced: 7,
    MailStatus.complained: 8,
}
_STAMP = {
    MailStatus.sent: "sent_at",
    MailStatus.delivered: "delivered_at",
    MailStatus.opened: "opened_at",
    MailStatus.clicked: "clicked_at",
    MailStatus.deferred: "deferred_at",
    MailStatus.bounced: "bounced_at",
    MailStatus.complained: "complained_at",
    MailStatus.failed: "failed_at",
    MailStatus.suppressed: "suppressed_at",
}


async def queue_email(
    ctx: Context,
    *,
    to: str,
    template: str,
    category: str,
    mandatory: bool,
    context: Mapping[str, Any],
    user_id: uuid.UUID | None = None,
    message_domain: str = "fastapp.invalid",
    keep_on_rollback: bool = False,
) -> EmailMessage:
    """Record a mail to ``to`` and enqueue its sending in ``ctx``'s transaction.

    ``context`` is the template's data (JSON-ready). ``mandatory`` mails (security, account) are
    never tracked and carry no unsubscribe link. ``keep_on_rollback`` sends it even if the
    transaction rolls back (a notice about a refused sign-in), from a transaction of its own.
    """
    message = EmailMessage(
        id=uuid.uuid4(),
        user_id=user_id,
        to_address=to,
        template=template,
        category=category,
        mandatory=mandatory,
        context=json.dumps(dict(context), separators=(",", ":"), default=str),
        status=MailStatus.queued.value,
        message_id=new_message_id(message_domain),
        created_at=ctx.clock.now(),
    )
    if keep_on_rollback:
        from fastapp.platform.context import separate_context

        async def again() -> None:
            async with separate_context(ctx) as alone:
                await queue_email(
                    alone,
                    to=to,
                    template=template,
                    category=category,
                    mandatory=mandatory,
                    context=context,
                    user_id=user_id,
                    message_domain=message_domain,
                )

        ctx.on_rollback(again)
    ctx.session.add(message)
    await ctx.session.flush()
    await enqueue(
        ctx,
        SEND_JOB,
        {"message": str(message.id)},
        queue=EMAIL_QUEUE,
        idempotency_key=send_job_key(message.id),
        max_attempts=SEND_ATTEMPTS,
    )
    return message


def send_job_key(message_id: uuid.UUID) -> str:
    """The idempotency key of a message's ``email.send`` job: one job per message, and the way
    the handler finds its own job (to tell its last attempt)."""
    return f"email:{message_id}"


async def record_event(
    ctx: Context,
    message: EmailMessage,
    status: MailStatus,
    *,
    at: datetime | None = None,
    detail: Mapping[str, Any] | None = None,
) -> bool:
    """Append a ``status`` event to ``message``; True when it became the message's status.

    Each status's first time is kept in its ``*_at`` column; opens and clicks are also counted.
    """
    at = at or ctx.clock.now()
    ctx.session.add(
        EmailEvent(
            message_id=message.id,
            type=status.value,
            occurred_at=at,
            detail=json.dumps(dict(detail or {}), separators=(",", ":"), default=str),
        )
    )
    stamp = _STAMP.get(status)
    if stamp and getattr(message, stamp) is None:
        setattr(message, stamp, at)
    if status is MailStatus.opened:
        message.open_count += 1
    elif status is MailStatus.clicked:
        message.click_count += 1
        if message.opened_at is None:  # a click proves an open the pixel missed
            message.opened_at = at
    moved = _RANK[status] >= _RANK[MailStatus(message.status)]
    if moved:
        message.status = status.value
    await ctx.session.flush()
    return moved


async def lock_message(ctx: Context, message_id: uuid.UUID) -> EmailMessage | None:
    """The message read afresh under a write lock on its row, held until the transaction ends.

    ``record_event`` reads the status, then writes it: two events for one message applied at once
    (an open and a click) would each start from the same status and the later commit would win.
    A no-op UPDATE takes the row lock on PostgreSQL and the write lock on SQLite first.
    """
    await ctx.session.execute(
        update(EmailMessage)
        .where(EmailMessage.id == message_id)
        .values(status=EmailMessage.status)
        .execution_options(synchronize_session=False)
    )
    found = await ctx.session.scalars(
        select(EmailMessage).where(EmailMessage.id == message_id).execution_options(populate_existing=True)
    )
    return found.first()


async def message_by_provider_id(ctx: Context, provider_message_id: str) -> EmailMessage | None:
    """The message a provider's webhook refers to (its id, or our Message-ID with or without <>)."""
    candidates = {provider_message_id, provider_message_id.strip("<>"), f"<{provider_message_id.strip('<>')}>"}
    found = await ctx.session.scalars(
        select(EmailMessage).where(EmailMessage.provider_message_id.in_(candidates)).limit(1)
    )
    message = found.first()
    if message is None:
        found = await ctx.session.scalars(select(EmailMessage).where(EmailMessage.message_id.in_(candidates)).limit(1))
        message = found.first()
    return message
