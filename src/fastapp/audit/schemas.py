"""API output models of the audit domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class EventQuery(BaseModel):
    """The filters of ``GET /api/v1/audit/events`` (and its export); empty ones do not filter."""

    actor: str = Field("", max_length=320, description="A user or token id, a job name, or an email address")
    action: str = Field("", max_length=64, description="An action, or a prefix ending in '.' (auth.)")
    target: str = Field("", max_length=100, description="type:id (user:0b6f...) or a bare id")
    outcome: str = Field("", max_length=16, description="success or failure")
    ip: str = Field("", max_length=45)
    since: str = Field("", max_length=40, description="ISO 8601 date or time, UTC unless an offset is given")
    until: str = Field("", max_length=40, description="ISO 8601; a bare date includes that whole day")


class ActorOut(BaseModel):
    type: str
    id: str | None
    label: str | None


class TargetOut(BaseModel):
    type: str | None
    id: str | None


class EventOut(BaseModel):
    seq: int
    occurred_at: datetime
    action: str
    description: str
    outcome: str
    actor: ActorOut
    target: TargetOut
    ip: str | None
    user_agent: str | None
    request_id: str | None
    data: dict[str, Any]
    personal: dict[str, Any] | None
    erased: bool
    hash: str


class EventPageOut(BaseModel):
    items: list[EventOut]
    #: Pass as ``before`` for the next (older) page; null on the last page.
    next_cursor: int | None
