"""``/api/v1/me/consents``: the signed-in user's consent, as on the privacy page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fastapp.api.deps import ContextDep, PrincipalDep
from fastapp.privacy.consent import services
from fastapp.privacy.consent.schemas import ConsentsIn, HistoryOut, PurposeOut

router = APIRouter(prefix="/me", tags=["privacy"])


@router.get("/consents", response_model=list[PurposeOut])
async def get_consents(principal: PrincipalDep, ctx: ContextDep) -> list[PurposeOut]:
    """Every purpose with your current decision (necessary ones are always granted)."""
    state = await services.current(ctx, user_id=principal.user_id)
    return [PurposeOut.of(p, state) for p in services.purposes(ctx).values()]


@router.put("/consents", response_model=list[PurposeOut])
async def put_consents(body: ConsentsIn, principal: PrincipalDep, ctx: ContextDep) -> list[PurposeOut]:
    """Grant or withdraw purposes, e.g. ``{"preferences": true, "marketing": false}``. An unknown
    purpose, or withdrawing a necessary one, is refused (422) and changes nothing."""
    state = await services.record_decision(ctx, user_id=principal.user_id, granted=body.root, source="api")
    return [PurposeOut.of(p, state) for p in services.purposes(ctx).values()]


@router.get("/consents/history", response_model=HistoryOut)
async def consent_history(
    principal: PrincipalDep,
    ctx: ContextDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=services.MAX_PAGE_SIZE)] = services.PAGE_SIZE,
) -> HistoryOut:
    """Your decisions, newest first; page on with ``page=next_page``."""
    return HistoryOut.of(await services.history(ctx, principal.user_id, page=page, per_page=per_page))
