from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from fastapp.platform.db import Database
from fastapp.platform.instance import Instance, ensure_instance
from fastapp.platform.types import UTCDateTime


async def test_sqlite_connections_are_configured(tmp_path: object) -> None:
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/nested/dir/app.db")
    try:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
        assert db.is_sqlite
    finally:
        await db.dispose()


async def test_transaction_commits_or_rolls_back_as_one(database_url: str) -> None:
    db = Database.from_url(database_url)
    now = datetime.now(UTC)
    try:

        async def write_then_fail() -> None:
            async with db.transaction() as session:
                session.add(Instance(created_at=now - timedelta(days=1)))
                await session.flush()
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError):
            await write_then_fail()
        async with db.transaction() as session:
            assert await session.scalar(select(func.count()).select_from(Instance)) == 0
            first = await ensure_instance(session, now=now)
        async with db.transaction() as session:
            again = await ensure_instance(session, now=now + timedelta(hours=1))
            assert again.id == first.id
            assert again.created_at == now
            assert again.created_at.tzinfo is not None
        await db.ping()
    finally:
        await db.dispose()


def test_utc_datetime_refuses_naive_and_normalises() -> None:
    column = UTCDateTime()
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2026, 1, 1), None)  # type: ignore[arg-type]
    plus_two = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert column.process_bind_param(plus_two, None) == datetime(2026, 1, 1, 10, tzinfo=UTC)  # type: ignore[arg-type]
    assert column.process_result_value(datetime(2026, 1, 1), None) == datetime(2026, 1, 1, tzinfo=UTC)  # type: ignore[arg-type]
    assert column.process_result_value(plus_two, None).hour == 10  # type: ignore[arg-type,union-attr]
    assert column.process_bind_param(None, None) is None  # type: ignore[arg-type]
    assert column.process_result_value(None, None) is None  # type: ignore[arg-type]
