"""Migrations run up, down and up again on each backend, and match the models exactly."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, inspect

from fastapp.app import metadata
from fastapp.platform import migrate
from fastapp.platform.db import create_engine
from tests.conftest import PG_URL, fresh_pg_database

KINDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=KINDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/migrations.db"
        return
    with fresh_pg_database("fastapp_m") as url:
        yield url


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names())) - {"alembic_version"}
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    engine = create_engine(empty_database)
    models = metadata()
    try:
        assert await migrate.current(engine) is None
        await migrate.upgrade(engine, models)
        assert await migrate.current(engine) == migrate.head()
        assert await _tables(empty_database) == set(models.tables)
        await migrate.downgrade(engine, models, "base")
        assert await migrate.current(engine) is None
        assert await _tables(empty_database) == set()
        await migrate.upgrade(engine, models)
        assert await migrate.current(engine) == migrate.head()
        assert await migrate.drift(engine, models) == []
    finally:
        await engine.dispose()


async def test_models_and_migrations_do_not_drift(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        await migrate.upgrade(engine, metadata())
        assert await migrate.drift(engine, metadata()) == [], "run `fastapp db revision -m ...`"
    finally:
        await engine.dispose()


async def test_drift_is_detected(empty_database: str) -> None:
    """The drift check is not vacuous: a model the migrations lack is reported."""
    from sqlalchemy import Column, Integer, Table

    engine = create_engine(empty_database)
    extended = MetaData(naming_convention=metadata().naming_convention)
    for table in metadata().tables.values():
        table.to_metadata(extended)
    Table("unmigrated", extended, Column("id", Integer, primary_key=True))
    try:
        await migrate.upgrade(engine, metadata())
        differences = await migrate.drift(engine, extended)
        assert any(d[0] == "add_table" and d[1].name == "unmigrated" for d in differences)
    finally:
        await engine.dispose()


async def test_concurrent_upgrades_apply_once(empty_database: str) -> None:
    """Several processes starting at once (the advisory lock on PostgreSQL, SQLite's writer lock)."""
    engines = [create_engine(empty_database) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate.upgrade(e, metadata()) for e in engines))
        assert await migrate.current(engines[0]) == migrate.head()
    finally:
        for engine in engines:
            await engine.dispose()
