"""``/api/v1/admin/users``: permission, filters, cursor pages, problem+json errors, no private fields."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from fastapp.accounts import wiring
from fastapp.accounts.models import User
from fastapp.config import Config
from fastapp.platform.context import Runtime, open_context
from tests.accounts.conftest import STRONG, api_tokens, as_script, bearer, sign_in, verified_user
from tests.accounts.test_directory import BASE, add_users
from tests.conftest import root_of

TOTP_SECRET = "JBSWY3DPEHPK3PXPSECRETVALUE"


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def owner_headers(runtime: Runtime, client: httpx.AsyncClient) -> dict[str, str]:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await wiring.accounts(runtime, ctx).create_owner(email="owner@example.com", password=STRONG, display_name="O")
    return bearer(await api_tokens(client, "owner@example.com"))


async def test_members_may_not_list_users(client: httpx.AsyncClient, config: Config) -> None:
    with as_script(client):
        assert (await client.get("/api/v1/admin/users")).status_code == 401
    await verified_user(client, config, "member@example.com")
    headers = bearer(await api_tokens(client, "member@example.com"))
    with as_script(client):
        denied = await client.get("/api/v1/admin/users", headers=headers)
    assert denied.status_code == 403
    assert denied.headers["content-type"].startswith("application/problem+json")


async def test_filters_and_cursor_pages(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await owner_headers(runtime, client)
    await add_users(
        runtime,
        [{"email": f"u{i}@example.com", "created": BASE + timedelta(hours=i), "two_factor": i == 2} for i in range(5)],
    )
    with as_script(client):
        two_fa = (await client.get("/api/v1/admin/users", params={"two_factor": "yes"}, headers=headers)).json()
        assert [u["email"] for u in two_fa["items"]] == ["u2@example.com"]
        assert two_fa["items"][0]["two_factor"] is True
        assert two_fa["next_cursor"] is None

        seen: list[str] = []
        params: dict[str, str | int] = {"q": "u", "sort": "email", "limit": 2}
        while True:
            body = (await client.get("/api/v1/admin/users", params=params, headers=headers)).json()
            seen += [u["email"] for u in body["items"]]
            if body["next_cursor"] is None:
                break
            params["cursor"] = body["next_cursor"]
        assert seen == [f"u{i}@example.com" for i in range(5)]


async def test_bad_parameters_are_problems(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await owner_headers(runtime, client)
    with as_script(client):
        for params in ({"sort": "password_hash"}, {"cursor": "nonsense"}, {"created_from": "soon"}, {"limit": 0}):
            response = await client.get("/api/v1/admin/users", params=params, headers=headers)
            assert response.status_code == 422, params
            assert response.headers["content-type"].startswith("application/problem+json")


async def test_no_endpoint_leaks_password_hashes_or_totp_secrets(
    client: httpx.AsyncClient, runtime: Runtime, config: Config
) -> None:
    headers = await owner_headers(runtime, client)
    await verified_user(client, config, "member@example.com")
    member_headers = bearer(await api_tokens(client, "member@example.com"))
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        users = list((await ctx.session.scalars(select(User))).all())
        for user in users:
            if user.email == "member@example.com":  # the owner still signs in below without a code
                user.totp_secret = TOTP_SECRET  # encrypted at rest; must not come back in clear either
        hashes = [u.password_hash for u in users]
        member_id: uuid.UUID = next(u.id for u in users if u.email == "member@example.com")
    responses: list[httpx.Response] = []
    with as_script(client):
        responses.append(await client.get("/api/v1/admin/users", headers=headers))
        responses.append(await client.get("/api/v1/me", headers=headers))
        responses.append(await client.get("/api/v1/me", headers=member_headers))
        responses.append(await client.get("/api/v1/me/sessions", headers=member_headers))
    await sign_in(client, "owner@example.com")
    responses.append(await client.get("/admin/users"))
    responses.append(await client.get(f"/admin/users/{member_id}"))
    for response in responses:
        assert response.status_code == 200, (response.url, response.text)
        for secret in [*hashes, TOTP_SECRET, "password_hash", "totp_secret", "totp_pending", "$argon2"]:
            assert secret not in response.text, response.url
    listed = responses[0].json()["items"]
    assert {u["email"] for u in listed} == {"owner@example.com", "member@example.com"}


async def test_actions_have_api_parity(client: httpx.AsyncClient, runtime: Runtime, config: Config) -> None:
    headers = await owner_headers(runtime, client)
    await verified_user(client, config, "member@example.com")
    member_tokens = await api_tokens(client, "member@example.com")
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        member = await wiring.accounts(runtime, ctx).find_by_email("member@example.com")
        assert member is not None
        ident = member.id
    base = f"/api/v1/admin/users/{ident}"
    with as_script(client):
        # members may not act
        assert (await client.post(f"{base}/deactivate", headers=bearer(member_tokens))).status_code == 403
        shown = await client.get(base, headers=headers)
        assert shown.json()["email"] == "member@example.com"
        role = await client.put(f"{base}/role", json={"role": "admin"}, headers=headers)
        assert role.status_code == 200, role.text
        assert role.json()["user"]["roles"] == ["admin"]
        off = await client.post(f"{base}/deactivate", headers=headers)
        assert off.status_code == 200
        assert off.json()["user"]["status"] == "deactivated"
        # the member's access token no longer works
        assert (await client.get("/api/v1/me", headers=bearer(member_tokens))).status_code == 401
        again = await client.post(f"{base}/deactivate", headers=headers)
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")
        on = await client.post(f"{base}/reactivate", headers=headers)
        assert on.json()["user"]["status"] == "active"
        reset = await client.post(f"{base}/require-password-reset", headers=headers)
        assert reset.json()["user"]["password_reset_required"] is True
        refused = await client.post("/api/v1/auth/token", json={"email": "member@example.com", "password": STRONG})
        assert refused.status_code == 403  # no API token until a new password is chosen
        assert "new password" in refused.json()["detail"]
        ended = await client.post(f"{base}/end-sessions", headers=headers)
        assert ended.status_code == 200
        assert (await client.post(f"{base}/resend-verification", headers=headers)).status_code == 409
        missing = await client.post(f"/api/v1/admin/users/{uuid.uuid4()}/deactivate", headers=headers)
        assert missing.status_code == 404
