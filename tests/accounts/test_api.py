"""Identity flows through the JSON API: the same services as the pages."""

from __future__ import annotations

import time

import httpx
import pytest

from fastapp.config import Config
from tests.accounts.conftest import (
    STRONG,
    api_tokens,
    bearer,
    last_link,
    mails_to,
    register,
    token_of,
    verified_user,
)


async def test_register_verify_token_me(client: httpx.AsyncClient, config: Config) -> None:
    await register(client, "ada@example.com")
    assert [m["Subject"] for m in await mails_to(config, "ada@example.com")] == [
        "Confirm your email address for FastApp"
    ]
    unverified = await client.post("/api/v1/auth/token", json={"email": "ada@example.com", "password": STRONG})
    assert unverified.status_code == 403
    token = token_of(await last_link(config, "ada@example.com", "/verify-email"))
    assert (await client.post("/api/v1/auth/verify-email", json={"token": token})).status_code == 200
    reused = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert reused.status_code == 422
    tokens = await api_tokens(client, "ADA@example.com")
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60
    me = await client.get("/api/v1/me", headers=bearer(tokens))
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == "ada@example.com"
    assert body["email_verified"] is True
    assert body["permissions"] == []


async def test_register_is_silent_about_taken_addresses(client: httpx.AsyncClient, config: Config) -> None:
    await register(client, "ada@example.com")
    second = await client.post(
        "/api/v1/auth/register", json={"email": "Ada@Example.com", "password": STRONG, "display_name": "Impostor"}
    )
    assert second.status_code == 202
    # Two mail jobs: the in-process worker may send them in either order.
    subjects = sorted(m["Subject"] for m in await mails_to(config, "ada@example.com"))
    assert subjects == ["Confirm your email address for FastApp", "Someone tried to sign up with your address"]


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "at least 12"), ("password1234", ""), ("x" * 1025, "at most 1024")],
)
async def test_weak_passwords_are_refused_with_a_reason(client: httpx.AsyncClient, password: str, message: str) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": "bob@example.com", "password": password, "display_name": "Bob"}
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors[0]["field"] == "password"
    assert message in errors[0]["message"]


async def test_wrong_password_and_unknown_email_answer_alike(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    wrong = await client.post("/api/v1/auth/token", json={"email": "ada@example.com", "password": "nope" * 4})
    unknown = await client.post("/api/v1/auth/token", json={"email": "who@example.com", "password": "nope" * 4})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_sign_in_timing_does_not_reveal_accounts(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")

    async def median_ms(address: str) -> float:
        times = []
        for _ in range(7):
            started = time.perf_counter()
            await client.post("/api/v1/auth/token", json={"email": address, "password": "wrong password here"})
            times.append((time.perf_counter() - started) * 1000)
        return sorted(times)[3]

    known, unknown = await median_ms("ada@example.com"), await median_ms("nobody@example.com")
    assert 0.5 < known / unknown < 2.0, (known, unknown)


async def test_oauth2_password_form_works_for_swagger(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    response = await client.post("/api/v1/auth/token", data={"username": "ada@example.com", "password": STRONG})
    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "refresh_token", "token_type", "expires_in"}


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    first = await api_tokens(client, "ada@example.com")
    second = (await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (await client.get("/api/v1/me", headers=bearer(second))).status_code == 200
    reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert reuse.json()["type"] == "/problems/refresh-token-reused"
    # The whole family and its session are gone: the newer tokens stop working at once.
    assert (
        await client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    ).status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(second))).status_code == 401


async def test_revoking_a_session_kills_its_access_token(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    laptop, phone = await api_tokens(client, "ada@example.com"), await api_tokens(client, "ada@example.com")
    sessions = (await client.get("/api/v1/me/sessions", headers=bearer(laptop))).json()
    assert len(sessions) == 2
    other = next(s for s in sessions if not s["current"])
    assert (await client.delete(f"/api/v1/me/sessions/{other['id']}", headers=bearer(laptop))).status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(phone))).status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(laptop))).status_code == 200


async def test_sessions_of_others_are_not_found(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    await verified_user(client, config, "bob@example.com")
    ada, bob = await api_tokens(client, "ada@example.com"), await api_tokens(client, "bob@example.com")
    bob_session = (await client.get("/api/v1/me/sessions", headers=bearer(bob))).json()[0]["id"]
    response = await client.delete(f"/api/v1/me/sessions/{bob_session}", headers=bearer(ada))
    assert response.status_code == 404
    assert (await client.get("/api/v1/me", headers=bearer(bob))).status_code == 200


async def test_revoke_ends_the_session(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    tokens = await api_tokens(client, "ada@example.com")
    assert (
        await client.post("/api/v1/auth/revoke", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 401


async def test_forged_and_missing_tokens(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert (await client.get("/api/v1/me", headers={"Authorization": "Bearer not.a.jwt"})).status_code == 401


async def test_password_reset_flow(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    tokens = await api_tokens(client, "ada@example.com")
    unknown = await client.post("/api/v1/auth/password-reset", json={"email": "nobody@example.com"})
    known = await client.post("/api/v1/auth/password-reset", json={"email": "ada@example.com"})
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    assert await mails_to(config, "nobody@example.com") == []
    token = token_of(await last_link(config, "ada@example.com", "/password/reset"))
    new = "a completely different passphrase 7"
    confirm = await client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": new})
    assert confirm.status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 401  # every session ended
    again = await client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": new + "x"})
    assert again.status_code == 422  # single use
    assert (
        await client.post("/api/v1/auth/token", json={"email": "ada@example.com", "password": STRONG})
    ).status_code == 401
    await api_tokens(client, "ada@example.com", new)
    assert any(
        "password" in str(m["Subject"]).lower() and "changed" in str(m["Subject"]).lower()
        for m in await mails_to(config, "ada@example.com")
    )


async def test_change_password_needs_the_current_one(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    mine, other = await api_tokens(client, "ada@example.com"), await api_tokens(client, "ada@example.com")
    wrong = await client.post(
        "/api/v1/me/password",
        headers=bearer(mine),
        json={"current_password": "not it at all", "new_password": "another fine passphrase"},
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "current_password"
    ok = await client.post(
        "/api/v1/me/password",
        headers=bearer(mine),
        json={"current_password": STRONG, "new_password": "another fine passphrase 9"},
    )
    assert ok.status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer(other))).status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(mine))).status_code == 200


async def test_change_email_verifies_the_new_address_and_tells_the_old(
    client: httpx.AsyncClient, config: Config
) -> None:
    await verified_user(client, config, "ada@example.com")
    tokens = await api_tokens(client, "ada@example.com")
    response = await client.post("/api/v1/me/email", headers=bearer(tokens), json={"email": "ada@new.example"})
    assert response.status_code == 202
    token = token_of(await last_link(config, "ada@new.example", "/verify-email"))
    assert (await client.post("/api/v1/auth/verify-email", json={"token": token})).status_code == 200
    me = (await client.get("/api/v1/me", headers=bearer(tokens))).json()
    assert me["email"] == "ada@new.example"
    assert any(
        "email address" in str(m["Subject"]).lower() and "changed" in str(m["Subject"]).lower()
        for m in await mails_to(config, "ada@example.com")
    )


async def test_change_email_needs_a_recent_sign_in(tmp_path: object, database_url: str) -> None:
    from pathlib import Path

    from tests.conftest import client_for, make_config

    config = make_config(Path(str(tmp_path)) / "var", database_url, auth={"sudo_minutes": 1})
    async with client_for(config) as http:
        await verified_user(http, config, "ada@example.com")
        tokens = await api_tokens(http, "ada@example.com")
        # An access token minted with an old authentication time stands for an old sign-in.
        from datetime import UTC, datetime, timedelta

        from fastapp.accounts.tokens import AccessTokens
        from fastapp.platform.auth import principal_of

        del principal_of
        old = datetime.now(UTC) - timedelta(minutes=5)
        claims = AccessTokens(
            [config.app.secret_key.get_secret_value()], lifetime=timedelta(minutes=15), issuer=config.app.site_url
        ).read(tokens["access_token"], now=datetime.now(UTC))
        assert claims is not None
        stale = AccessTokens(
            [config.app.secret_key.get_secret_value()], lifetime=timedelta(minutes=15), issuer=config.app.site_url
        ).issue(user_id=claims.user_id, session_id=claims.session_id, auth_time=old, now=datetime.now(UTC))
        response = await http.post(
            "/api/v1/me/email", headers={"Authorization": f"Bearer {stale}"}, json={"email": "ada@new.example"}
        )
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/reauthentication-required"


async def test_brute_force_is_rate_limited_and_the_owner_told_once(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    statuses = []
    for _ in range(25):
        response = await client.post(
            "/api/v1/auth/token", json={"email": "ada@example.com", "password": "guess guess guess"}
        )
        statuses.append(response.status_code)
    assert 429 in statuses[:24]
    limited = statuses.index(429)
    assert set(statuses[:limited]) == {401}
    assert set(statuses[limited:]) == {429}
    notices = [m for m in await mails_to(config, "ada@example.com") if "failed sign-in" in str(m["Subject"]).lower()]
    assert len(notices) == 1
