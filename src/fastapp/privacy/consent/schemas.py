"""API input and output models of consent."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, RootModel

from fastapp.platform.privacy import ConsentPurpose
from fastapp.privacy.consent.services import ConsentState, HistoryPage
from fastapp.privacy.models import ConsentRecord


class PurposeOut(BaseModel):
    key: str
    label: str
    description: str
    #: Always on and not consentable.
    necessary: bool
    granted: bool
    #: Whether you made a decision about it (a purpose you never decided is not granted).
    decided: bool

    @classmethod
    def of(cls, purpose: ConsentPurpose, state: ConsentState) -> PurposeOut:
        return cls(
            key=purpose.key,
            label=purpose.label,
            description=purpose.description,
            necessary=purpose.necessary,
            granted=state.granted.get(purpose.key, False),
            decided=purpose.necessary or purpose.key in state.decided,
        )


class ConsentsIn(RootModel[dict[str, bool]]):
    """Purpose -> granted, e.g. ``{"analytics": true, "marketing": false}``; purposes left out
    stay as they are."""


class RecordOut(BaseModel):
    purpose: str
    granted: bool
    created_at: datetime
    #: The privacy policy version in force at the time ("" when none was published).
    policy_version: str
    #: banner, settings, sign-up or api
    source: str

    @classmethod
    def of(cls, row: ConsentRecord) -> RecordOut:
        return cls(
            purpose=row.purpose,
            granted=row.granted,
            created_at=row.created_at,
            policy_version=row.policy_version,
            source=row.source,
        )


class HistoryOut(BaseModel):
    items: list[RecordOut]
    page: int
    per_page: int
    total: int
    #: Pass as ``page`` for the next (older) records; null on the last page.
    next_page: int | None

    @classmethod
    def of(cls, page: HistoryPage) -> HistoryOut:
        return cls(
            items=[RecordOut.of(row) for row in page.items],
            page=page.page,
            per_page=page.per_page,
            total=page.total,
            next_page=page.page + 1 if page.has_next else None,
        )
