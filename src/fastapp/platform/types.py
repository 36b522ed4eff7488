"""Column types and ``Annotated`` aliases shared by every domain's models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import DateTime, String, Uuid, func
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend.

    SQLite stores no offset, so values are normalised to UTC on the way in and marked UTC on the
    way out; naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()


UUIDPk = Annotated[uuid.UUID, mapped_column(Uuid, primary_key=True, default=new_uuid)]
CreatedAt = Annotated[datetime, mapped_column(UTCDateTime, nullable=False, server_default=func.now())]
Timestamp = Annotated[datetime, mapped_column(UTCDateTime, nullable=False)]
Name = Annotated[str, mapped_column(String(200), nullable=False)]
