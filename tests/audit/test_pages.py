"""``/admin/audit`` and the user's recent activity: permission, filters, pages, detail, export."""

from __future__ import annotations

import httpx
import pytest

from fastapp.accounts import wiring
from fastapp.audit import Action, Actor, record
from fastapp.config import Config
from fastapp.platform.context import Runtime, open_context
from tests.accounts.conftest import STRONG, sign_in, verified_user
from tests.conftest import root_of


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def _owner(client: httpx.AsyncClient, runtime: Runtime) -> None:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await wiring.accounts(runtime, ctx).create_owner(email="owner@example.com", password=STRONG, display_name="O")
    await sign_in(client, "owner@example.com")


async def test_only_audit_readers_open_the_viewer(client: httpx.AsyncClient, config: Config) -> None:
    anonymous = await client.get("/admin/audit")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/sign-in")
    await verified_user(client, config, "ada@example.com")
    await sign_in(client, "ada@example.com")
    assert (await client.get("/admin/audit")).status_code == 403
    assert 'href="/admin/audit"' not in (await client.get("/")).text
    security = await client.get("/account/security")
    assert "Recent activity" in security.text and "Signed in" in security.text


async def test_filters_pages_detail_and_export(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await _owner(client, runtime)
    assert 'href="/admin/audit"' in (await client.get("/")).text
    async with open_context(runtime, request_id="bulk", ip="198.51.100.4") as ctx:
        for n in range(55):
            await record(ctx, Action.TOKEN_CREATED, actor=Actor.system("bulk"), data={"n": n})
        await record(
            ctx,
            Action.USER_ROLE_CHANGED,
            actor=Actor.system("cli"),
            target=("user", "u-1"),
            data={"before": ["member"], "after": ["admin"]},
        )

    page = await client.get("/admin/audit")
    assert page.status_code == 200
    assert page.text.count("<tr>") == 51  # the header row and 50 events
    assert "Older events" in page.text
    older = await client.get("/admin/audit?before=10", headers={"HX-Request": "true", "HX-Target": "audit-results"})
    assert "<html" not in older.text and 'id="audit-results"' in older.text
    assert older.text.count("<tr>") == 10  # the header row and events #1 to #9

    only_sign_ins = _results(await client.get("/admin/audit?action=auth."))
    assert "token.created" not in only_sign_ins and "auth.sign_in.succeeded" in only_sign_ins
    by_ip = await client.get("/admin/audit?ip=198.51.100.4&action=user.role.changed")
    assert by_ip.text.count("<tr>") == 2
    bad = await client.get("/admin/audit?since=not-a-date")
    assert bad.status_code == 422 and "Use a date like" in bad.text
    empty = await client.get("/admin/audit?actor=nobody@example.com")
    assert "No audit events match these filters." in empty.text

    role_change = next(line for line in by_ip.text.split('href="') if line.startswith("/admin/audit/"))
    detail = await client.get(role_change.split('"')[0])
    assert detail.status_code == 200
    assert "What changed" in detail.text and "member" in detail.text and "admin" in detail.text
    assert (await client.get("/admin/audit/99999")).status_code == 404

    exported = await client.get("/admin/audit/export?format=csv&action=token.created")
    assert exported.status_code == 200
    assert exported.text.count("token.created") == 55
    assert "auth.sign_in" not in exported.text
    latest = _results(await client.get("/admin/audit?action=audit.exported"))
    assert "Exported audit events" in latest
    assert (await client.get("/admin/audit/export?format=xml")).status_code == 422


def _results(response: httpx.Response) -> str:
    """The results region of the viewer (the filter form lists every action name)."""
    return response.text.split('id="audit-results"', 1)[1]
