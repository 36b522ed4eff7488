"""``/api/v1/me/consents`` and marketing mail gated by consent (``Category.consent``)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from fastapp.config import Config
from fastapp.notifications import Category, NotificationKind, notify
from fastapp.notifications.models import EmailMessage, Notification
from fastapp.notifications.services import send_digest
from fastapp.platform.context import Runtime
from fastapp.platform.registry import Registry
from fastapp.privacy.consent import services
from tests.accounts.conftest import api_tokens, as_script, bearer
from tests.conftest import make_config, root_of
from tests.privacy.test_consent import acting, make_user


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    # No in-process worker: queued mail stays where the tests can count it.
    return make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})


@pytest.fixture
def registry(registry: Registry) -> Registry:
    registry.add_notification_category(
        Category(key="marketing", label="News and offers", description="Our newsletter.", consent="marketing")
    )
    registry.add_notification_kind(NotificationKind(key="marketing.news", category="marketing", title="News: {what}"))
    return registry


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def _token(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    await make_user(runtime)
    return bearer(await api_tokens(client, "ada@example.com"))


async def test_get_and_put_consents(client: httpx.AsyncClient, runtime: Runtime) -> None:
    auth = await _token(client, runtime)
    with as_script(client):
        listed = await client.get("/api/v1/me/consents", headers=auth)
        assert listed.status_code == 200
        by_key = {p["key"]: p for p in listed.json()}
        assert list(by_key) == ["necessary", "preferences", "analytics", "marketing"]
        assert by_key["necessary"] | {"description": ""} == {
            "key": "necessary",
            "label": "Strictly necessary",
            "description": "",
            "necessary": True,
            "granted": True,
            "decided": True,
        }
        assert (by_key["marketing"]["granted"], by_key["marketing"]["decided"]) == (False, False)

        put = await client.put("/api/v1/me/consents", json={"preferences": True, "marketing": False}, headers=auth)
        assert put.status_code == 200
        state = {p["key"]: (p["granted"], p["decided"]) for p in put.json()}
        assert state == {
            "necessary": (True, True),
            "preferences": (True, True),
            "analytics": (False, False),
            "marketing": (False, True),
        }
        history = await client.get("/api/v1/me/consents/history", params={"per_page": 1}, headers=auth)
    assert history.status_code == 200
    body = history.json()
    assert (body["total"], body["page"], body["per_page"], body["next_page"]) == (2, 1, 1, 2)
    [item] = body["items"]
    assert item["source"] == "api" and item["policy_version"] == "" and item["purpose"] in {"preferences", "marketing"}


@pytest.mark.parametrize(
    ("body", "field"),
    [({"necessary": False}, "necessary"), ({"preferences": True, "tracking": True}, "tracking")],
    ids=["necessary", "unknown"],
)
async def test_put_refuses_with_a_problem_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, bool], field: str
) -> None:
    auth = await _token(client, runtime)
    with as_script(client):
        response = await client.put("/api/v1/me/consents", json=body, headers=auth)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in json.dumps(response.json())
        history = await client.get("/api/v1/me/consents/history", headers=auth)
    assert history.json()["total"] == 0


async def test_the_api_needs_a_user(client: httpx.AsyncClient) -> None:
    with as_script(client):
        assert (await client.get("/api/v1/me/consents")).status_code == 401
        assert (await client.put("/api/v1/me/consents", json={})).status_code == 401
        assert (await client.get("/api/v1/me/consents/history")).status_code == 401


async def _marketing_mail(runtime: Runtime) -> int:
    async with runtime.backends.db.transaction() as session:
        query = select(func.count()).select_from(EmailMessage).where(EmailMessage.category == "marketing")
        return int(await session.scalar(query) or 0)


async def test_marketing_mail_needs_consent(runtime: Runtime) -> None:
    ada = await make_user(runtime)
    async with acting(runtime) as ctx:
        [first] = await notify(ctx, [ada], "marketing.news", {"what": "one"})
    assert first.in_app and first.email_state is None  # in the inbox, but no mail without consent
    assert await _marketing_mail(runtime) == 0

    async with acting(runtime, ada) as ctx:
        await services.record_decision(ctx, user_id=ada, granted={"marketing": True}, source="settings")
    async with acting(runtime) as ctx:
        [second] = await notify(ctx, [ada], "marketing.news", {"what": "two"})
    assert second.email_state == "queued" and await _marketing_mail(runtime) == 1

    async with acting(runtime, ada) as ctx:
        await services.record_decision(ctx, user_id=ada, granted={"marketing": False}, source="settings")
    async with acting(runtime) as ctx:
        [third] = await notify(ctx, [ada], "marketing.news", {"what": "three"})
    assert third.email_state is None and await _marketing_mail(runtime) == 1


async def test_a_withdrawal_keeps_held_marketing_out_of_the_digest(runtime: Runtime) -> None:
    ada = await make_user(runtime)
    async with acting(runtime, ada) as ctx:
        await services.record_decision(ctx, user_id=ada, granted={"marketing": True}, source="settings")
    async with runtime.backends.db.transaction() as session:
        session.add(
            Notification(
                user_id=ada,
                kind="marketing.news",
                category="marketing",
                title="News: held",
                body="",
                data="{}",
                in_app=True,
                email_state="digest",
                created_at=runtime.backends.clock.now(),
            )
        )
    async with acting(runtime, ada) as ctx:
        await services.record_decision(ctx, user_id=ada, granted={"marketing": False}, source="settings")
    async with acting(runtime) as ctx:
        assert await send_digest(ctx, ada) == 0
    assert await _marketing_mail(runtime) == 0
    async with runtime.backends.db.transaction() as session:
        assert await session.scalar(select(Notification.email_state)) is None


async def test_without_a_consent_check_nobody_gets_consent_mail(runtime: Runtime) -> None:
    ada = await make_user(runtime)
    runtime.registry.consent_check = None
    async with acting(runtime) as ctx:
        [made] = await notify(ctx, [ada], "marketing.news", {"what": "x"})
    assert made.email_state is None
