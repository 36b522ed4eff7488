"""Every identity flow leaves its audit events: action, actor, target and outcome."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select

from fastapp.audit.models import AuditEvent
from fastapp.config import Config
from fastapp.platform.context import Runtime
from fastapp.platform.db import Database
from tests.accounts.conftest import (
    STRONG,
    api_tokens,
    as_script,
    bearer,
    last_link,
    register,
    sign_in,
    token_of,
    verified_user,
)
from tests.accounts.test_two_factor import enable
from tests.conftest import client_for, csrf_token, make_config, root_of


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def events(runtime: Runtime, action: str | None = None) -> list[AuditEvent]:
    async with runtime.backends.db.transaction() as session:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list((await session.scalars(query)).all())


async def user_id(runtime: Runtime, address: str) -> str:
    (signed_up,) = [
        e for e in await events(runtime, "auth.sign_up") if e.outcome == "success" and e.actor_label == address
    ]
    assert signed_up.target_id is not None
    return signed_up.target_id


async def test_sign_up_and_verification(client: httpx.AsyncClient, config: Config, runtime: Runtime) -> None:
    await verified_user(client, config, "ada@example.com")
    uid = await user_id(runtime, "ada@example.com")
    (signed_up,) = await events(runtime, "auth.sign_up")
    assert (signed_up.actor_type, signed_up.actor_id, signed_up.target_type) == ("user", uid, "user")
    (verified,) = await events(runtime, "auth.email.verified")
    assert (verified.actor_id, verified.target_id, verified.outcome) == (uid, uid, "success")

    await register(client, "Ada@Example.com")  # the address is taken: answered alike, recorded as refused
    taken = (await events(runtime, "auth.sign_up"))[-1]
    assert (taken.outcome, taken.actor_type, taken.target_id) == ("failure", "anonymous", uid)
    assert json.loads(taken.data) == {"reason": "email already registered"}


async def test_sign_in_outcomes_never_store_the_password(
    client: httpx.AsyncClient, config: Config, runtime: Runtime
) -> None:
    await verified_user(client, config, "ada@example.com")
    uid = await user_id(runtime, "ada@example.com")
    with as_script(client):
        wrong = await client.post("/api/v1/auth/token", json={"email": "ada@example.com", "password": "typed secret 1"})
        unknown = await client.post(
            "/api/v1/auth/token", json={"email": "who@example.com", "password": "typed secret 2"}
        )
    assert wrong.status_code == unknown.status_code == 401
    await api_tokens(client, "ada@example.com")

    failed = await events(runtime, "auth.sign_in.failed")
    assert [(e.outcome, e.target_id, json.loads(e.data)["reason"]) for e in failed] == [
        ("failure", uid, "wrong password"),
        ("failure", None, "unknown email"),
    ]
    assert [json.loads(e.personal or "{}")["email"] for e in failed] == ["ada@example.com", "who@example.com"]
    (succeeded,) = await events(runtime, "auth.sign_in.succeeded")
    assert (succeeded.actor_type, succeeded.actor_id, succeeded.target_type) == ("user", uid, "session")
    assert json.loads(succeeded.data)["kind"] == "api"
    for event in await events(runtime):
        row = " ".join(str(v) for v in vars(event).values())
        assert "typed secret" not in row and STRONG not in row


async def test_a_rate_limit_trip_on_sign_in_is_recorded(tmp_path: object, database_url: str) -> None:
    from pathlib import Path

    config = make_config(Path(str(tmp_path)), database_url, security={"rate_limits": {"login.account": "3 per minute"}})
    async with client_for(config) as client:
        for _ in range(5):
            await client.post("/api/v1/auth/token", json={"email": "ada@example.com", "password": "wrong password 1"})
    db = Database.from_url(config.database_url)
    try:
        async with db.transaction() as session:
            trips = (
                await session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.sign_in.rate_limited"))
            ).all()
            failures = (
                await session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.sign_in.failed"))
            ).all()
    finally:
        await db.dispose()
    assert len(failures) == 3  # the refused attempts never reach a password check
    assert len(trips) == 1
    assert json.loads(trips[0].data) == {"reason": "login.account"}


async def test_password_change_reset_and_session_ends(
    client: httpx.AsyncClient, config: Config, runtime: Runtime
) -> None:
    await verified_user(client, config, "ada@example.com")
    uid = await user_id(runtime, "ada@example.com")
    mine, other = await api_tokens(client, "ada@example.com"), await api_tokens(client, "ada@example.com")
    with as_script(client):
        refused = await client.post(
            "/api/v1/me/password",
            headers=bearer(mine),
            json={"current_password": "not it at all", "new_password": STRONG + "x"},
        )
        assert refused.status_code == 422
        changed = await client.post(
            "/api/v1/me/password", headers=bearer(mine), json={"current_password": STRONG, "new_password": STRONG + "x"}
        )
        assert changed.status_code == 200
    assert [(e.outcome, e.actor_id, e.target_id) for e in await events(runtime, "auth.password.changed")] == [
        ("failure", uid, uid),
        ("success", uid, uid),
    ]
    ended = await events(runtime, "session.revoked")
    assert [json.loads(e.data)["reason"] for e in ended] == ["password changed"]
    assert other  # its session is the one that ended

    with as_script(client):
        await client.post("/api/v1/auth/password-reset", json={"email": "ada@example.com"})
        await client.post("/api/v1/auth/password-reset", json={"email": "nobody@example.com"})
        token = token_of(await last_link(config, "ada@example.com", "/password/reset"))
        confirmed = await client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": STRONG})
        assert confirmed.status_code == 200
    requested = await events(runtime, "auth.password.reset_requested")
    assert [(e.outcome, e.target_id) for e in requested] == [("success", uid), ("failure", None)]
    (reset,) = await events(runtime, "auth.password.reset")
    assert (reset.actor_id, reset.target_id) == (uid, uid)
    assert json.loads((await events(runtime, "session.revoked"))[-1].data)["reason"] == "password reset"


async def test_email_change(client: httpx.AsyncClient, config: Config, runtime: Runtime) -> None:
    await verified_user(client, config, "ada@example.com")
    tokens = await api_tokens(client, "ada@example.com")
    with as_script(client):
        await client.post("/api/v1/me/email", headers=bearer(tokens), json={"email": "ada@new.example"})
        link = token_of(await last_link(config, "ada@new.example", "/verify-email"))
        await client.post("/api/v1/auth/verify-email", json={"token": link})
    (requested,) = await events(runtime, "auth.email.change_requested")
    assert json.loads(requested.personal or "{}") == {"new": "ada@new.example"}
    (changed,) = await events(runtime, "auth.email.changed")
    assert json.loads(changed.personal or "{}") == {"old": "ada@example.com", "new": "ada@new.example"}


async def test_sessions_sign_out_and_refresh_reuse(client: httpx.AsyncClient, config: Config, runtime: Runtime) -> None:
    await verified_user(client, config, "ada@example.com")
    laptop, phone, tablet = [await api_tokens(client, "ada@example.com") for _ in range(3)]
    with as_script(client):
        sessions = (await client.get("/api/v1/me/sessions", headers=bearer(phone))).json()
        assert len(sessions) == 3
        await client.post("/api/v1/auth/revoke", json={"refresh_token": tablet["refresh_token"]})
        first = await client.post("/api/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
        assert first.status_code == 200
        reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
        assert reused.status_code == 401
    (signed_out,) = await events(runtime, "auth.sign_out")
    assert signed_out.target_type == "session"
    (reuse,) = await events(runtime, "session.refresh_reused")
    assert reuse.target_type == "session"

    await sign_in(client, "ada@example.com")
    token = await csrf_token(client, "/account/security")
    await client.post("/sign-out", data={"csrf_token": token})
    assert len(await events(runtime, "auth.sign_out")) == 2


async def test_tokens_roles_and_two_factor(client: httpx.AsyncClient, config: Config, runtime: Runtime) -> None:
    _secret, codes = await enable(client, config)
    uid = await user_id(runtime, "ada@example.com")
    (enabled,) = await events(runtime, "auth.mfa.enabled")
    assert (enabled.actor_id, enabled.target_id) == (uid, uid)

    token = await csrf_token(client, "/account/security")
    wrong = await client.post(
        "/account/two-factor/disable", data={"password": STRONG, "code": "000000", "csrf_token": token}
    )
    assert wrong.status_code == 422
    (failed,) = await events(runtime, "auth.mfa.failed")
    assert (failed.outcome, failed.target_id) == ("failure", uid)
    done = await client.post(
        "/account/two-factor/disable",
        data={"password": STRONG, "code": codes[0], "csrf_token": token},
    )
    assert done.status_code in {200, 303}
    assert [e.target_id for e in await events(runtime, "auth.mfa.recovery_code_used")] == [uid]
    assert [e.outcome for e in await events(runtime, "auth.mfa.disabled")] == ["success"]

    tokens = await api_tokens(client, "ada@example.com")
    with as_script(client):
        made = await client.post("/api/v1/me/tokens", headers=bearer(tokens), json={"name": "ci", "scopes": []})
        assert made.status_code == 201
        await client.delete(f"/api/v1/me/tokens/{made.json()['id']}", headers=bearer(tokens))
    (created,) = await events(runtime, "token.created")
    assert (created.actor_id, created.target_id, json.loads(created.data)["name"]) == (uid, made.json()["id"], "ci")
    assert [e.target_id for e in await events(runtime, "token.revoked")] == [made.json()["id"]]


async def test_role_changes_carry_before_and_after(client: httpx.AsyncClient, config: Config, runtime: Runtime) -> None:
    from click.testing import CliRunner  # noqa: F401 - the owner comes from the service, as the CLI does

    from fastapp.accounts import wiring
    from fastapp.platform.context import open_context

    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await wiring.accounts(runtime, ctx).create_owner(email="owner@example.com", password=STRONG, display_name="O")
    (created,) = await events(runtime, "user.created")
    assert (created.actor_type, created.actor_id) == ("system", "cli")
    await verified_user(client, config, "ada@example.com")
    uid = await user_id(runtime, "ada@example.com")
    owner = await api_tokens(client, "owner@example.com")
    with as_script(client):
        await client.put(f"/api/v1/users/{uid}/role", headers=bearer(owner), json={"role": "admin"})
        made = await client.post(
            "/api/v1/roles",
            headers=bearer(owner),
            json={"name": "support", "description": "", "parent": "member", "permissions": ["users:read"]},
        )
        assert made.status_code == 201
    (changed,) = await events(runtime, "user.role.changed")
    assert changed.actor_id == created.target_id and changed.target_id == uid
    assert json.loads(changed.data) == {"before": ["member"], "after": ["admin"]}
    (role,) = await events(runtime, "role.created")
    assert json.loads(role.data) == {"name": "support", "parent": "member", "permissions": ["users:read"]}


async def test_an_api_token_acts_as_a_token(client: httpx.AsyncClient, config: Config, runtime: Runtime) -> None:
    await verified_user(client, config, "ada@example.com")
    tokens, other = await api_tokens(client, "ada@example.com"), await api_tokens(client, "ada@example.com")
    with as_script(client):
        made = (
            await client.post("/api/v1/me/tokens", headers=bearer(tokens), json={"name": "script", "scopes": []})
        ).json()
        pat = {"Authorization": f"Bearer {made['token']}"}
        sessions = (await client.get("/api/v1/me/sessions", headers=bearer(other))).json()
        ended = await client.delete(f"/api/v1/me/sessions/{sessions[0]['id']}", headers=pat)
        assert ended.status_code == 204
    (revoked,) = await events(runtime, "session.revoked")
    assert (revoked.actor_type, revoked.actor_id, revoked.actor_label) == ("token", made["id"], "ada@example.com")
