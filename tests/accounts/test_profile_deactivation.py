"""Self-service deactivation and reactivation: sessions end, hidden from others, data kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from fastapp.accounts import notification_recipients
from fastapp.accounts.models import User
from fastapp.accounts.tokens import AccessTokens
from fastapp.audit.models import AuditEvent
from fastapp.config import Config
from fastapp.platform.context import Runtime, open_context
from tests.accounts.conftest import STRONG, api_tokens, as_script, bearer, sign_in, verified_user
from tests.conftest import client_for, csrf_token, make_config, root_of

TOKEN_FIELD = re.compile(r'name="token" value="([^"]+)"')


async def _user(runtime: Runtime, address: str) -> User:
    async with runtime.backends.db.transaction() as session:
        user = await session.scalar(select(User).where(User.email == address))
        assert user is not None
        return user


async def _actions(runtime: Runtime) -> list[str]:
    async with runtime.backends.db.transaction() as session:
        return list(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.in_(("user.deactivated", "user.reactivated")))
            )
        )


async def test_deactivate_then_reactivate_through_the_pages(
    app: object, client: httpx.AsyncClient, config: Config
) -> None:
    runtime: Runtime = root_of(app).state.runtime
    await verified_user(client, config, "ada@example.com")
    tokens = await api_tokens(client, "ada@example.com")
    assert (await sign_in(client, "ada@example.com")).status_code == 303
    page = await client.get("/account/profile")
    assert "Deactivate my account" in page.text
    token = await csrf_token(client, "/account/profile")
    gone = await client.post("/account/deactivate", data={"csrf_token": token})
    assert gone.status_code == 303 and gone.headers["location"] == "/account/deactivated"
    assert "Your account is deactivated" in (await client.get("/account/deactivated")).text

    # Signed out everywhere: the browser and the API token.
    assert (await client.get("/account/profile")).status_code == 303
    with as_script(client):
        assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 401
    user = await _user(runtime, "ada@example.com")
    assert user.status == "deactivated" and user.deactivated_at is not None
    assert user.display_name == "Ada"  # data kept
    async with open_context(runtime, request_id="test", ip=None) as ctx:
        recipients = await notification_recipients(ctx, [user.id])
    assert recipients[user.id].active is False  # hidden from notifications and other users

    # Signing in again offers reactivation instead of a session.
    with as_script(client):
        refused = await client.post("/api/v1/auth/token", json={"email": "ada@example.com", "password": STRONG})
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("account-deactivated")
    offer = await sign_in(client, "ada@example.com")
    assert offer.status_code == 200
    assert "Reactivate my account" in offer.text
    assert "set-cookie" not in offer.headers or "fastapp_session=" not in offer.headers["set-cookie"]
    match = TOKEN_FIELD.search(offer.text)
    assert match
    back = await client.post(
        "/account/reactivate", data={"token": match.group(1), "csrf_token": await csrf_token(client, "/sign-in")}
    )
    assert back.status_code == 200 and "Your account is active again" in back.text
    again = await client.post(
        "/account/reactivate", data={"token": match.group(1), "csrf_token": await csrf_token(client, "/sign-in")}
    )
    assert again.status_code == 422  # a reactivation token works once
    assert (await _user(runtime, "ada@example.com")).status == "active"
    assert (await sign_in(client, "ada@example.com")).status_code == 303
    assert (await client.get("/account/profile")).status_code == 200
    assert await _actions(runtime) == ["user.deactivated", "user.reactivated"]


async def test_wrong_password_for_a_deactivated_account_offers_nothing(
    client: httpx.AsyncClient, config: Config
) -> None:
    await verified_user(client, config, "ada@example.com")
    tokens = await api_tokens(client, "ada@example.com")
    with as_script(client):
        assert (await client.post("/api/v1/me/deactivate", headers=bearer(tokens))).status_code == 200
    wrong = await sign_in(client, "ada@example.com", "not the password at all")
    assert wrong.status_code == 422
    assert "Reactivate" not in wrong.text


async def test_api_deactivation_needs_a_recent_sign_in(tmp_path: Path, database_url: str) -> None:
    config = make_config(tmp_path / "var", database_url, auth={"sudo_minutes": 1})
    async with client_for(config) as http:
        await verified_user(http, config, "ada@example.com")
        tokens = await api_tokens(http, "ada@example.com")
        issuer = AccessTokens(
            [config.app.secret_key.get_secret_value()], lifetime=timedelta(minutes=15), issuer=config.app.site_url
        )
        claims = issuer.read(tokens["access_token"], now=datetime.now(UTC))
        assert claims is not None
        stale = issuer.issue(
            user_id=claims.user_id,
            session_id=claims.session_id,
            auth_time=datetime.now(UTC) - timedelta(minutes=5),
            now=datetime.now(UTC),
        )
        refused = await http.post("/api/v1/me/deactivate", headers={"Authorization": f"Bearer {stale}"})
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("reauthentication-required")
        assert (await http.get("/api/v1/me/profile", headers=bearer(tokens))).status_code == 200
        ok = await http.post("/api/v1/me/deactivate", headers=bearer(tokens))
        assert ok.status_code == 200
        assert (await http.get("/api/v1/me/profile", headers=bearer(tokens))).status_code == 401
