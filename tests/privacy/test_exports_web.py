"""Data exports through the whole app: the /privacy section (plain forms and HTMX, polling,
inline errors, re-authentication), the download route, and ``/api/v1/me/export``."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from fastapp.accounts import wiring
from fastapp.accounts.models import AuthSession
from fastapp.accounts.tokens import AccessTokens
from fastapp.config import Config
from fastapp.platform.context import Runtime, open_context
from fastapp.privacy.models import DataExport
from tests.accounts.conftest import api_tokens, as_script, bearer, sign_in
from tests.conftest import SITE, csrf_token
from tests.privacy.test_exports import config, make_user, registry, run_jobs, runtime

__all__ = ["config", "registry", "runtime"]  # the fixtures this module shares

HTMX = {"HX-Request": "true"}
API = "/api/v1/me/export"


@pytest.fixture
async def other(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser: another user's session."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as http:
        yield http


async def _users(runtime: Runtime) -> tuple[uuid.UUID, uuid.UUID]:
    return (
        await make_user(runtime, "ada@example.com", "Ada Lovelace"),
        await make_user(runtime, "bob@example.com", "Bobby Tables"),
    )


async def _post(client: httpx.AsyncClient, *, htmx: bool = False) -> httpx.Response:
    token = await csrf_token(client, "/privacy")
    return await client.post("/privacy/export", data={"csrf_token": token}, headers=HTMX if htmx else {})


async def _age_sign_in(runtime: Runtime, user_id: uuid.UUID, minutes: int) -> None:
    """Make the user's sessions look signed in ``minutes`` ago (sudo mode lapses)."""
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await ctx.session.execute(
            update(AuthSession)
            .where(AuthSession.user_id == user_id)
            .values(authenticated_at=datetime.now(UTC) - timedelta(minutes=minutes))
        )
        await wiring.sessions(runtime, ctx).invalidate_user(user_id)


async def test_the_privacy_page_requests_follows_and_downloads_an_export(
    client: httpx.AsyncClient, other: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _users(runtime)
    await sign_in(client, "ada@example.com")
    page = await client.get("/privacy")
    assert page.status_code == 200
    assert 'id="data-export"' in page.text
    assert "You have not requested an export yet." in page.text
    assert "Test notes" in page.text  # the sources it will hold are named
    assert "Request my data" in page.text

    # Without the CSRF token nothing happens.
    assert (await client.post("/privacy/export")).status_code == 403

    requested = await _post(client)
    assert requested.status_code == 303
    assert requested.headers["location"] == "/privacy#data-export"
    page = await client.get("/privacy")
    assert 'hx-trigger="every 2s"' in page.text
    assert 'id="export-progress"' in page.text
    assert "Request my data" not in page.text

    # Polling: the panel alone for HTMX; the page for a browser opening the address.
    polled = await client.get("/privacy/export", headers=HTMX)
    assert polled.text.startswith("<div") and 'id="export-panel"' in polled.text
    assert 'hx-trigger="every 2s"' in polled.text
    opened = await client.get("/privacy/export")
    assert (opened.status_code, opened.headers["location"]) == (303, "/privacy#data-export")

    # A second request while it is prepared: the panel with the reason, inline.
    busy = await _post(client, htmx=True)
    assert busy.status_code == 409
    assert "still being prepared" in busy.text and 'id="export-panel"' in busy.text

    await run_jobs(runtime)
    done = await client.get("/privacy/export", headers=HTMX)
    assert "hx-trigger" not in done.text  # polling stops
    assert "Your export is ready." in done.text
    assert "The link works until" in done.text
    assert "The next is possible from" in done.text
    async with runtime.backends.db.transaction() as session:
        export = (await session.scalars(select(DataExport))).one()
    link = f"/privacy/export/{export.id}/download"
    assert f'href="{link}"' in done.text

    got = await client.get(link)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/zip"
    assert got.headers["content-disposition"].startswith('attachment; filename="fastapp-data-')
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "README.md" in zipfile.ZipFile(io.BytesIO(got.content)).namelist()

    # Someone else's session, a made-up id and a visitor get nothing.
    await sign_in(other, "bob@example.com")
    assert (await other.get(link)).status_code == 404
    assert (await client.get("/privacy/export/not-an-id/download")).status_code == 404
    other.cookies.clear()
    visitor = await other.get(link)
    assert visitor.status_code == 303 and "/sign-in" in visitor.headers["location"]

    # Within the interval: a plain form shows the section with the reason, HTMX the panel.
    refused = await _post(client)
    assert refused.status_code == 429
    assert "You can request one export every 24 hours" in refused.text
    assert "<html" in refused.text
    refused = await _post(client, htmx=True)
    assert refused.status_code == 429

    # Past its expiry the panel says so, and the link no longer works.
    async with runtime.backends.db.transaction() as session:
        await session.execute(update(DataExport).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    expired = await client.get("/privacy/export", headers=HTMX)
    assert "Your last export has expired" in expired.text and link not in expired.text
    assert (await client.get(link)).status_code == 404
    assert refused.text.startswith("<div") and "<html" not in refused.text


async def test_requesting_from_the_page_with_htmx_swaps_the_panel(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await _users(runtime)
    await sign_in(client, "ada@example.com")
    response = await _post(client, htmx=True)
    assert response.status_code == 200
    assert response.text.startswith("<div") and 'id="export-panel"' in response.text
    assert 'hx-trigger="every 2s"' in response.text
    assert "Your export is being prepared" in response.text  # the toast, out of band


async def test_the_page_asks_for_the_password_after_a_while(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ada, _bob = await _users(runtime)
    await sign_in(client, "ada@example.com")
    await _age_sign_in(runtime, ada, minutes=60)
    response = await _post(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/account/confirm-password?next=/privacy%23data-export"
    response = await _post(client, htmx=True)
    assert response.status_code == 204
    assert response.headers["hx-redirect"] == "/account/confirm-password?next=/privacy%23data-export"
    async with runtime.backends.db.transaction() as session:
        assert (await session.scalars(select(DataExport))).all() == []


async def test_the_api_requests_reports_and_downloads(
    client: httpx.AsyncClient, runtime: Runtime, config: Config
) -> None:
    await _users(runtime)
    ada = bearer(await api_tokens(client, "ada@example.com"))
    bob = bearer(await api_tokens(client, "bob@example.com"))
    with as_script(client):
        missing = await client.get(API, headers=ada)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"

        accepted = await client.post(API, headers=ada)
        assert accepted.status_code == 202
        body = accepted.json()
        assert (body["status"], body["progress"], body["download_url"], body["expires_at"]) == (
            "pending",
            0,
            None,
            None,
        )
        assert (await client.get(API, headers=ada)).json()["status"] == "pending"
        conflict = await client.post(API, headers=ada)
        assert conflict.status_code == 409
        assert conflict.json()["type"] == "/problems/conflict"

        await run_jobs(runtime)
        ready = (await client.get(API, headers=ada)).json()
        assert (ready["status"], ready["progress"], ready["stage"]) == ("ready", 100, "Ready")
        assert ready["finished_at"] and ready["expires_at"] and ready["size_bytes"] > 0
        url = ready["download_url"]
        assert url == f"{API}/{body['id']}/download"

        got = await client.get(url, headers=ada)
        assert got.status_code == 200
        assert got.headers["content-type"] == "application/zip"
        assert got.headers["content-disposition"].startswith("attachment;")
        assert len(got.content) == ready["size_bytes"]
        assert (await client.get(url, headers=bob)).status_code == 404
        assert (await client.get(url)).status_code == 401
        assert (await client.get(API, headers=bob)).status_code == 404

        limited = await client.post(API, headers=ada)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 23 * 3600
        assert limited.json()["available_at"]

        async with runtime.backends.db.transaction() as session:
            await session.execute(update(DataExport).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        expired = (await client.get(API, headers=ada)).json()
        assert (expired["status"], expired["download_url"]) == ("expired", None)
        gone = await client.get(url, headers=ada)
        assert gone.status_code == 404 and "expired" in gone.json()["detail"]


async def test_the_api_needs_a_recent_sign_in(client: httpx.AsyncClient, runtime: Runtime, config: Config) -> None:
    await _users(runtime)
    tokens = await api_tokens(client, "ada@example.com")
    issuer = AccessTokens(
        [config.app.secret_key.get_secret_value()], lifetime=timedelta(minutes=15), issuer=config.app.site_url
    )
    claims = issuer.read(tokens["access_token"], now=datetime.now(UTC))
    assert claims is not None
    stale = issuer.issue(
        user_id=claims.user_id,
        session_id=claims.session_id,
        auth_time=datetime.now(UTC) - timedelta(hours=1),
        now=datetime.now(UTC),
    )
    with as_script(client):
        refused = await client.post(API, headers={"Authorization": f"Bearer {stale}"})
        assert refused.status_code == 403
        assert refused.json()["type"] == "/problems/reauthentication-required"
        assert (await client.get(API, headers={"Authorization": f"Bearer {stale}"})).status_code == 404
