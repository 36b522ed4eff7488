"""The suppression list: addresses no mail is sent to.

A hard bounce or a complaint suppresses an address at once; soft bounces (mailbox full, greylisted
for too long) count since the address's last delivery and suppress it past a threshold. Admins can
lift a suppression (audited), after which the address receives mail again.

``add_by_admin`` and ``lift_by_admin`` are the administrators' entry points: they check the
``email:manage`` permission and record the change in the audit log, in the caller's transaction.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, select, update

from fastapp.audit import Action, record
from fastapp.notifications.models import EmailSoftBounce, EmailSuppression
from fastapp.platform.context import Context
from fastapp.platform.errors import Conflict, Invalid, NotFound, PermissionDenied

#: Soft bounces since the last delivery that suppress an address, unless configured
#: (``FASTAPP_SOFT_BOUNCE_LIMIT``).
SOFT_BOUNCE_LIMIT = 3
#: Who may see email statistics and messages and change the suppression list.
EMAIL_MANAGE = "email:manage"
#: What reasons mean, for people.
REASONS = {
    "hard_bounce": "Hard bounce",
    "complaint": "Spam complaint",
    "soft_bounces": "Repeated soft bounces",
    "manual": "Added by an administrator",
}
_ADDRESS = re.compile(r"^[^@\s<>(),;:\"]+@[^@\s<>(),;:\"]+\.[^@\s<>(),;:\"]+$")


def address_key(address: str) -> str:
    """The form suppressions are kept in: the bare address, lower-cased."""
    from email.utils import parseaddr

    return parseaddr(address)[1].strip().lower() or address.strip().lower()


async def is_suppressed(ctx: Context, address: str) -> bool:
    return await ctx.session.get(EmailSuppression, address_key(address)) is not None


async def suppress(ctx: Context, address: str, *, reason: str, source: str, detail: str = "") -> bool:
    """Put ``address`` on the list; False when it already was (the first reason stays)."""
    key = address_key(address)
    if await ctx.session.get(EmailSuppression, key) is not None:
        return False
    ctx.session.add(
        EmailSuppression(address=key, reason=reason, source=source, detail=detail[:2000], created_at=ctx.clock.now())
    )
    await ctx.session.flush()
    return True


def soft_bounce_limit(ctx: Context) -> int:
    """The configured soft-bounce threshold (``SOFT_BOUNCE_LIMIT`` without a runtime)."""
    return ctx.runtime.config.email_webhooks.soft_bounce_limit if ctx.runtime is not None else SOFT_BOUNCE_LIMIT


async def record_bounce(ctx: Context, address: str, *, hard: bool, source: str, detail: str = "") -> bool:
    """Count a bounce; True when the address is (now) suppressed.

    A hard bounce suppresses at once; soft bounces suppress once ``soft_bounce_limit`` of them
    arrived since the address's last delivery.
    """
    if hard:
        await suppress(ctx, address, reason="hard_bounce", source=source, detail=detail)
        return True
    key = address_key(address)
    now = ctx.clock.now()
    # One statement adds to the count, so two reports at once cannot both read the old value; a
    # first bounce inserts the row (of two first ones at once, one fails and its job retries).
    count = await ctx.session.scalar(
        update(EmailSoftBounce)
        .where(EmailSoftBounce.address == key)
        .values(count=EmailSoftBounce.count + 1, last_at=now)
        .returning(EmailSoftBounce.count)
        .execution_options(synchronize_session=False)
    )
    if count is None:
        ctx.session.add(EmailSoftBounce(address=key, count=1, first_at=now, last_at=now))
        await ctx.session.flush()
        count = 1
    if count >= soft_bounce_limit(ctx):
        await suppress(ctx, address, reason="soft_bounces", source=source, detail=f"{count} soft bounces: {detail}")
        return True
    return False


async def record_complaint(ctx: Context, address: str, *, source: str, detail: str = "") -> None:
    await suppress(ctx, address, reason="complaint", source=source, detail=detail)


async def record_delivery(ctx: Context, address: str) -> None:
    """A delivery resets the address's soft-bounce count."""
    await ctx.session.execute(delete(EmailSoftBounce).where(EmailSoftBounce.address == address_key(address)))


async def lift(ctx: Context, address: str) -> EmailSuppression | None:
    """Remove ``address`` from the list (and its soft-bounce count); the removed row, or None."""
    key = address_key(address)
    row = (await ctx.session.scalars(select(EmailSuppression).where(EmailSuppression.address == key))).first()
    if row is not None:
        await ctx.session.delete(row)
    await record_delivery(ctx, key)
    await ctx.session.flush()
    return row


def _manager(ctx: Context) -> None:
    if ctx.principal is None or not ctx.principal.can(EMAIL_MANAGE):
        raise PermissionDenied(f"Changing the suppression list needs the {EMAIL_MANAGE} permission.")


def checked_address(address: str) -> str:
    """``address`` as suppressions keep it; ``Invalid`` (field ``address``) unless it is one address."""
    key = address.strip().lower()
    if not key or len(key) > 320 or not _ADDRESS.match(key):
        raise Invalid(
            "Enter one email address, such as someone@example.com.",
            fields={"address": "Enter one email address, such as someone@example.com."},
        )
    return key


async def add_by_admin(ctx: Context, address: str, *, note: str = "") -> EmailSuppression:
    """Suppress ``address`` by hand (reason ``manual``), audited; ``Conflict`` if it already is."""
    _manager(ctx)
    key = checked_address(address)
    note = note.strip()
    if len(note) > 500:
        raise Invalid("Keep the note under 500 characters.", fields={"note": "Keep the note under 500 characters."})
    if not await suppress(ctx, key, reason="manual", source="admin", detail=note):
        raise Conflict(f"{key} is already on the suppression list.", fields={"address": "Already on the list."})
    row = await ctx.session.get(EmailSuppression, key)
    assert row is not None  # noqa: S101 - suppress() just added it in this transaction
    await record(
        ctx,
        Action.EMAIL_SUPPRESSION_ADDED,
        data={"after": {"reason": "manual", "source": "admin"}},
        personal={"address": key, "note": note},
    )
    return row


async def lift_by_admin(ctx: Context, address: str) -> EmailSuppression:
    """Lift ``address``'s suppression, audited with what it was; ``NotFound`` if not suppressed."""
    _manager(ctx)
    row = await lift(ctx, address)
    if row is None:
        raise NotFound("That address is not on the suppression list.")
    await record(
        ctx,
        Action.EMAIL_SUPPRESSION_LIFTED,
        data={
            "before": {"reason": row.reason, "source": row.source, "created_at": row.created_at.isoformat()},
            "after": None,
        },
        personal={"address": row.address, "detail": row.detail},
    )
    return row
