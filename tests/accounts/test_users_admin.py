"""The user list page ``/admin/users``: who may open it, search, filters, paging, empty state, errors."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from fastapp.accounts import wiring
from fastapp.accounts.models import User
from fastapp.audit.models import AuditEvent
from fastapp.config import Config
from fastapp.notifications.models import Notification
from fastapp.platform.context import Runtime, open_context
from tests.accounts.conftest import STRONG, mails_to, register, sign_in, verified_user
from tests.accounts.test_directory import BASE, add_users
from tests.conftest import SITE, root_of

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def owner(runtime: Runtime, client: httpx.AsyncClient, address: str = "owner@example.com") -> None:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await wiring.accounts(runtime, ctx).create_owner(email=address, password=STRONG, display_name="Owner")
    await sign_in(client, address)


async def test_only_user_readers_open_the_list(client: httpx.AsyncClient, config: Config) -> None:
    anonymous = await client.get("/admin/users")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/sign-in?next=/admin/users")
    await verified_user(client, config, "member@example.com")
    await sign_in(client, "member@example.com")
    assert (await client.get("/admin/users")).status_code == 403
    assert 'href="/admin/users"' not in (await client.get("/")).text


async def test_list_search_and_filters(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await owner(runtime, client)
    await add_users(
        runtime,
        [
            {"email": "ada@example.com", "name": "Ada Lovelace", "two_factor": True},
            {"email": "grace@example.com", "name": "Grace Hopper", "status": "pending", "verified": False},
        ],
    )
    page = await client.get("/admin/users")
    assert page.status_code == 200
    assert 'href="/admin/users"' in page.text  # in the navigation for user readers
    for name in ("Ada Lovelace", "Grace Hopper", "Owner"):
        assert name in page.text
    assert '<label for="users-q"' in page.text
    assert 'role="search"' in page.text

    found = await client.get("/admin/users", params={"q": "LOVELACE"})
    assert "Ada Lovelace" in found.text
    assert "Grace Hopper" not in found.text
    assert 'value="LOVELACE"' in found.text  # the filter stays filled in

    pending = await client.get("/admin/users", params={"status": "pending"})
    assert "Grace Hopper" in pending.text
    assert "Ada Lovelace" not in pending.text

    owners = await client.get("/admin/users", params={"role": "owner"})
    assert "Owner" in owners.text
    assert "Ada Lovelace" not in owners.text

    none = await client.get("/admin/users", params={"q": "nobody-here"})
    assert none.status_code == 200
    assert "No users match" in none.text


async def test_pages_follow_the_cursor_and_keep_the_filters(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await owner(runtime, client)
    await add_users(
        runtime, [{"email": f"bulk{i:02d}@example.com", "created": BASE + timedelta(minutes=i)} for i in range(60)]
    )
    first = await client.get("/admin/users", params={"q": "bulk"})
    assert first.text.count("@example.com</span>") == 50
    match = re.search(r'<a href="(/admin/users\?[^"]*cursor=[^"]+)"[^>]*rel="next"', first.text)
    assert match, first.text
    link = match.group(1).replace("&amp;", "&")
    assert "q=bulk" in link
    second = await client.get(link)
    assert second.status_code == 200
    assert second.text.count("@example.com</span>") == 10
    assert "bulk00@example.com" in second.text  # oldest last
    assert "bulk59@example.com" not in second.text
    assert 'rel="next"' not in second.text
    assert "First page" in second.text


async def test_bad_filters_are_inline_errors(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await owner(runtime, client)
    bad = await client.get("/admin/users", params={"created_from": "2026-02-10", "created_to": "2026-02-01"})
    assert bad.status_code == 422
    assert "Choose a day on or after the first day." in bad.text
    assert 'aria-invalid="true"' in bad.text
    forged = await client.get("/admin/users", params={"cursor": "garbage"})
    assert forged.status_code == 422
    assert "no longer valid" in forged.text


async def _user_id(runtime: Runtime, address: str) -> uuid.UUID:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        user = await wiring.accounts(runtime, ctx).find_by_email(address)
        assert user is not None
        return user.id


async def _audited(runtime: Runtime, action: str, target: uuid.UUID) -> list[dict[str, object]]:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        rows = await ctx.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action, AuditEvent.target_id == str(target))
        )
        return [json.loads(r.data) for r in rows]


async def _kinds(runtime: Runtime, user_id: uuid.UUID) -> list[str]:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        return list((await ctx.session.scalars(select(Notification.kind).where(Notification.user_id == user_id))).all())


async def test_deactivate_ends_sessions_and_reactivate_notifies(
    app: object, client: httpx.AsyncClient, runtime: Runtime, config: Config
) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as member:
        await verified_user(member, config, "member@example.com")
        await sign_in(member, "member@example.com")
        assert (await member.get("/account/security")).status_code == 200
        ident = await _user_id(runtime, "member@example.com")
        await owner(runtime, client)

        detail = await client.get(f"/admin/users/{ident}")
        assert detail.status_code == 200
        assert 'data-confirm="Deactivate member@example.com?' in detail.text
        token = CSRF_FIELD.search(detail.text)
        assert token
        done = await client.post(f"/admin/users/{ident}/deactivate", data={"csrf_token": token.group(1)})
        assert done.status_code == 303
        assert done.headers["location"] == f"/admin/users/{ident}?done=deactivate"
        shown = await client.get(done.headers["location"])
        assert "The account was deactivated" in shown.text
        assert ">Reactivate<" in shown.text

        # the member's session is gone at once
        assert (await member.get("/account/security")).status_code == 303
        [event] = await _audited(runtime, "user.deactivated", ident)
        assert event["before"] == {"status": "active"}
        assert event["after"] == {"status": "deactivated"}
        listed = await client.get("/admin/users", params={"status": "deactivated"})
        assert "member@example.com" in listed.text

        again = await client.post(f"/admin/users/{ident}/deactivate", data={"csrf_token": token.group(1)})
        assert again.status_code == 409

        back = await client.post(f"/admin/users/{ident}/reactivate", data={"csrf_token": token.group(1)})
        assert back.status_code == 303
        assert "account.reactivated" in await _kinds(runtime, ident)
        assert (await sign_in(member, "member@example.com")).status_code == 303


async def test_role_password_reset_and_verification_actions(
    client: httpx.AsyncClient, runtime: Runtime, config: Config
) -> None:
    await verified_user(client, config, "member@example.com")
    await register(client, "pending@example.com")
    await owner(runtime, client)
    member = await _user_id(runtime, "member@example.com")
    pending = await _user_id(runtime, "pending@example.com")
    detail = await client.get(f"/admin/users/{member}")
    token = CSRF_FIELD.search(detail.text)
    assert token
    csrf = {"csrf_token": token.group(1)}
    assert '<label for="user-role"' in detail.text
    assert "Files: 0 bytes of" in detail.text
    assert "Resend verification email" not in detail.text  # verified already

    role = await client.post(f"/admin/users/{member}/role", data={**csrf, "role": "admin"})
    assert role.status_code == 303
    assert "account.role_granted" in await _kinds(runtime, member)
    [change] = await _audited(runtime, "user.role.changed", member)
    assert change == {"before": ["member"], "after": ["admin"]}

    reset = await client.post(f"/admin/users/{member}/require-password-reset", data=csrf)
    assert reset.status_code == 303
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        user = await ctx.session.get(User, member)
        assert user is not None
        assert user.password_reset_required is True
    assert "account.password_reset_required" in await _kinds(runtime, member)

    before = len(await mails_to(config, "pending@example.com"))
    assert "Resend verification email" in (await client.get(f"/admin/users/{pending}")).text
    sent = await client.post(f"/admin/users/{pending}/resend-verification", data=csrf)
    assert sent.status_code == 303
    assert len(await mails_to(config, "pending@example.com")) == before + 1
    assert (await client.post(f"/admin/users/{member}/resend-verification", data=csrf)).status_code == 409


async def test_action_rules(app: object, client: httpx.AsyncClient, runtime: Runtime, config: Config) -> None:
    await owner(runtime, client)
    me = await _user_id(runtime, "owner@example.com")
    token = CSRF_FIELD.search((await client.get(f"/admin/users/{me}")).text)
    assert token
    csrf = {"csrf_token": token.group(1)}
    assert (await client.post(f"/admin/users/{me}/deactivate", data=csrf)).status_code == 409
    assert (await client.post(f"/admin/users/{me}/role", data={**csrf, "role": "member"})).status_code == 409
    assert (await client.post(f"/admin/users/{uuid.uuid4()}/deactivate", data=csrf)).status_code == 404
    assert (await client.post(f"/admin/users/{me}/explode", data=csrf)).status_code == 404
    # an account waiting to be erased is handled from the pending erasures, not deactivated here
    await verified_user(client, config, "leaving@example.com")
    leaving = await _user_id(runtime, "leaving@example.com")
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        user = await ctx.session.get(User, leaving)
        assert user is not None
        user.status = "deletion_requested"
    refused = await client.post(f"/admin/users/{leaving}/deactivate", data=csrf)
    assert refused.status_code == 409
    assert "waiting to be erased" in refused.text
    without_csrf = await client.post(f"/admin/users/{me}/end-sessions")
    assert without_csrf.status_code == 403

    # a support role (users:read, users:manage only) may not act on an owner, who holds more
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as support:
        await verified_user(support, config, "support@example.com")
        async with open_context(runtime, request_id="t", ip=None) as ctx:
            service = wiring.accounts(runtime, ctx)
            await service.create_role(
                name="support",
                description="",
                parent="member",
                permissions={"users:read", "users:manage"},
                granter=frozenset({"users:read", "users:manage"}),
            )
            found = await service.find_by_email("support@example.com")
            assert found is not None
            await service.set_role(found, "support", granter=None)
        await sign_in(support, "support@example.com")
        page = await support.get(f"/admin/users/{me}")
        assert page.status_code == 200
        support_token = CSRF_FIELD.search(page.text)
        assert support_token
        refused = await support.post(f"/admin/users/{me}/deactivate", data={"csrf_token": support_token.group(1)})
        assert refused.status_code == 403
        # and the role list offers only roles it may grant
        assert '<option value="admin"' not in page.text


async def test_bulk_deactivate_reviews_then_applies_in_one_transaction(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    await owner(runtime, client)
    await add_users(runtime, [{"email": f"team{i}@example.com", "name": f"Team {i}"} for i in range(3)])
    ids = [await _user_id(runtime, f"team{i}@example.com") for i in range(3)]
    me = await _user_id(runtime, "owner@example.com")

    page = await client.get("/admin/users")
    assert f'<label for="select-{ids[0]}" class="sr-only">Select team0@example.com</label>' in page.text
    assert 'action="/admin/users-bulk"' in page.text

    review = await client.get("/admin/users-bulk", params={"ids": [str(ids[0]), str(ids[1])], "action": "deactivate"})
    assert review.status_code == 200
    assert "Deactivate: 2 users" in review.text
    assert "team0@example.com" in review.text
    assert "team2@example.com" not in review.text
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        assert all(u.status == "active" for u in (await ctx.session.scalars(select(User))).all())  # nothing yet
    token = CSRF_FIELD.search(review.text)
    assert token

    # including yourself refuses the whole selection: nobody is changed
    refused = await client.post(
        "/admin/users-bulk",
        data={"csrf_token": token.group(1), "action": "deactivate", "ids": [str(ids[0]), str(me)]},
    )
    assert refused.status_code == 409
    assert "owner@example.com: You cannot deactivate your own account here. Nothing was changed." in refused.text
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        first = await ctx.session.get(User, ids[0])
        assert first is not None
        assert first.status == "active"

    done = await client.post(
        "/admin/users-bulk",
        data={"csrf_token": token.group(1), "action": "deactivate", "ids": [str(ids[0]), str(ids[1])]},
    )
    assert done.status_code == 303
    shown = await client.get(done.headers["location"])
    assert "The selected users were deactivated." in shown.text
    for ident in ids[:2]:
        assert len(await _audited(runtime, "user.deactivated", ident)) == 1
    assert await _audited(runtime, "user.deactivated", ids[2]) == []

    assigned = await client.post(
        "/admin/users-bulk",
        data={"csrf_token": token.group(1), "action": "role", "role": "admin", "ids": [str(i) for i in ids]},
    )
    assert assigned.status_code == 303
    admins = await client.get("/admin/users", params={"role": "admin"})
    assert all(f"team{i}@example.com" in admins.text for i in range(3))

    nothing = await client.get("/admin/users-bulk", params={"action": "deactivate"})
    assert nothing.status_code == 422


async def test_a_required_password_reset_is_honoured_at_sign_in(
    app: object, client: httpx.AsyncClient, runtime: Runtime, config: Config
) -> None:
    await owner(runtime, client)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as member:
        await verified_user(member, config, "member@example.com")
        ident = await _user_id(runtime, "member@example.com")
        token = CSRF_FIELD.search((await client.get(f"/admin/users/{ident}")).text)
        assert token
        done = await client.post(f"/admin/users/{ident}/require-password-reset", data={"csrf_token": token.group(1)})
        assert done.status_code == 303

        signed = await sign_in(member, "member@example.com")
        assert signed.status_code == 303
        assert signed.headers["location"].startswith("/password/reset?token=")
        assert (await member.get("/account/security")).status_code == 303  # no session was started
        form = await member.get(signed.headers["location"])
        csrf = CSRF_FIELD.search(form.text)
        assert csrf
        reset_token = signed.headers["location"].split("token=", 1)[1]
        new_password = STRONG + "-new"
        changed = await member.post(
            "/password/reset", data={"csrf_token": csrf.group(1), "token": reset_token, "password": new_password}
        )
        assert changed.status_code == 200, changed.text
        async with open_context(runtime, request_id="t", ip=None) as ctx:
            user = await ctx.session.get(User, ident)
            assert user is not None
            assert user.password_reset_required is False
        again = await sign_in(member, "member@example.com", new_password)
        assert again.status_code == 303
        assert not again.headers["location"].startswith("/password/reset")
        assert (await member.get("/account/security")).status_code == 200
