"""``/api/v1/me/erasure`` (ask for your account's erasure, see where it stands) and
``/api/v1/admin/erasures`` (``privacy:manage``: pending erasures, process now, legal holds).

Asking needs a sign-in within the last minutes (``403 reauthentication-required`` otherwise) and
locks the account at once: the token that asked stops working with every other. Cancelling is
done by signing in on the website during the grace period (``POST /api/v1/auth/token`` answers
``403 account-deletion-pending`` meanwhile).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from fastapp.accounts import wiring
from fastapp.accounts.policy import require_recent_authentication
from fastapp.api.deps import ContextDep, PrincipalDep, RuntimeDep, VerifiedPrincipalDep
from fastapp.privacy.erasure.schemas import ErasureIn, ErasureOut, HoldIn, PendingErasureOut, PendingErasurePageOut
from fastapp.privacy.erasure.services import ErasureService, Pending

router = APIRouter(prefix="/me/erasure", tags=["privacy"])
admin_router = APIRouter(prefix="/admin/erasures", tags=["admin: privacy"])
SCHEDULED = "Your account is locked and will be erased on the due date. Sign in on the website to cancel."


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ErasureOut)
async def request_erasure(body: ErasureIn, principal: PrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> ErasureOut:
    """Schedule the erasure of your account after the grace period. ``confirm`` must be your
    email address (422 otherwise); 409 for the last owner. Every session and token ends now."""
    require_recent_authentication(principal, now=ctx.clock.now(), minutes=wiring.kit(runtime).settings.sudo_minutes)
    request = await ErasureService(runtime, ctx).request(principal, confirmation=body.confirm)
    return ErasureOut.of(request, SCHEDULED)


@router.get("", response_model=ErasureOut)
async def erasure_status(principal: PrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> ErasureOut:
    """Your latest erasure request (``none`` when you never asked)."""
    return ErasureOut.of(await ErasureService(runtime, ctx).current(principal.user_id))


def _pending_out(pending: Pending) -> PendingErasureOut:
    request = pending.request
    return PendingErasureOut(
        id=request.id,
        user_id=request.user_id,
        email=pending.email,
        display_name=pending.display_name,
        requested_at=request.requested_at,
        due_at=request.due_at,
        reminder_sent_at=request.reminder_sent_at,
        held=pending.held,
        hold_reason=request.hold_reason,
        held_at=request.held_at if pending.held else None,
        error=request.error,
    )


@admin_router.get("", response_model=PendingErasurePageOut)
async def pending_erasures(
    _principal: VerifiedPrincipalDep,
    ctx: ContextDep,
    runtime: RuntimeDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> PendingErasurePageOut:
    """Scheduled erasures (held ones included), soonest first, 50 a page."""
    found, pages = await ErasureService(runtime, ctx).pending(page=page)
    return PendingErasurePageOut(items=[_pending_out(p) for p in found], page=page, pages=pages)


@admin_router.post("/{request_id}/process", response_model=PendingErasureOut)
async def process_erasure(
    request_id: uuid.UUID, _principal: VerifiedPrincipalDep, ctx: ContextDep, runtime: RuntimeDep
) -> PendingErasureOut:
    """Erase now instead of at the end of the grace period (queued at once); 409 while held."""
    service = ErasureService(runtime, ctx)
    await service.process_now(request_id)
    return _pending_out(await service.get_pending(request_id))


@admin_router.post("/{request_id}/hold", response_model=PendingErasureOut)
async def hold_erasure(
    request_id: uuid.UUID, body: HoldIn, _principal: VerifiedPrincipalDep, ctx: ContextDep, runtime: RuntimeDep
) -> PendingErasureOut:
    """Place a legal hold (reason required): the erasure waits, even when due, until released."""
    service = ErasureService(runtime, ctx)
    await service.hold(request_id, body.reason)
    return _pending_out(await service.get_pending(request_id))


@admin_router.post("/{request_id}/release", response_model=PendingErasureOut)
async def release_erasure(
    request_id: uuid.UUID, _principal: VerifiedPrincipalDep, ctx: ContextDep, runtime: RuntimeDep
) -> PendingErasureOut:
    """Release the legal hold; an erasure already due is queued at once."""
    service = ErasureService(runtime, ctx)
    await service.release(request_id)
    return _pending_out(await service.get_pending(request_id))
