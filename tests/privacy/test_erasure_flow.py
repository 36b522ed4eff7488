"""Asking for erasure and cancelling it at sign-in: the account locks at once (sessions, API
tokens), a wrong confirmation, a stale sign-in or the last owner change nothing, and cancelling
during the grace period restores access."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select

from fastapp.accounts import wiring
from fastapp.accounts.models import User
from fastapp.audit.models import AuditEvent
from fastapp.config import Config
from fastapp.platform.context import Runtime, open_context
from fastapp.privacy.models import ErasureRequest
from tests.accounts.conftest import STRONG, api_tokens, as_script, bearer, mails_to, sign_in, text_of, verified_user
from tests.conftest import csrf_token, root_of

ADA = "ada@example.com"
TOKEN_FIELD = re.compile(r'name="token" value="([^"]+)"')


class Shifted:
    """The test clock: the real time moved by ``offset``."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def move_clock(runtime: Runtime, offset: timedelta) -> None:
    runtime.backends = replace(runtime.backends, clock=Shifted(offset))


async def user_named(runtime: Runtime, address: str) -> User:
    async with runtime.backends.db.transaction() as session:
        user = await session.scalar(select(User).where(User.email_key == address.lower()))
        assert user is not None
        return user


async def requests_of(runtime: Runtime, user_id: uuid.UUID) -> list[ErasureRequest]:
    async with runtime.backends.db.transaction() as session:
        return list(await session.scalars(select(ErasureRequest).where(ErasureRequest.user_id == user_id)))


async def actions(runtime: Runtime, prefix: str = "privacy.erasure") -> list[str]:
    async with runtime.backends.db.transaction() as session:
        rows = await session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.startswith(prefix)).order_by(AuditEvent.seq)
        )
        return list(rows)


async def make_owner(runtime: Runtime, address: str) -> None:
    async with open_context(runtime, request_id="test", ip=None) as ctx:
        await wiring.accounts(runtime, ctx).create_owner(email=address, password=STRONG, display_name="Olive Owner")


async def ask(client: httpx.AsyncClient, confirm: str, **headers: str) -> httpx.Response:
    token = await csrf_token(client, "/privacy")
    return await client.post("/privacy/erasure", data={"confirm": confirm, "csrf_token": token}, headers=headers)


async def test_request_locks_the_account_and_signing_in_offers_to_cancel(
    app: object, client: httpx.AsyncClient, config: Config
) -> None:
    runtime: Runtime = root_of(app).state.runtime
    await verified_user(client, config, ADA)
    tokens = await api_tokens(client, ADA)
    assert (await sign_in(client, ADA)).status_code == 303
    page = await client.get("/privacy")
    assert "Delete my account" in page.text and f"type your email address ({ADA})" in page.text

    wrong = await ask(client, "someone@example.com")
    assert wrong.status_code == 422
    assert "Type the email address of your account exactly as shown." in wrong.text
    htmx = await ask(client, "", **{"HX-Request": "true"})
    assert htmx.status_code == 422 and htmx.text.lstrip().startswith("<div")  # the section alone, to swap
    user = await user_named(runtime, ADA)
    assert user.status == "active" and await requests_of(runtime, user.id) == []

    old_cookie = dict(client.cookies)
    done = await ask(client, " ADA@example.com ")  # the address as typed: case and spaces do not matter
    assert done.status_code == 303
    assert done.headers["location"].startswith("/account/deletion-scheduled?due=")
    assert 'fastapp_session=""' in done.headers["set-cookie"] or "Max-Age=0" in done.headers["set-cookie"]
    landing = await client.get(done.headers["location"])
    assert "Your account will be deleted" in landing.text and "Sign in to cancel" in landing.text

    # Locked: the old cookie, the API access token, and new API tokens are all refused.
    client.cookies.update(old_cookie)
    assert (await client.get("/privacy")).status_code == 303
    client.cookies.clear()
    with as_script(client):
        assert (await client.get("/api/v1/me", headers=bearer(tokens))).status_code == 401
        refused = await client.post("/api/v1/auth/token", json={"email": ADA, "password": STRONG})
    assert refused.status_code == 403 and refused.json()["type"].endswith("account-deletion-pending")
    assert "Sign in on the website to cancel" in refused.json()["detail"]
    user = await user_named(runtime, ADA)
    assert user.status == "deletion_requested"
    [request] = await requests_of(runtime, user.id)
    grace = request.due_at - request.requested_at
    assert request.status == "scheduled" and grace == timedelta(days=config.privacy.erasure_grace_days)
    [mail] = [m for m in await mails_to(config, ADA) if "will be deleted" in str(m["Subject"])]
    assert request.due_at.strftime("%Y-%m-%d %H:%M UTC") in text_of(mail)
    assert "Cancel the deletion and sign in" in text_of(mail)

    # A wrong password gets the usual answer; the right one the offer, without a session.
    assert "Cancel the deletion" not in (await sign_in(client, ADA, "not the password at all")).text
    offer = await sign_in(client, ADA)
    assert offer.status_code == 200 and "Cancel the deletion and sign in" in offer.text
    assert "fastapp_session=" not in offer.headers.get("set-cookie", "")
    match = TOKEN_FIELD.search(offer.text)
    assert match
    forged = await client.post(
        "/account/deletion/cancel", data={"token": "forged", "csrf_token": await csrf_token(client, "/sign-in")}
    )
    assert forged.status_code == 422 and (await user_named(runtime, ADA)).status == "deletion_requested"

    back = await client.post(
        "/account/deletion/cancel", data={"token": match.group(1), "csrf_token": await csrf_token(client, "/sign-in")}
    )
    assert back.status_code == 303 and back.headers["location"] == "/privacy?erasure=cancelled#delete-account"
    welcome = await client.get("/privacy?erasure=cancelled")
    assert welcome.status_code == 200 and "The deletion of your account is cancelled" in welcome.text
    assert (await user_named(runtime, ADA)).status == "active"
    [request] = await requests_of(runtime, user.id)
    assert request.status == "cancelled" and request.cancelled_at is not None
    again = await client.post(
        "/account/deletion/cancel", data={"token": match.group(1), "csrf_token": await csrf_token(client, "/sign-in")}
    )
    assert again.status_code == 422  # a cancel token works once
    assert await actions(runtime) == ["privacy.erasure.requested", "privacy.erasure.cancelled"]
    with as_script(client):
        assert (await client.post("/api/v1/auth/token", json={"email": ADA, "password": STRONG})).status_code == 200


async def test_a_stale_sign_in_confirms_the_password_first(
    app: object, client: httpx.AsyncClient, config: Config
) -> None:
    runtime: Runtime = root_of(app).state.runtime
    await verified_user(client, config, ADA)
    assert (await sign_in(client, ADA)).status_code == 303
    move_clock(runtime, timedelta(minutes=config.auth.sudo_minutes + 1))
    stale = await ask(client, ADA)
    assert stale.status_code == 303
    assert stale.headers["location"] == "/account/confirm-password?next=/privacy%23delete-account"
    user = await user_named(runtime, ADA)
    assert user.status == "active" and await requests_of(runtime, user.id) == []
    token = await csrf_token(client, "/account/confirm-password")
    confirmed = await client.post(
        "/account/confirm-password", data={"password": STRONG, "next": "/privacy#delete-account", "csrf_token": token}
    )
    assert confirmed.status_code == 303
    assert (await ask(client, ADA)).status_code == 303
    assert (await user_named(runtime, ADA)).status == "deletion_requested"


async def test_the_last_owner_is_refused_and_nothing_is_written(
    app: object, client: httpx.AsyncClient, config: Config
) -> None:
    runtime: Runtime = root_of(app).state.runtime
    await make_owner(runtime, "olive@example.com")
    assert (await sign_in(client, "olive@example.com")).status_code == 303
    page = await client.get("/privacy")
    assert "You are the last owner" in page.text and "Delete my account" not in page.text
    refused = await ask(client, "olive@example.com")
    assert refused.status_code == 409 and "make someone else an owner" in refused.text
    tokens = await api_tokens(client, "olive@example.com")
    with as_script(client):
        api = await client.post("/api/v1/me/erasure", json={"confirm": "olive@example.com"}, headers=bearer(tokens))
    assert api.status_code == 409 and "last owner" in api.json()["detail"]
    owner = await user_named(runtime, "olive@example.com")
    assert owner.status == "active" and await requests_of(runtime, owner.id) == []
    assert await actions(runtime) == []

    # A second active owner lifts the refusal.
    await make_owner(runtime, "otto@example.com")
    assert "Delete my account" in (await client.get("/privacy")).text


async def test_the_api_asks_reports_and_locks(app: object, client: httpx.AsyncClient, config: Config) -> None:
    runtime: Runtime = root_of(app).state.runtime
    await verified_user(client, config, ADA)
    tokens = await api_tokens(client, ADA)
    with as_script(client):
        none = await client.get("/api/v1/me/erasure", headers=bearer(tokens))
        assert none.status_code == 200 and none.json()["status"] == "none"
        wrong = await client.post("/api/v1/me/erasure", json={"confirm": "nope"}, headers=bearer(tokens))
        assert wrong.status_code == 422 and wrong.headers["content-type"].startswith("application/problem+json")
        done = await client.post("/api/v1/me/erasure", json={"confirm": ADA}, headers=bearer(tokens))
        assert done.status_code == 202, done.text
        body = done.json()
        assert body["status"] == "scheduled" and body["due_at"]
        assert (await client.get("/api/v1/me/erasure", headers=bearer(tokens))).status_code == 401
    user = await user_named(runtime, ADA)
    async with runtime.backends.db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(ErasureRequest))
    assert user.status == "deletion_requested" and count == 1


async def test_with_two_factor_on_the_offer_comes_after_the_code(
    app: object, client: httpx.AsyncClient, config: Config
) -> None:
    from tests.accounts.test_two_factor import enable

    runtime: Runtime = root_of(app).state.runtime
    _secret, codes = await enable(client, config, ADA)
    assert (await ask(client, ADA)).status_code == 303
    step = await sign_in(client, ADA)
    assert "Two-factor sign-in" in step.text and "Cancel the deletion" not in step.text
    pending = re.search(r'name="pending" value="([^"]+)"', step.text)
    assert pending
    token = await csrf_token(client, "/sign-in")
    offer = await client.post(
        "/sign-in/second-factor", data={"pending": pending.group(1), "code": codes[0], "csrf_token": token}
    )
    assert offer.status_code == 200 and "Cancel the deletion and sign in" in offer.text
    match = TOKEN_FIELD.search(offer.text)
    assert match
    back = await client.post("/account/deletion/cancel", data={"token": match.group(1), "csrf_token": token})
    assert back.status_code == 303
    assert (await client.get("/account/security")).status_code == 200
    assert (await user_named(runtime, ADA)).status == "active"


async def test_with_htmx_the_browser_is_sent_to_the_scheduled_page(
    app: object, client: httpx.AsyncClient, config: Config
) -> None:
    await verified_user(client, config, ADA)
    assert (await sign_in(client, ADA)).status_code == 303
    done = await ask(client, ADA, **{"HX-Request": "true"})
    assert done.status_code == 204 and done.headers["hx-redirect"].startswith("/account/deletion-scheduled?due=")
    assert "Max-Age=0" in done.headers["set-cookie"] or 'fastapp_session=""' in done.headers["set-cookie"]
    assert "the end of the grace period" in (await client.get("/account/deletion-scheduled?due=tomorrow")).text
    assert "the end of the grace period" in (await client.get("/account/deletion-scheduled?due=2030-01-01")).text


async def test_cancelling_asks_first_for_a_password_an_administrator_required(
    app: object, client: httpx.AsyncClient, config: Config
) -> None:
    runtime: Runtime = root_of(app).state.runtime
    await verified_user(client, config, ADA)
    assert (await sign_in(client, ADA)).status_code == 303
    assert (await ask(client, ADA)).status_code == 303
    async with runtime.backends.db.transaction() as session:
        user = await session.scalar(select(User).where(User.email_key == ADA))
        assert user is not None
        user.password_reset_required, user.theme = True, "dark"
    offer = await sign_in(client, ADA)
    match = TOKEN_FIELD.search(offer.text)
    assert match
    token = await csrf_token(client, "/sign-in")
    back = await client.post("/account/deletion/cancel", data={"token": match.group(1), "csrf_token": token})
    assert back.status_code == 303 and back.headers["location"].startswith("/password/reset?token=")
    assert (await user_named(runtime, ADA)).status == "active"
    assert (await client.get("/privacy")).status_code == 303  # no session until the new password
