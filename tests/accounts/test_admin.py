"""The roles administration page: who may open it, creating roles, assigning them, and the rules."""

from __future__ import annotations

import re

import httpx
import pytest

from fastapp.accounts import wiring
from fastapp.config import Config
from fastapp.platform.context import Runtime, open_context
from tests.accounts.conftest import STRONG, api_tokens, as_script, bearer, sign_in, verified_user
from tests.conftest import SITE, csrf_token, root_of

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def _owner(runtime: Runtime, address: str = "owner@example.com") -> None:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await wiring.accounts(runtime, ctx).create_owner(email=address, password=STRONG, display_name="Owner")


async def _set_role(runtime: Runtime, address: str, role: str) -> None:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        service = wiring.accounts(runtime, ctx)
        user = await service.find_by_email(address)
        assert user is not None
        await service.set_role(user, role, granter=None)


async def _form_token(client: httpx.AsyncClient) -> str:
    page = await client.get("/admin/roles")
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match
    return match.group(1)


async def test_only_role_managers_see_and_open_the_page(
    client: httpx.AsyncClient, config: Config, runtime: Runtime
) -> None:
    anonymous = await client.get("/admin/roles")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/sign-in?next=/admin/roles")

    await verified_user(client, config, "ada@example.com")
    await sign_in(client, "ada@example.com")
    home = await client.get("/")
    assert 'href="/admin/roles"' not in home.text
    assert (await client.get("/admin/roles")).status_code == 403

    await _set_role(runtime, "ada@example.com", "admin")  # applies on the next request
    home = await client.get("/")
    assert 'href="/admin/roles"' in home.text
    page = await client.get("/admin/roles")
    assert page.status_code == 200
    for role in ("owner", "admin", "member"):
        assert f">{role}<" in page.text
    assert "roles:manage" in page.text


async def test_create_a_role_with_inline_errors(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await _owner(runtime)
    await sign_in(client, "owner@example.com")
    token = await _form_token(client)

    bad = await client.post("/admin/roles", data={"csrf_token": token, "name": "no spaces!", "parent": "member"})
    assert bad.status_code == 422
    assert "Use 2 to 64 letters" in bad.text
    assert 'aria-invalid="true"' in bad.text
    assert 'value="no spaces!"' in bad.text  # what was typed is kept

    made = await client.post(
        "/admin/roles",
        data={
            "csrf_token": token,
            "name": "Support",
            "description": "Answers users",
            "parent": "member",
            "permissions": ["users:read"],
        },
    )
    assert made.status_code == 303  # post/redirect/get: a reload does not submit again
    shown = await client.get(made.headers["location"])
    assert "The role support was created." in shown.text
    assert re.search(r">support<.*?users:read", shown.text, re.S)
    forged = await client.get("/admin/roles?created=made-up&assigned=owner&user=owner%40example.com")
    assert "was created" not in forged.text  # a notice shows only what is true

    again = await client.post("/admin/roles", data={"csrf_token": token, "name": "support", "parent": "member"})
    assert again.status_code == 409
    assert "Already taken." in again.text


async def test_nobody_grants_what_they_do_not_hold(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await _owner(runtime)
    await sign_in(client, "owner@example.com")
    token = await _form_token(client)
    response = await client.post(
        "/admin/roles",
        data={"csrf_token": token, "name": "role-admins", "parent": "", "permissions": ["roles:manage"]},
    )
    assert response.status_code == 303
    await _owner(runtime, "second@example.com")
    await _set_role(runtime, "second@example.com", "role-admins")

    client.cookies.clear()  # a second browser, as the user who may manage roles but not users
    await sign_in(client, "second@example.com")
    token = await _form_token(client)
    page = (await client.get("/admin/roles")).text
    assert re.search(r'value="users:manage" disabled id="permission-users:manage"', page)
    refused = await client.post(
        "/admin/roles",
        data={"csrf_token": token, "name": "escalate", "parent": "", "permissions": ["users:manage"]},
    )
    assert refused.status_code == 403
    assert "permissions you do not hold" in refused.text
    above = await client.post(
        "/admin/roles/assign", data={"csrf_token": token, "email": "owner@example.com", "role": "admin"}
    )
    assert above.status_code == 403
    assert "permissions you do not hold" in above.text


async def test_assign_a_role_by_email(client: httpx.AsyncClient, config: Config, runtime: Runtime) -> None:
    await _owner(runtime)
    await verified_user(client, config, "ada@example.com")
    tokens = await api_tokens(client, "ada@example.com")
    await sign_in(client, "owner@example.com")
    token = await _form_token(client)

    unknown = await client.post(
        "/admin/roles/assign", data={"csrf_token": token, "email": "nobody@example.com", "role": "admin"}
    )
    assert unknown.status_code == 404
    assert "No account uses that email address." in unknown.text

    last_owner = await client.post(
        "/admin/roles/assign", data={"csrf_token": token, "email": "owner@example.com", "role": "member"}
    )
    assert last_owner.status_code == 409
    assert "last owner" in last_owner.text

    done = await client.post(
        "/admin/roles/assign", data={"csrf_token": token, "email": "ada@example.com", "role": "admin"}
    )
    assert done.status_code == 303
    assert "ada@example.com now has the role admin" in (await client.get(done.headers["location"])).text
    lie = await client.get("/admin/roles?assigned=owner&user=ada%40example.com")
    assert "now has the role" not in lie.text
    with as_script(client):
        me = await client.get("/api/v1/me", headers=bearer(tokens))
    assert "roles:manage" in me.json()["permissions"]


async def test_forms_need_the_csrf_token(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await _owner(runtime)
    await sign_in(client, "owner@example.com")
    await csrf_token(client, "/admin/roles")
    response = await client.post("/admin/roles", data={"name": "x", "parent": "member"}, headers={"Origin": SITE})
    assert response.status_code == 403


async def test_an_admin_opening_a_user_is_audited(client: httpx.AsyncClient, config: Config, runtime: Runtime) -> None:
    from sqlalchemy import select

    from fastapp.audit.models import AuditEvent

    await _owner(runtime)
    await verified_user(client, config, "ada@example.com")
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        ada = await wiring.accounts(runtime, ctx).find_by_email("ada@example.com")
    assert ada is not None
    await sign_in(client, "ada@example.com")
    assert (await client.get(f"/admin/users/{ada.id}")).status_code == 403  # a member may not

    client.cookies.clear()
    await sign_in(client, "owner@example.com")
    page = await client.get(f"/admin/users/{ada.id}")
    assert page.status_code == 200
    assert "ada@example.com" in page.text and "member" in page.text
    assert "Where this user is signed in" in page.text  # ada's session from her sign-in above
    assert "Created an account" in page.text  # the user's recent events
    assert (await client.get("/admin/users/not-a-uuid")).status_code == 404
    assert (await client.get("/admin/users/00000000-0000-0000-0000-000000000000")).status_code == 404

    async with runtime.backends.db.transaction() as session:
        viewed = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "admin.user.viewed"))).all()
    assert [(e.target_type, e.target_id, e.actor_label) for e in viewed] == [("user", str(ada.id), "owner@example.com")]
    detail = await client.get(f"/admin/audit/{viewed[0].seq}")
    assert f'href="/admin/users/{ada.id}"' in detail.text
