"""The policy pages (public texts, versions, the accept page, the /privacy section), the admin
page (list, preview, publish with inline errors) and the policies API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from fastapp.platform.context import Runtime
from fastapp.privacy.models import PolicyVersion
from fastapp.privacy.policies import admin
from fastapp.ui.dates import DisplayPrefs
from tests.accounts.conftest import api_tokens, bearer
from tests.conftest import csrf_token, root_of
from tests.privacy.policies_support import make_user, publish, signed_in_client

ADA = "ada@example.com"
OWNER = "owner@example.com"


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def test_the_policy_texts_are_public_and_rendered_safely(runtime: Runtime, client: httpx.AsyncClient) -> None:
    assert (await client.get("/policies/privacy")).status_code == 404
    assert (await client.get("/policies/cookies")).status_code == 404
    await publish(runtime, "privacy", "1", body="# Old\n\nOld text.")
    await publish(runtime, "privacy", "2", body="# Who we are\n\n<script>alert(1)</script> [x](javascript:alert(1))")
    await publish(runtime, "privacy", "3", effective_at=datetime.now(UTC) + timedelta(days=2))
    page = await client.get("/policies/privacy")
    assert page.status_code == 200
    assert "Who we are</h2>" in page.text and "Version 2, in force from" in page.text
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'href="javascript' not in page.text
    old = await client.get("/policies/privacy/1")
    assert old.status_code == 200 and "This is not the version in force" in old.text
    assert 'href="/policies/privacy"' in old.text
    assert (await client.get("/policies/privacy/3")).status_code == 404  # scheduled: not public yet
    assert (await client.get("/policies/terms/1")).status_code == 404


async def test_the_accept_page_refuses_without_the_box(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await make_user(runtime, ADA)
    await signed_in_client(client, ADA)
    version = await publish(runtime, "terms", "1")
    page = await client.get("/policies/accept?next=https://evil.example/")
    assert page.status_code == 200
    assert 'name="next" value="/"' in page.text
    assert 'href="/policies/terms/1"' in page.text and 'href="/privacy"' in page.text
    token = await csrf_token(client, "/policies/accept")
    unticked = await client.post("/policies/accept", data={"csrf_token": token, "policy_ids": str(version.id)})
    assert unticked.status_code == 422 and "Tick the box" in unticked.text
    bogus = await client.post("/policies/accept", data={"csrf_token": token, "policy_ids": "nope", "confirm": "1"})
    assert bogus.status_code == 422
    newer = await publish(runtime, "terms", "2")
    stale = await client.post(
        "/policies/accept", data={"csrf_token": token, "policy_ids": str(version.id), "confirm": "1", "next": "/files"}
    )
    assert stale.status_code == 409 and "The policies changed" in stale.text and str(newer.id) in stale.text
    done = await client.post(
        "/policies/accept", data={"csrf_token": token, "policy_ids": str(newer.id), "confirm": "1", "next": "//evil"}
    )
    assert (done.status_code, done.headers["location"]) == (303, "/")
    privacy = await client.get("/privacy")
    assert privacy.status_code == 200
    assert "Policy versions you accepted" in privacy.text and 'href="/policies/terms/2"' in privacy.text
    assert "review and accept" not in privacy.text


async def test_the_privacy_section_points_to_pending_versions(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await make_user(runtime, ADA)
    await signed_in_client(client, ADA)
    assert "You have not accepted any policy version yet." in (await client.get("/privacy")).text
    await publish(runtime, "terms", "1")
    assert 'href="/policies/accept"' in (await client.get("/privacy")).text


async def test_the_admin_page_needs_the_permission(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await make_user(runtime, ADA)
    await signed_in_client(client, ADA)
    assert (await client.get("/admin/policies")).status_code == 403
    token = await csrf_token(client, "/files")
    refused = await client.post("/admin/policies", data={"csrf_token": token, "kind": "terms"})
    assert refused.status_code == 403


async def test_an_admin_previews_and_publishes(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await make_user(runtime, ADA)  # makes the owner too
    await signed_in_client(client, OWNER)
    page = await client.get("/admin/policies")
    assert page.status_code == 200
    assert "No version published yet." in page.text and 'type="datetime-local"' in page.text
    token = await csrf_token(client, "/admin/policies")
    form = {"csrf_token": token, "kind": "terms", "version": "1", "title": "Terms", "body": "# Hello\n\n<b>x</b>"}
    htmx = await client.post("/admin/policies/preview", data=form, headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and "<html" not in htmx.text
    assert "Hello</h2>" in htmx.text and "&lt;b&gt;x&lt;/b&gt;" in htmx.text
    plain = await client.post("/admin/policies/preview", data=form)
    assert plain.status_code == 200 and "<html" in plain.text and "Preview: Terms" in plain.text
    assert 'value="Terms"' in plain.text  # the form comes back filled in

    past = await client.post("/admin/policies", data={**form, "effective_at": "2001-01-01T10:00"})
    assert past.status_code == 422 and 'id="field-effective_at-error"' in past.text
    garbled = await client.post("/admin/policies", data={**form, "effective_at": "soon"})
    assert garbled.status_code == 422 and "Enter a date and time" in garbled.text

    published = await client.post("/admin/policies", data={**form, "effective_at": ""})
    assert (published.status_code, published.headers["location"]) == (303, "/admin/policies?done=published")
    listed = await client.get(published.headers["location"])
    assert "The version was published." in listed.text and "Current" in listed.text

    taken = await client.post("/admin/policies", data=form)
    assert taken.status_code == 409 and "This version number is taken." in taken.text

    later = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    scheduled = await client.post("/admin/policies", data={**form, "version": "2", "effective_at": later})
    assert scheduled.status_code == 303
    listed = await client.get("/admin/policies")
    assert "Scheduled" in listed.text and "Current" in listed.text
    async with runtime.backends.db.transaction() as session:
        versions = (await session.scalars(select(PolicyVersion).order_by(PolicyVersion.effective_at))).all()
    assert [v.version for v in versions] == ["1", "2"]


async def test_admin_lists_are_paginated(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await make_user(runtime, ADA)
    for number in range(1, 23):
        await publish(runtime, "privacy", str(number))
    await signed_in_client(client, OWNER)
    first = await client.get("/admin/policies")
    assert 'href="/admin/policies?privacy_page=2"' in first.text and "Superseded" in first.text
    second = await client.get("/admin/policies?privacy_page=2")
    assert re.search(r'href="/policies/privacy/1"', second.text) and 'href="/admin/policies"' in second.text


def test_the_effective_date_is_read_in_the_admins_time_zone() -> None:
    paris = DisplayPrefs(timezone="Europe/Paris")
    assert admin.parse_local("2030-01-15T10:00", paris) == datetime(2030, 1, 15, 9, 0, tzinfo=UTC)
    assert admin.parse_local("2030-01-15T10:00", DisplayPrefs(timezone="Nowhere/Else")) == datetime(
        2030, 1, 15, 10, 0, tzinfo=UTC
    )
    assert admin.parse_local("  ", paris) is None


async def test_the_policies_api(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await make_user(runtime, ADA)
    assert (await client.get("/api/v1/policies")).json() == []
    privacy = await publish(runtime, "privacy", "1")
    terms = await publish(runtime, "terms", "4")
    current = (await client.get("/api/v1/policies")).json()
    assert [(p["kind"], p["version"], p["url"]) for p in current] == [
        ("privacy", "1", "http://testserver/policies/privacy/1"),
        ("terms", "4", "http://testserver/policies/terms/4"),
    ]
    headers = bearer(await api_tokens(client, ADA))
    mine = (await client.get("/api/v1/me/policies", headers=headers)).json()
    assert mine["accepted"] == [] and [p["id"] for p in mine["pending"]] == [str(privacy.id), str(terms.id)]
    empty = await client.post("/api/v1/me/policies/accept", headers=headers, json={"policy_ids": []})
    assert empty.status_code == 422
    unknown = await client.post(
        "/api/v1/me/policies/accept", headers=headers, json={"policy_ids": ["00000000-0000-4000-8000-000000000000"]}
    )
    assert unknown.status_code == 422 and unknown.json()["type"].endswith("invalid")
    done = await client.post(
        "/api/v1/me/policies/accept", headers=headers, json={"policy_ids": [str(privacy.id), str(terms.id)]}
    )
    body = done.json()
    assert body["pending"] == [] and {a["source"] for a in body["accepted"]} == {"api"}
    assert (await client.get("/api/v1/me/policies")).status_code == 401
    schema = (await client.get("/api/v1/openapi.json")).json()["components"]["schemas"]
    assert "accept_policies" in schema["RegisterIn"]["properties"]
    assert "GET /api/v1/policies" in schema["RegisterIn"]["properties"]["accept_policies"]["description"]
