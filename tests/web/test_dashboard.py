"""``/admin``: who may open it, the links and figures each viewer sees, the sign-ups chart."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from fastapp.accounts import wiring
from fastapp.config import Config
from fastapp.platform.context import Runtime, open_context
from tests.accounts.conftest import STRONG, sign_in, verified_user
from tests.accounts.test_directory import add_users
from tests.conftest import root_of


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def test_members_and_visitors_are_kept_out(client: httpx.AsyncClient, config: Config) -> None:
    anonymous = await client.get("/admin")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/sign-in?next=/admin")
    await verified_user(client, config, "member@example.com")
    await sign_in(client, "member@example.com")
    assert (await client.get("/admin")).status_code == 403


async def test_owner_sees_links_counts_and_the_chart(client: httpx.AsyncClient, runtime: Runtime) -> None:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await wiring.accounts(runtime, ctx).create_owner(email="owner@example.com", password=STRONG, display_name="O")
        now = ctx.clock.now()
    await add_users(
        runtime,
        [
            {"email": "today@example.com", "created": now},
            {"email": "pending@example.com", "status": "pending", "created": now - timedelta(days=2)},
            {"email": "old@example.com", "created": now - timedelta(days=90)},  # outside the chart
        ],
    )
    await sign_in(client, "owner@example.com")
    page = await client.get("/admin")
    assert page.status_code == 200
    for href in ("/admin/users", "/admin/roles", "/admin/jobs"):
        assert f'href="{href}"' in page.text
    assert '<dt>pending</dt><dd class="font-semibold">1</dd>' in page.text
    assert '<dt>active</dt><dd class="font-semibold">3</dd>' in page.text  # the owner, today, old
    assert "<dt>waiting</dt>" in page.text
    # the chart: labelled SVG, one titled bar per day, and the numbers as a table
    assert 'role="img"' in page.text
    label = re.search(r'aria-label="(Sign-ups per day from [^"]+)"', page.text)
    assert label
    assert "3 in all" in label.group(1)  # owner + today + two days ago
    assert page.text.count("<rect") == 30
    assert f"<title>{now.date().isoformat()}: 2 sign-ups</title>" in page.text
    assert "numbers as a table</summary>" in page.text


async def test_a_viewer_with_only_audit_access_sees_no_user_figures(
    client: httpx.AsyncClient, runtime: Runtime, config: Config
) -> None:
    await verified_user(client, config, "auditor@example.com")
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        service = wiring.accounts(runtime, ctx)
        await service.create_role(
            name="auditor",
            description="",
            parent="member",
            permissions={"audit:read"},
            granter=frozenset({"audit:read"}),
        )
        user = await service.find_by_email("auditor@example.com")
        assert user is not None
        await service.set_role(user, "auditor", granter=None)
    await sign_in(client, "auditor@example.com")
    page = await client.get("/admin")
    assert page.status_code == 200
    assert 'href="/admin/audit"' in page.text
    assert 'href="/admin/users"' not in page.text
    assert "Sign-ups" not in page.text
