"""Personal access tokens: shown once, scoped to what the owner holds, revocable at once."""

from __future__ import annotations

import re

import httpx

from fastapp.accounts import wiring
from fastapp.config import Config
from fastapp.platform.context import open_context
from tests.accounts.conftest import api_tokens, as_script, bearer, verified_user
from tests.accounts.test_pages import sign_in
from tests.conftest import csrf_token, root_of


async def _make_admin(client: httpx.AsyncClient, config: Config, app: object) -> dict[str, str]:
    await verified_user(client, config, "ada@example.com")
    runtime = root_of(app).state.runtime
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        service = wiring.accounts(runtime, ctx)
        user = await service.find_by_email("ada@example.com")
        assert user is not None
        await service.set_role(user, "admin", granter=None)
    return await api_tokens(client, "ada@example.com")


async def test_create_use_list_and_revoke(client: httpx.AsyncClient, config: Config, app: object) -> None:
    session = await _make_admin(client, config, app)
    with as_script(client):
        created = await client.post(
            "/api/v1/me/tokens",
            headers=bearer(session),
            json={"name": "CI deploy", "scopes": ["users:read"], "expires_in_days": 30},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        secret = body["token"]
        assert secret.startswith("fapat_")
        pat = {"Authorization": f"Bearer {secret}"}
        me = (await client.get("/api/v1/me", headers=pat)).json()
        assert me["email"] == "ada@example.com"
        assert me["permissions"] == ["users:read"]  # only its scopes, not all of the owner's
        listed = (await client.get("/api/v1/me/tokens", headers=bearer(session))).json()
        assert [t["name"] for t in listed] == ["CI deploy"]
        assert "token" not in listed[0]
        assert listed[0]["last_used_at"] is not None
        # A token cannot mint tokens: it never counts as a recent sign-in.
        assert (await client.post("/api/v1/me/tokens", headers=pat, json={"name": "x"})).status_code == 403
        assert (await client.delete(f"/api/v1/me/tokens/{body['id']}", headers=bearer(session))).status_code == 204
        assert (await client.get("/api/v1/me", headers=pat)).status_code == 401


async def test_scopes_beyond_the_owner_are_refused(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "bob@example.com")
    session = await api_tokens(client, "bob@example.com")
    with as_script(client):
        response = await client.post(
            "/api/v1/me/tokens", headers=bearer(session), json={"name": "too much", "scopes": ["users:manage"]}
        )
        assert response.status_code == 403
        bad_expiry = await client.post(
            "/api/v1/me/tokens", headers=bearer(session), json={"name": "x", "expires_in_days": 1000}
        )
        assert bad_expiry.status_code == 422
        unknown = await client.get("/api/v1/me", headers={"Authorization": "Bearer fapat_unknown"})
        assert unknown.status_code == 401


async def test_tokens_from_the_account_page(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    await sign_in(client, "ada@example.com")
    token = await csrf_token(client, "/account/security")
    empty = await client.post("/account/tokens", data={"name": "", "expires_in_days": "30", "csrf_token": token})
    assert empty.status_code == 422
    created = await client.post(
        "/account/tokens", data={"name": "laptop script", "expires_in_days": "30", "csrf_token": token}
    )
    assert created.status_code == 200
    secret = re.search(r"(fapat_[A-Za-z0-9_-]+)", created.text)
    assert secret
    with as_script(client):
        used = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret.group(1)}"})
        assert used.status_code == 200
    page = (await client.get("/account/security")).text
    assert "laptop script" in page
    assert secret.group(1) not in page  # shown once only
    revoke = re.search(r'action="(/account/tokens/[0-9a-f-]+/revoke)"', page)
    assert revoke
    assert (await client.post(revoke.group(1), data={"csrf_token": token})).status_code == 303
    with as_script(client):
        revoked = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret.group(1)}"})
        assert revoked.status_code == 401
