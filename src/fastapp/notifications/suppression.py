"""The suppression list: addresses no mail is sent to.

A hard bounce or a complaint suppresses an address at once; soft bounces (mailbox full, greylisted
for too long) count since the address's last delivery and suppress it past a threshold. Admins can
lift a suppression (audited), after which the address receives mail again.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from fastapp.notifications.models import EmailSoftBounce, EmailSuppression
from fastapp.platform.context import Context

#: Soft bounces since the last delivery that suppress an address.
SOFT_BOUNCE_LIMIT = 3


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


async def record_bounce(ctx: Context, address: str, *, hard: bool, source: str, detail: str = "") -> bool:
    """Count a bounce; True when the address is (now) suppressed."""
    if hard:
        await suppress(ctx, address, reason="hard_bounce", source=source, detail=detail)
        return True
    key = address_key(address)
    now = ctx.clock.now()
    row = await ctx.session.get(EmailSoftBounce, key)
    if row is None:
        row = EmailSoftBounce(address=key, count=0, first_at=now, last_at=now)
        ctx.session.add(row)
    row.count += 1
    row.last_at = now
    await ctx.session.flush()
    if row.count >= SOFT_BOUNCE_LIMIT:
        await suppress(ctx, address, reason="soft_bounces", source=source, detail=f"{row.count} soft bounces: {detail}")
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
