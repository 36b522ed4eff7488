"""Input and output models of the erasure API (``/api/v1/me/erasure``, ``/api/v1/admin/erasures``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from fastapp.privacy.models import ErasureRequest


class ErasureIn(BaseModel):
    #: The account's email address, typed again: the confirmation that the deletion is meant.
    confirm: str = Field(max_length=320, description="Your account's email address, as a confirmation.")


class ErasureOut(BaseModel):
    """An erasure request: ``scheduled`` (until ``due_at``), ``cancelled`` or ``completed``;
    ``none`` when there was never one."""

    status: str
    requested_at: datetime | None = None
    due_at: datetime | None = None
    detail: str = ""

    @classmethod
    def of(cls, request: ErasureRequest | None, detail: str = "") -> ErasureOut:
        if request is None:
            return cls(status="none", detail=detail)
        return cls(status=request.status, requested_at=request.requested_at, due_at=request.due_at, detail=detail)


class HoldIn(BaseModel):
    reason: str = Field(max_length=2000, description="Why the erasure must wait (3 to 500 characters).")


class PendingErasureOut(BaseModel):
    """A scheduled erasure as administrators see it."""

    id: uuid.UUID
    user_id: uuid.UUID
    email: str
    display_name: str
    requested_at: datetime
    due_at: datetime
    reminder_sent_at: datetime | None
    held: bool
    hold_reason: str | None
    held_at: datetime | None
    error: str | None


class PendingErasurePageOut(BaseModel):
    items: list[PendingErasureOut]
    page: int
    pages: int
