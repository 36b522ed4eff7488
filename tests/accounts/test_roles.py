"""Roles and permissions: hierarchy, granting rules, last owner, and changes on the next request."""

from __future__ import annotations

import httpx
import pytest

from fastapp.accounts import wiring
from fastapp.accounts.policy import can_grant, require
from fastapp.accounts.services import permissions_of
from fastapp.config import Config
from fastapp.platform.context import open_context
from fastapp.platform.errors import Conflict, PermissionDenied
from tests.accounts.conftest import STRONG, api_tokens, as_script, bearer, verified_user
from tests.conftest import root_of


@pytest.fixture
def runtime(app: object) -> object:
    return root_of(app).state.runtime


async def test_role_change_applies_on_the_next_request(
    client: httpx.AsyncClient, config: Config, runtime: object
) -> None:
    await verified_user(client, config, "ada@example.com")
    tokens = await api_tokens(client, "ada@example.com")
    assert (await client.get("/api/v1/me", headers=bearer(tokens))).json()["permissions"] == []
    async with open_context(runtime, request_id="t", ip=None) as ctx:  # type: ignore[arg-type]
        service = wiring.accounts(runtime, ctx)  # type: ignore[arg-type]
        user = await service.find_by_email("ada@example.com")
        assert user is not None
        await service.set_role(user, "admin", granter=None)
    me = (await client.get("/api/v1/me", headers=bearer(tokens))).json()
    assert {"users:manage", "roles:manage", "audit:read"} <= set(me["permissions"])


async def test_hierarchy_grant_rules_and_last_owner(client: httpx.AsyncClient, runtime: object) -> None:
    async with open_context(runtime, request_id="t", ip=None) as ctx:  # type: ignore[arg-type]
        service = wiring.accounts(runtime, ctx)  # type: ignore[arg-type]
        owner = await service.create_owner(email="owner@example.com", password=STRONG, display_name="Owner")
        owner_permissions = await permissions_of(ctx, owner.id)
        assert owner_permissions >= {"users:read", "users:manage", "roles:manage", "audit:read"}
        member = await service.create_owner(email="second@example.com", password=STRONG, display_name="Second")
        await service.set_role(member, "member", granter=owner_permissions)
        with pytest.raises(PermissionDenied):
            await service.set_role(member, "owner", granter=frozenset({"users:manage"}))
        with pytest.raises(Conflict, match="last owner"):
            await service.set_role(owner, "member", granter=None)


def test_policy_helpers() -> None:
    assert can_grant(frozenset({"a", "b"}), frozenset({"a"}))
    assert not can_grant(frozenset({"a"}), frozenset({"a", "b"}))
    with pytest.raises(PermissionDenied):
        require(None, "users:read")


async def test_roles_api(client: httpx.AsyncClient, config: Config, runtime: object) -> None:
    await verified_user(client, config, "ada@example.com")
    await verified_user(client, config, "bob@example.com")
    async with open_context(runtime, request_id="t", ip=None) as ctx:  # type: ignore[arg-type]
        service = wiring.accounts(runtime, ctx)  # type: ignore[arg-type]
        ada = await service.find_by_email("ada@example.com")
        bob = await service.find_by_email("bob@example.com")
        assert ada is not None and bob is not None
        await service.set_role(ada, "admin", granter=None)
        bob_id = bob.id
    admin, member = await api_tokens(client, "ada@example.com"), await api_tokens(client, "bob@example.com")
    with as_script(client):
        assert (await client.get("/api/v1/roles", headers=bearer(member))).status_code == 403
        names = [r["name"] for r in (await client.get("/api/v1/roles", headers=bearer(admin))).json()]
        assert names == ["admin", "member", "owner"]
        created = await client.post(
            "/api/v1/roles",
            headers=bearer(admin),
            json={"name": "auditor", "description": "Reads the audit log", "permissions": ["audit:read"]},
        )
        assert created.status_code == 201
        assert created.json()["permissions"] == ["audit:read"]
        assigned = await client.put(f"/api/v1/users/{bob_id}/role", headers=bearer(admin), json={"role": "auditor"})
        assert assigned.status_code == 200
        me = (await client.get("/api/v1/me", headers=bearer(member))).json()
        assert me["permissions"] == ["audit:read"]  # applied on the very next request
        await client.post(
            "/api/v1/roles", headers=bearer(admin), json={"name": "role-manager", "permissions": ["roles:manage"]}
        )
        await client.put(f"/api/v1/users/{bob_id}/role", headers=bearer(admin), json={"role": "role-manager"})
        too_much = await client.post(
            "/api/v1/roles", headers=bearer(member), json={"name": "boss", "permissions": ["users:manage"]}
        )
        assert too_much.status_code == 403  # a user cannot hand out what they do not hold
        unknown = await client.post("/api/v1/roles", headers=bearer(admin), json={"name": "x1", "permissions": ["x"]})
        assert unknown.status_code == 422
        duplicate = await client.post("/api/v1/roles", headers=bearer(admin), json={"name": "auditor"})
        assert duplicate.status_code == 409
