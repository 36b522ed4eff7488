"""The acceptance gate through the whole app: a policy bump sends signed-in users to the accept
page (pages) or answers 403 ``policy-acceptance-required`` (API) until they accept; accepted
users pass without a database query; exempt routes stay open; visitors are never gated."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from fastapp.accounts.models import User
from fastapp.platform.context import Runtime
from fastapp.privacy.policies import gate, services
from tests.accounts.conftest import api_tokens, bearer
from tests.conftest import csrf_token, root_of
from tests.privacy.policies_support import make_user, publish, signed_in_client, use_clock

ADA = "ada@example.com"


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


@contextmanager
def counted_queries(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = runtime.backends.db.engine.sync_engine

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def accept_on_page(client: httpx.AsyncClient, location: str) -> httpx.Response:
    page = await client.get(location)
    assert page.status_code == 200, page.text
    ids = re.findall(r'name="policy_ids" value="([^"]+)"', page.text)
    next_url = re.search(r'name="next" value="([^"]*)"', page.text)
    assert ids and next_url
    token = await csrf_token(client, location)
    return await client.post(
        "/policies/accept",
        data={"csrf_token": token, "policy_ids": ids, "confirm": "1", "next": next_url.group(1).replace("&amp;", "&")},
    )


async def test_without_published_versions_nobody_is_gated(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await make_user(runtime, ADA)
    await signed_in_client(client, ADA)
    assert (await client.get("/files")).status_code == 200
    assert (await client.get("/policies/accept", follow_redirects=False)).headers["location"] == "/"


async def test_a_policy_bump_forces_re_acceptance_on_pages_and_api(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await make_user(runtime, ADA)
    await signed_in_client(client, ADA)
    headers = bearer(await api_tokens(client, ADA))
    first = await publish(runtime, "terms", "1")
    # Pages: to the accept page, and back to where the user was going once accepted.
    response = await client.get("/files?sort=name", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/policies/accept?next=/files%3Fsort%3Dname"
    accepted = await accept_on_page(client, response.headers["location"])
    assert (accepted.status_code, accepted.headers["location"]) == (303, "/files?sort=name")
    assert (await client.get("/files?sort=name")).status_code == 200
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200

    # A new version: gated again, on the API too, with the links to accept.
    second = await publish(runtime, "terms", "2", body="New terms.")
    problem = await client.get("/api/v1/me", headers=headers)
    assert problem.status_code == 403
    assert problem.headers["content-type"].startswith("application/problem+json")
    body = problem.json()
    assert body["type"].endswith("policy-acceptance-required")
    assert "terms of service (version 2)" in body["detail"]
    assert body["accept_url"] == "http://testserver/policies/accept"
    assert body["accept_api"] == "/api/v1/me/policies/accept"
    assert [(p["id"], p["url"]) for p in body["policies"]] == [(str(second.id), "http://testserver/policies/terms/2")]
    assert (await client.get("/files", follow_redirects=False)).status_code == 303

    # Accepting through the API opens both surfaces.
    stale = await client.post("/api/v1/me/policies/accept", headers=headers, json={"policy_ids": [str(first.id)]})
    assert stale.status_code == 409 and stale.json()["type"].endswith("conflict")
    done = await client.post("/api/v1/me/policies/accept", headers=headers, json={"policy_ids": [str(second.id)]})
    assert done.status_code == 200, done.text
    assert done.json()["pending"] == []
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    assert (await client.get("/files")).status_code == 200


async def test_htmx_and_unsafe_page_requests(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await make_user(runtime, ADA)
    await signed_in_client(client, ADA)
    token = await csrf_token(client, "/files")
    await publish(runtime, "privacy", "1")
    htmx = await client.get(
        "/notifications/menu", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/files?page=2"}
    )
    assert htmx.status_code == 204
    assert htmx.headers["HX-Redirect"] == "/policies/accept?next=/files%3Fpage%3D2"
    top = await client.get("/files", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver"})
    assert top.headers["HX-Redirect"] == "/policies/accept?next=/"
    posted = await client.post("/notifications/read-all", data={"csrf_token": token})
    assert posted.status_code == 403
    assert "text/html" in posted.headers["content-type"]
    assert "Policy acceptance required" in posted.text
    assert "privacy policy (version 1)" in posted.text
    # A non-HTML read (a script fetching JSON from a page route) is refused, not redirected.
    assert (await client.get("/files", headers={"Accept": "application/json"})).status_code == 403


async def test_exempt_routes_stay_open_while_acceptance_is_pending(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await make_user(runtime, ADA)
    await signed_in_client(client, ADA)
    headers = bearer(await api_tokens(client, ADA))
    await publish(runtime, "privacy", "1")
    for path in ("/policies/privacy", "/policies/privacy/1", "/policies/accept", "/privacy", "/healthz"):
        assert (await client.get(path)).status_code == 200, path
    for path in ("/api/v1/policies", "/api/v1/me/policies", "/api/v1/openapi.json"):
        assert (await client.get(path, headers=headers)).status_code == 200, path
    refreshed = await client.post("/api/v1/auth/refresh", headers=headers, json={"refresh_token": "nope"})
    assert refreshed.status_code == 422, refreshed.text  # reached the route: not gated
    token = await csrf_token(client, "/policies/accept")
    signed_out = await client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert signed_out.status_code in {302, 303}
    # Visitors are never gated.
    assert (await client.get("/sign-in")).status_code == 200


async def test_an_accepted_user_costs_no_database_query(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await make_user(runtime, ADA)
    await signed_in_client(client, ADA)
    headers = bearer(await api_tokens(client, ADA))
    version = await publish(runtime, "terms", "1")
    accepted = await client.post("/api/v1/me/policies/accept", headers=headers, json={"policy_ids": [str(version.id)]})
    assert accepted.status_code == 200
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200  # fills the gate's memory
    scope = {"type": "http", "path": "/api/v1/me", "method": "GET", "headers": [], "state": {}}
    ada = await _ada_id(runtime)
    with counted_queries(runtime) as statements:
        for _ in range(3):
            assert await gate.pending_policies(runtime, scope, ada) == []
    assert statements == []


async def _ada_id(runtime: Runtime) -> uuid.UUID:
    async with runtime.backends.db.transaction() as session:
        found = await session.scalar(select(User.id).where(User.email == ADA))
    assert found is not None
    return found


async def test_a_scheduled_version_gates_once_it_takes_effect(runtime: Runtime, client: httpx.AsyncClient) -> None:
    clock = use_clock(runtime)
    await make_user(runtime, ADA)
    await signed_in_client(client, ADA)
    await publish(runtime, "terms", "1", effective_at=datetime.now(UTC) + timedelta(minutes=10))
    assert (await client.get("/files")).status_code == 200
    clock.offset = timedelta(minutes=11)  # the cache holds no longer than the scheduled date
    response = await client.get("/files", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith(gate.ACCEPT_PATH)


def test_the_cache_forgets_least_recent_users(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gate, "MAX_USERS", 2)
    cache = gate.PolicyCache()
    one, two, three, policy = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for user in (one, two):
        cache.remember(user, {policy})
    assert cache.has_accepted(one, frozenset({policy}))
    cache.remember(three, {policy})
    assert not cache.has_accepted(two, frozenset({policy}))
    assert cache.has_accepted(one, frozenset({policy})) and cache.has_accepted(three, frozenset({policy}))
    assert not cache.has_accepted(one, frozenset({policy, uuid.uuid4()}))
    assert cache.fresh(datetime.now(UTC)) is None


def test_exemptions_match_whole_segments() -> None:
    assert gate.exempt("/privacy") and gate.exempt("/privacy/export") and gate.exempt("/api/v1/me/export/1/download")
    assert not gate.exempt("/privacy-notes") and not gate.exempt("/api/v1/me") and not gate.exempt("/files")
    assert gate._accept_url("//evil.example") == gate.ACCEPT_PATH
    assert gate._accept_url(None) == gate.ACCEPT_PATH
    assert services.CACHE_KEY
