"""The suppression list: bounces and complaints put addresses on it, administrators add and lift."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from fastapp.app import create_app
from fastapp.audit.models import AuditEvent
from fastapp.config import Config, EmailWebhookSettings
from fastapp.notifications import suppression
from fastapp.notifications.models import EmailSoftBounce, EmailSuppression
from fastapp.platform.context import Principal, Runtime, open_context
from fastapp.platform.errors import Conflict, Invalid, NotFound, PermissionDenied
from tests.conftest import make_config, root_of, started


def _config(tmp_path: Path, database_url: str, redis_url: str, **webhooks: object) -> Config:
    config = make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})
    settings = EmailWebhookSettings.model_construct(**dict(EmailWebhookSettings.model_validate(webhooks)))
    return config.model_copy(update={"email_webhooks": settings})


@pytest.fixture
def limit() -> int:
    return 3


@pytest.fixture
async def runtime(tmp_path: Path, database_url: str, redis_url: str, limit: int) -> AsyncIterator[Runtime]:
    application = create_app(_config(tmp_path, database_url, redis_url, soft_bounce_limit=limit))
    async with started(application):
        found: Runtime = root_of(application).state.runtime
        yield found


def admin(*permissions: str) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        permissions=frozenset(permissions),
        authenticated_at=datetime.now(UTC),
        via="cookie",
        email="admin@example.com",
    )


async def _bounce(runtime: Runtime, address: str, *, hard: bool = False) -> bool:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        return await suppression.record_bounce(ctx, address, hard=hard, source="smtp", detail="452 mailbox full")


async def _suppressed(runtime: Runtime, address: str) -> EmailSuppression | None:
    async with runtime.backends.db.transaction() as session:
        return await session.get(EmailSuppression, address)


async def test_soft_bounces_suppress_at_the_limit_and_a_delivery_resets_them(runtime: Runtime) -> None:
    assert [await _bounce(runtime, "Full@Example.com") for _ in range(2)] == [False, False]
    assert await _suppressed(runtime, "full@example.com") is None
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await suppression.record_delivery(ctx, "full@example.com")
    assert [await _bounce(runtime, "full@example.com") for _ in range(3)] == [False, False, True]
    row = await _suppressed(runtime, "full@example.com")
    assert row is not None and (row.reason, row.source) == ("soft_bounces", "smtp")
    assert row.detail.startswith("3 soft bounces")


@pytest.mark.parametrize("limit", [2])
async def test_the_soft_bounce_limit_is_configurable(runtime: Runtime) -> None:
    assert [await _bounce(runtime, "a@example.com") for _ in range(2)] == [False, True]


async def test_hard_bounces_and_complaints_suppress_at_once_and_the_first_reason_stays(runtime: Runtime) -> None:
    assert await _bounce(runtime, "gone@example.com", hard=True)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await suppression.record_complaint(ctx, "gone@example.com", source="ses")
        await suppression.record_complaint(ctx, "angry@example.com", source="ses")
        assert await suppression.is_suppressed(ctx, "Angry <ANGRY@example.com>")
    gone = await _suppressed(runtime, "gone@example.com")
    assert gone is not None and gone.reason == "hard_bounce"


async def test_administrators_add_addresses_audited(runtime: Runtime) -> None:
    async with open_context(runtime, request_id="t", ip=None, principal=admin("email:manage")) as ctx:
        row = await suppression.add_by_admin(ctx, "  Someone@Example.com ", note="asked by phone")
    assert (row.address, row.reason, row.source, row.detail) == (
        "someone@example.com",
        "manual",
        "admin",
        "asked by phone",
    )
    with pytest.raises(Conflict):
        async with open_context(runtime, request_id="t", ip=None, principal=admin("email:manage")) as ctx:
            await suppression.add_by_admin(ctx, "someone@example.com")
    for bad in ("", "not-an-address", "a@b", "two@example.com, three@example.com", "x" * 320 + "@example.com"):
        with pytest.raises(Invalid) as refused:
            async with open_context(runtime, request_id="t", ip=None, principal=admin("email:manage")) as ctx:
                await suppression.add_by_admin(ctx, bad)
        assert "address" in refused.value.fields
    async with runtime.backends.db.transaction() as session:
        events = list((await session.scalars(select(AuditEvent))).all())
    added = [e for e in events if e.action == "email.suppression.added"]
    assert len(added) == 1
    assert json.loads(added[0].data)["after"] == {"reason": "manual", "source": "admin"}


async def test_administrators_lift_suppressions_audited_with_what_they_were(runtime: Runtime) -> None:
    await _bounce(runtime, "back@example.com", hard=True)
    await _bounce(runtime, "back@example.com")  # a soft bounce on record too
    async with open_context(runtime, request_id="t", ip=None, principal=admin("email:manage")) as ctx:
        lifted = await suppression.lift_by_admin(ctx, "Back@Example.com")
    assert lifted.reason == "hard_bounce"
    assert await _suppressed(runtime, "back@example.com") is None
    async with runtime.backends.db.transaction() as session:
        assert await session.get(EmailSoftBounce, "back@example.com") is None
        event = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "email.suppression.lifted"))).one()
    data = json.loads(event.data)
    assert data["before"]["reason"] == "hard_bounce" and data["before"]["source"] == "smtp"
    assert data["after"] is None
    with pytest.raises(NotFound):
        async with open_context(runtime, request_id="t", ip=None, principal=admin("email:manage")) as ctx:
            await suppression.lift_by_admin(ctx, "back@example.com")


async def test_only_holders_of_email_manage_change_the_list(runtime: Runtime) -> None:
    await _bounce(runtime, "kept@example.com", hard=True)
    for principal in (None, admin("jobs:manage")):
        with pytest.raises(PermissionDenied):
            async with open_context(runtime, request_id="t", ip=None, principal=principal) as ctx:
                await suppression.add_by_admin(ctx, "new@example.com")
        with pytest.raises(PermissionDenied):
            async with open_context(runtime, request_id="t", ip=None, principal=principal) as ctx:
                await suppression.lift_by_admin(ctx, "kept@example.com")
    assert await _suppressed(runtime, "kept@example.com") is not None
    assert await _suppressed(runtime, "new@example.com") is None
