"""Erasing one user through every registered eraser (``privacy.registry.erase_user``): afterwards
no text column of any table in the whole database holds their address, name or IP, their
objects are gone from storage, the other user's data is intact, and the audit chain verifies."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import MetaData, String, Text, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from fastapp.accounts.models import AuthSession, User, UserStatus
from fastapp.audit.chain import derive_key
from fastapp.audit.models import AuditEvent
from fastapp.audit.services import verify
from fastapp.config import Config
from fastapp.files.models import StoredFile
from fastapp.notifications.models import EmailMessage, Notification
from fastapp.platform.context import Runtime, open_context
from fastapp.platform.db import create_engine
from fastapp.platform.errors import NotFound
from fastapp.platform.storage import STORAGE, Storage
from fastapp.privacy.models import ErasureRequest
from fastapp.privacy.registry import erase_user
from tests.conftest import TEST_SECRET, root_of
from tests.privacy.people import Person, ada, bob, fill_in, people_config, sign_up


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    return people_config(tmp_path, database_url, redis_url)


async def occurrences(database_url: str, needles: list[str]) -> list[str]:
    """``table.column: needle`` for every text column of every table (reflected from the
    database itself, not our models) holding one of ``needles``, in any letter case."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:

            def reflect(sync: Connection) -> MetaData:
                found = MetaData()
                found.reflect(sync)
                return found

            schema = await conn.run_sync(reflect)
            hits = []
            for table in schema.tables.values():
                for column in table.columns:
                    if not isinstance(column.type, String | Text):
                        continue
                    for needle in needles:
                        query = select(func.count()).select_from(table)
                        query = query.where(func.lower(column).contains(needle.lower(), autoescape=True))
                        if await conn.scalar(query):
                            hits.append(f"{table.name}.{column.name}: {needle}")
            return hits
    finally:
        await engine.dispose()


async def test_erasing_a_user_leaves_nothing_of_them_and_everything_of_others(app: object, config: Config) -> None:
    runtime: Runtime = root_of(app).state.runtime
    a, b = ada(), bob()
    for person in (a, b):
        await sign_up(app, config, person)
    await fill_in(app, runtime, config, a, b)
    await fill_in(app, runtime, config, b, a)
    storage: Storage = runtime.services[STORAGE]
    needles_a = [a.email, a.name, a.ip]
    before = await occurrences(config.database_url, needles_a)
    # The search does see them (in the tables it must clean) before the erasure.
    assert {"users.email: " + a.email, "auth_sessions.ip: " + a.ip, "audit_events.ip: " + a.ip} <= set(before)
    assert all([await storage.exists(key) for key in a.objects + b.objects])

    async with open_context(runtime, request_id="erase", ip=None) as ctx:
        counts = await erase_user(ctx, a.id)
    assert set(counts) == set(runtime.registry.personal_data)
    assert all(counts[key] > 0 for key in ("accounts", "audit", "email", "files", "notifications", "privacy", "jobs"))

    assert await occurrences(config.database_url, needles_a) == []
    assert [key for key in a.objects if await storage.exists(key)] == []
    async with runtime.backends.db.transaction() as session:
        erased = await session.get(User, a.id)
        assert erased is not None
        assert (erased.status, erased.display_name, erased.avatar_file_id) == (
            UserStatus.erased.value,
            "Deleted user",
            None,
        )
        assert erased.email == f"erased-{a.id}@erased.invalid"
        # The erasure request stays, as proof.
        assert await session.scalar(
            select(func.count()).select_from(ErasureRequest).where(ErasureRequest.user_id == a.id)
        )
        assert await _is_intact(session, b)
        result = await verify(session, derive_key(TEST_SECRET))
    assert result.ok, result.problem
    assert all([await storage.exists(key) for key in b.objects])
    assert set(await occurrences(config.database_url, [b.email, b.name, b.ip])) >= {
        "users.email: " + b.email,
        "users.display_name: " + b.name,
        "auth_sessions.ip: " + b.ip,
        "audit_events.ip: " + b.ip,
        "email_messages.to_address: " + b.email,
        "email_suppressions.address: " + b.email,
        "jobs.payload: " + b.email,
    }

    async with open_context(runtime, request_id="erase-again", ip=None) as ctx:
        again = await erase_user(ctx, a.id)
    assert set(again.values()) == {0}
    async with runtime.backends.db.transaction() as session:
        assert (await verify(session, derive_key(TEST_SECRET))).ok


async def _is_intact(session: AsyncSession, person: Person) -> bool:
    user = await session.get(User, person.id)
    assert user is not None and (user.email, user.display_name) == (person.email, person.name)
    assert user.status == UserStatus.active.value and user.avatar_file_id is not None
    for model, column in (
        (AuthSession, AuthSession.user_id),
        (StoredFile, StoredFile.owner_id),
        (Notification, Notification.user_id),
        (EmailMessage, EmailMessage.user_id),
    ):
        assert await session.scalar(select(func.count()).select_from(model).where(column == person.id)), model
    mine = await session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.target_id == str(person.id), AuditEvent.erased_at.is_(None), AuditEvent.actor_label.is_not(None)
        )
    )
    return bool(mine)


async def test_erasing_an_unknown_user_is_refused(app: object) -> None:
    runtime: Runtime = root_of(app).state.runtime
    async with open_context(runtime, request_id="erase", ip=None) as ctx:
        with pytest.raises(NotFound):
            await erase_user(ctx, uuid.uuid4())
