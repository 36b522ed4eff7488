"""``/api/v1/me/notifications`` and ``/api/v1/me/notification-preferences`` through the whole app."""

from __future__ import annotations

import uuid

import httpx
import pytest

from fastapp.platform.context import Runtime
from tests.accounts.conftest import api_tokens, bearer
from tests.notifications import test_services as shared
from tests.notifications.test_services import make_user, send

# The same app as the service tests: test categories (news, alerts), no in-process worker.
config, registry, runtime = shared.config, shared.registry, shared.runtime

URL = "/api/v1/me/notifications"
PREFS = "/api/v1/me/notification-preferences"


async def _auth(client: httpx.AsyncClient, address: str) -> dict[str, str]:
    return bearer(await api_tokens(client, address))


async def test_signed_out_callers_get_401(client: httpx.AsyncClient) -> None:
    for response in (await client.get(URL), await client.get(PREFS)):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


async def test_pages_of_the_inbox_with_filters(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    for i in range(5):
        await send(runtime, [ada], title=f"n{i}", author="Bo", slug=str(i))
    await send(runtime, [ada], "alerts.raised", what="disk")
    auth = await _auth(client, "ada@example.com")

    first = await client.get(URL, params={"limit": 4}, headers=auth)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [i["title"] for i in body["items"]] == ["Alert: disk", "New post: n4", "New post: n3", "New post: n2"]
    assert body["unread_count"] == 6 and body["next_cursor"]
    item = body["items"][1]
    assert set(item) == {
        "id",
        "kind",
        "category",
        "title",
        "body",
        "link",
        "created_at",
        "read",
        "read_at",
        "archived_at",
    }
    assert (item["kind"], item["link"], item["read"]) == ("news.posted", "/posts/4", False)
    rest = (await client.get(URL, params={"limit": 4, "cursor": body["next_cursor"]}, headers=auth)).json()
    assert [i["title"] for i in rest["items"]] == ["New post: n1", "New post: n0"]
    assert rest["next_cursor"] is None

    alerts = (await client.get(URL, params={"category": "alerts"}, headers=auth)).json()
    assert [i["title"] for i in alerts["items"]] == ["Alert: disk"]
    bad = await client.get(URL, params={"cursor": "garbage"}, headers=auth)
    assert bad.status_code == 422
    assert bad.json()["errors"] == [
        {"field": "cursor", "message": "The cursor is not valid: start again from the first page."}
    ]
    assert (await client.get(URL, params={"limit": 0}, headers=auth)).status_code == 422

    read = await client.post(f"{URL}/{item['id']}/read", headers=auth)
    assert read.status_code == 200 and read.json()["read"] is True
    unread = (await client.get(URL, params={"unread": "true"}, headers=auth)).json()
    assert len(unread["items"]) == 5 and item["id"] not in {i["id"] for i in unread["items"]}
    assert unread["unread_count"] == 5
    assert (await client.get(f"{URL}/unread-count", headers=auth)).json() == {"unread_count": 5}


async def test_read_all_archive_and_unarchive(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    [one] = await send(runtime, [ada])
    await send(runtime, [ada], "alerts.raised", what="disk")
    auth = await _auth(client, "ada@example.com")

    archived = await client.post(f"{URL}/{one.id}/archive", headers=auth)
    assert archived.status_code == 200 and archived.json()["archived_at"]
    listed = (await client.get(URL, headers=auth)).json()
    assert [i["title"] for i in listed["items"]] == ["Alert: disk"] and listed["unread_count"] == 1
    only = (await client.get(URL, params={"archived": "only"}, headers=auth)).json()
    assert [i["id"] for i in only["items"]] == [str(one.id)]
    assert len((await client.get(URL, params={"archived": "include"}, headers=auth)).json()["items"]) == 2
    assert (await client.post(f"{URL}/{one.id}/unarchive", headers=auth)).json()["archived_at"] is None

    done = await client.post(f"{URL}/read-all", params={"category": "alerts"}, headers=auth)
    assert done.json() == {"updated": 1, "unread_count": 1}
    done = await client.post(f"{URL}/read-all", headers=auth)
    assert done.json() == {"updated": 1, "unread_count": 0}


async def test_another_users_notification_is_not_found(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await make_user(runtime, "ada@example.com")
    bo = await make_user(runtime, "bo@example.com", "Bo")
    [bos] = await send(runtime, [bo])
    auth = await _auth(client, "ada@example.com")
    for path in (f"{URL}/{bos.id}/read", f"{URL}/{bos.id}/archive", f"{URL}/{uuid.uuid4()}/read"):
        response = await client.post(path, headers=auth)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "No such notification."
    assert (await client.get(URL, headers=auth)).json()["items"] == []


async def test_preferences_read_and_change(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await make_user(runtime, "ada@example.com")
    auth = await _auth(client, "ada@example.com")
    listed = await client.get(PREFS, headers=auth)
    assert listed.status_code == 200
    by_key = {p["category"]: p for p in listed.json()}
    assert by_key["security"] == {
        "category": "security",
        "label": "Security",
        "description": "Sign-ins, password and two-factor changes.",
        "mandatory": True,
        "urgent": True,
        "in_app": True,
        "email": True,
        "email_frequency": "immediately",
    }
    changed = await client.patch(
        PREFS, json={"news": {"email_frequency": "daily"}, "account": {"in_app": False}}, headers=auth
    )
    assert changed.status_code == 200, changed.text
    by_key = {p["category"]: p for p in changed.json()}
    assert (by_key["news"]["email"], by_key["news"]["email_frequency"]) == (True, "daily")
    assert (by_key["account"]["in_app"], by_key["account"]["email"]) == (False, True)
    assert {p["category"]: p for p in (await client.get(PREFS, headers=auth)).json()} == by_key


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"security": {"email": False}}, "Security notifications are mandatory: they cannot be turned off or changed."),
        (
            {"alerts": {"email_frequency": "daily"}},
            "Alerts notifications are urgent: their email always leaves at once.",
        ),
        ({"gossip": {"email": False}}, "Unknown category 'gossip'."),
        ({"news": {"sms": True}}, "The request body or parameters are not valid."),
        ({"news": {"email_frequency": "weekly"}}, "The request body or parameters are not valid."),
    ],
    ids=["mandatory", "urgent-digest", "unknown-category", "unknown-field", "unknown-frequency"],
)
async def test_refused_preference_changes(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, object], detail: str
) -> None:
    await make_user(runtime, "ada@example.com")
    auth = await _auth(client, "ada@example.com")
    refused = await client.patch(PREFS, json={"news": {"email": False}, **body}, headers=auth)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == detail
    unchanged = {p["category"]: p for p in (await client.get(PREFS, headers=auth)).json()}
    assert unchanged["news"]["email"] is True
