"""``/api/v1/audit``: find, read and export audit events (permission ``audit:read``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from fastapp.api.deps import ContextDep, RuntimeDep, VerifiedPrincipalDep
from fastapp.audit import export, queries
from fastapp.audit.schemas import EventOut, EventPageOut, EventQuery
from fastapp.platform.context import Principal
from fastapp.platform.errors import NotFound, PermissionDenied

router = APIRouter(prefix="/audit", tags=["audit"])
PERMISSION = "audit:read"


def _reader(principal: Principal) -> None:
    if not principal.can(PERMISSION):
        raise PermissionDenied("Reading the audit log needs the audit:read permission.")


@router.get("/events", response_model=EventPageOut)
async def list_events(
    principal: VerifiedPrincipalDep,
    ctx: ContextDep,
    filters: Annotated[EventQuery, Query()],
    before: Annotated[int | None, Query(ge=1, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50,
) -> EventPageOut:
    """Events newest first, filtered; page on with ``before=next_cursor``."""
    _reader(principal)
    rows, cursor = await queries.page(
        ctx.session, queries.parse_filter(**filters.model_dump()), before=before, limit=limit
    )
    return EventPageOut(items=[EventOut.model_validate(queries.event_record(r)) for r in rows], next_cursor=cursor)


@router.get("/events/export", response_class=StreamingResponse)
async def export_events(
    principal: VerifiedPrincipalDep,
    ctx: ContextDep,
    runtime: RuntimeDep,
    filters: Annotated[EventQuery, Query()],
    format: Annotated[str, Query(pattern="^(csv|jsonl)$")] = "jsonl",
) -> StreamingResponse:
    """Every matching event as CSV or JSON Lines, streamed. The export itself is audited."""
    _reader(principal)
    wanted = queries.parse_filter(**filters.model_dump())
    await export.record_export(ctx, wanted, format)
    await ctx.session.commit()  # the record of the export stands before the first byte leaves
    return StreamingResponse(
        export.lines(runtime, wanted, format),
        media_type=export.FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="audit-events.{format}"'},
    )


@router.get("/events/{seq}", response_model=EventOut)
async def get_event(seq: int, principal: VerifiedPrincipalDep, ctx: ContextDep) -> EventOut:
    _reader(principal)
    event = await queries.one(ctx.session, seq)
    if event is None:
        raise NotFound("No audit event with that number (it may have been purged).")
    return EventOut.model_validate(queries.event_record(event))
