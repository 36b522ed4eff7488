"""``/api/v1/audit``: permission, filters, keyset pages, one event, and audited exports."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

from fastapp.accounts import wiring
from fastapp.config import Config
from fastapp.platform.context import Runtime, open_context
from tests.accounts.conftest import STRONG, api_tokens, as_script, bearer, verified_user
from tests.conftest import root_of


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


@pytest.fixture
async def owner(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await wiring.accounts(runtime, ctx).create_owner(
            email="owner@example.com", password=STRONG, display_name="=HYPERLINK(evil)"
        )
    return await api_tokens(client, "owner@example.com")


async def test_members_may_not_read_the_log(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    tokens = await api_tokens(client, "ada@example.com")
    with as_script(client):
        response = await client.get("/api/v1/audit/events", headers=bearer(tokens))
    assert response.status_code == 403
    assert response.json()["type"].endswith("permission-denied")


async def test_filters_pages_and_one_event(client: httpx.AsyncClient, owner: dict[str, str]) -> None:
    with as_script(client):
        for _ in range(2):
            await client.post("/api/v1/auth/token", json={"email": "owner@example.com", "password": "wrong one 123"})
        everything = (await client.get("/api/v1/audit/events", headers=bearer(owner))).json()
        actions = [e["action"] for e in everything["items"]]
        assert actions == ["auth.sign_in.failed", "auth.sign_in.failed", "auth.sign_in.succeeded", "user.created"]
        assert everything["next_cursor"] is None
        assert everything["items"][0]["description"].startswith("A sign-in failed")

        first = (await client.get("/api/v1/audit/events?limit=3", headers=bearer(owner))).json()
        assert len(first["items"]) == 3 and first["next_cursor"] == first["items"][-1]["seq"]
        rest = await client.get(f"/api/v1/audit/events?limit=3&before={first['next_cursor']}", headers=bearer(owner))
        assert [e["action"] for e in rest.json()["items"]] == ["user.created"]

        failures = await client.get("/api/v1/audit/events?action=auth.&outcome=failure", headers=bearer(owner))
        assert [e["outcome"] for e in failures.json()["items"]] == ["failure", "failure"]
        mine = await client.get("/api/v1/audit/events?actor=Owner@Example.COM", headers=bearer(owner))
        assert [e["action"] for e in mine.json()["items"]] == ["auth.sign_in.succeeded"]  # any case finds it
        none = await client.get("/api/v1/audit/events?since=2999-01-01", headers=bearer(owner))
        assert none.json()["items"] == []
        bad = await client.get("/api/v1/audit/events?since=yesterday&outcome=maybe", headers=bearer(owner))
        assert bad.status_code == 422
        assert "since" in bad.text and "outcome" in bad.text

        seq = everything["items"][-1]["seq"]
        one = (await client.get(f"/api/v1/audit/events/{seq}", headers=bearer(owner))).json()
        assert one["action"] == "user.created" and one["actor"] == {"type": "system", "id": "cli", "label": None}
        assert (await client.get("/api/v1/audit/events/99999", headers=bearer(owner))).status_code == 404


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_exports_stream_the_filtered_events_and_are_audited(
    client: httpx.AsyncClient, owner: dict[str, str], fmt: str
) -> None:
    with as_script(client):
        response = await client.get(
            f"/api/v1/audit/events/export?format={fmt}&action=user.created", headers=bearer(owner)
        )
        assert response.status_code == 200
        assert "attachment" in response.headers["content-disposition"]
        if fmt == "jsonl":
            (line,) = [json.loads(x) for x in response.text.splitlines()]
            assert line["action"] == "user.created"
        else:
            header, row = list(csv.reader(io.StringIO(response.text)))
            assert header[:3] == ["seq", "occurred_at", "action"]
            assert row[2] == "user.created"
        recorded = (await client.get("/api/v1/audit/events?action=audit.exported", headers=bearer(owner))).json()
    (event,) = recorded["items"]
    assert event["data"] == {"format": fmt, "filter": {"action": "user.created"}}
    assert event["actor"]["label"] == "owner@example.com"


def test_csv_cells_cannot_run_as_formulas() -> None:
    from fastapp.audit.export import _csv_row

    assert _csv_row(["=HYPERLINK(x)", "+1", "fine", None]) == b"'=HYPERLINK(x),'+1,fine,\r\n"
