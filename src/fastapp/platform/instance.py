"""The instance record: one row that identifies this installation and when it began.

It lets logs, metrics and backups name the installation they come from, and it is the first
table every migration chain creates, so an empty database is recognisable as "not migrated".
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from fastapp.platform.db import Base
from fastapp.platform.types import CreatedAt, UUIDPk


class Instance(Base):
    __tablename__ = "instance"

    id: Mapped[UUIDPk]
    created_at: Mapped[CreatedAt]


async def ensure_instance(session: AsyncSession, *, now: datetime) -> Instance:
    """Return the instance row, creating it on first use (the caller commits)."""
    instance = await session.scalar(select(Instance).order_by(Instance.created_at).limit(1))
    if instance is None:
        instance = Instance(id=uuid.uuid4(), created_at=now)
        session.add(instance)
        await session.flush()
    return instance
