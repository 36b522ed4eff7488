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
from tests.accounts.conftest import STRONG, api_tokens, bearer, verified_user
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
