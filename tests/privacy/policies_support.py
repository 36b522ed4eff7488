"""Helpers of the policy tests: users, contexts acting as someone, publishing, and a clock the
tests move."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import httpx

from fastapp.accounts import wiring
from fastapp.platform.context import Context, Runtime, open_context
from fastapp.privacy.models import PolicyVersion
from fastapp.privacy.policies import services
from tests.accounts.conftest import STRONG, sign_in
from tests.conftest import acting as shared_acting


@dataclass
class MovableClock:
    """Now plus an offset the test changes (``runtime.backends.clock`` for the whole app)."""

    offset: timedelta = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def use_clock(runtime: Runtime) -> MovableClock:
    clock = MovableClock()
    runtime.backends = replace(runtime.backends, clock=clock)
    return clock


async def make_user(runtime: Runtime, address: str, *, role: str = "member") -> uuid.UUID:
    """An active, verified account holding ``role`` (the first one made is an owner)."""
    if role != "owner":
        await owner_id(runtime)  # the last owner cannot lose the role: keep one that is not this user
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        accounts = wiring.accounts(runtime, ctx)
        user = await accounts.create_owner(email=address, password=STRONG, display_name=address.split("@")[0])
        if role != "owner":
            await accounts.set_role(user, role, granter=None)
        return user.id


async def owner_id(runtime: Runtime) -> uuid.UUID:
    """The test's owner account, made on first use."""
    if "tests.policies.owner" not in runtime.services:
        async with open_context(runtime, request_id="t", ip=None) as ctx:
            runtime.services["tests.policies.owner"] = await wiring.accounts(runtime, ctx).create_owner(
                email="owner@example.com", password=STRONG, display_name="Owner"
            )
    found: uuid.UUID = runtime.services["tests.policies.owner"].id
    return found


def acting(
    runtime: Runtime, user_id: uuid.UUID | None = None, *, manager: bool = False
) -> AbstractAsyncContextManager[Context]:
    """``tests.conftest.acting``, as a manager (holding services.MANAGE) when ``manager``."""
    return shared_acting(runtime, user_id, {services.MANAGE} if manager else ())


async def publish(
    runtime: Runtime, kind: str, version: str, *, body: str = "We keep little.", effective_at: datetime | None = None
) -> PolicyVersion:
    """Publish as the owner (who holds privacy:manage)."""
    async with acting(runtime, await owner_id(runtime), manager=True) as ctx:
        return await services.publish(
            ctx,
            kind=kind,
            version=version,
            title=f"{services.label_of(kind)} {version}",
            body=body,
            effective_at=effective_at,
        )


async def signed_in_client(client: httpx.AsyncClient, address: str) -> httpx.AsyncClient:
    response = await sign_in(client, address)
    assert response.status_code in {302, 303}, response.text
    return client
