"""Identity flows in the browser's way: forms, cookies, redirects."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from fastapp.config import Config
from tests.accounts.conftest import STRONG, last_link, mails_to, sign_in, token_of, verified_user
from tests.conftest import client_for, csrf_token, make_config

SESSION_COOKIE = "fastapp_session"


async def test_sign_up_verify_sign_in_and_out(client: httpx.AsyncClient, config: Config) -> None:
    token = await csrf_token(client, "/sign-up")
    response = await client.post(
        "/sign-up", data={"email": "ada@example.com", "password": STRONG, "display_name": "Ada", "csrf_token": token}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/check-email?sent=verify"
    link = await last_link(config, "ada@example.com", "/verify-email")
    page = await client.get(link)  # opening the link changes nothing: confirming takes a POST
    assert "Confirm my email address" in page.text
    confirm = await client.post("/verify-email", data={"token": token_of(link), "csrf_token": await csrf_token(client)})
    assert confirm.status_code == 200
    assert "Email confirmed" in confirm.text
    signed_in = await sign_in(client, "ada@example.com", next="/account/security")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/account/security"
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    security = await client.get("/account/security")
    assert security.status_code == 200
    assert "Signed in as Ada" in security.text and "this device" in security.text
    sign_out = await client.post("/sign-out", data={"csrf_token": await csrf_token(client, "/account/security")})
    assert sign_out.status_code == 303
    after = await client.get("/account/security")
    assert after.status_code == 303
    assert after.headers["location"] == "/sign-in?next=/account/security"


async def test_sign_up_errors_are_shown_inline(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client, "/sign-up")
    response = await client.post(
        "/sign-up", data={"email": "not-an-email", "password": "short", "display_name": "Ada", "csrf_token": token}
    )
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.text
    assert "Enter a valid email address." in response.text
    assert 'value="Ada"' in response.text  # what was typed is kept (except the password)


async def test_wrong_password_keeps_the_email_and_says_why(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    response = await sign_in(client, "ada@example.com", "wrong password entirely")
    assert response.status_code == 422
    assert "The email or password is not correct." in response.text
    assert 'value="ada@example.com"' in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_unverified_users_only_reach_the_verify_page(client: httpx.AsyncClient, config: Config) -> None:
    token = await csrf_token(client, "/sign-up")
    await client.post(
        "/sign-up", data={"email": "new@example.com", "password": STRONG, "display_name": "New", "csrf_token": token}
    )
    response = await sign_in(client, "new@example.com")
    assert response.headers["location"] == "/verify-email/pending"
    assert (await client.get("/account/security")).headers["location"] == "/verify-email/pending"
    resend = await client.post(
        "/verify-email/resend", data={"csrf_token": await csrf_token(client, "/verify-email/pending")}
    )
    assert resend.status_code == 303
    assert len(await mails_to(config, "new@example.com")) == 2


async def test_no_session_fixation(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    client.cookies.set(SESSION_COOKIE, "attacker-chosen-token")
    response = await sign_in(client, "ada@example.com")
    issued = response.cookies.get(SESSION_COOKIE)
    assert issued is not None and issued != "attacker-chosen-token"


async def test_csrf_token_rotates_on_sign_in_and_sign_out(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    anonymous = await csrf_token(client, "/sign-in")
    await sign_in(client, "ada@example.com")
    stale = await client.post("/account/sessions/end-others", data={"csrf_token": anonymous})
    assert stale.status_code == 403
    fresh = await csrf_token(client, "/account/security")
    assert (await client.post("/account/sessions/end-others", data={"csrf_token": fresh})).status_code == 303
    await client.post("/sign-out", data={"csrf_token": fresh})
    assert (await client.post("/sign-out", data={"csrf_token": fresh})).status_code == 403


async def test_csrf_token_rotates_on_password_change(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    await sign_in(client, "ada@example.com")
    before = await csrf_token(client, "/account/security")
    changed = await client.post(
        "/account/password",
        data={"current_password": STRONG, "new_password": "a new and long passphrase 5", "csrf_token": before},
    )
    assert changed.status_code == 303
    assert (await client.post("/account/sessions/end-others", data={"csrf_token": before})).status_code == 403
    assert (await client.get("/account/security")).status_code == 200  # still signed in here


async def test_ending_another_session_signs_that_browser_out(
    client: httpx.AsyncClient, config: Config, app: object
) -> None:
    await verified_user(client, config, "ada@example.com")
    await sign_in(client, "ada@example.com")
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://testserver",
        headers={
            "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
            "AppleWebKit/605.1.15 Version/17.0 Mobile Safari/604.1"
        },
    ) as phone:
        await sign_in(phone, "ada@example.com")
        assert (await phone.get("/account/security")).status_code == 200
        page = (await client.get("/account/security")).text
        assert "Mobile Safari on iOS" in page
        end_url = re.findall(r'action="(/account/sessions/[0-9a-f-]+/end)"', page)
        assert len(end_url) == 1
        ended = await client.post(end_url[0], data={"csrf_token": await csrf_token(client, "/account/security")})
        assert ended.status_code == 303
        assert (await phone.get("/account/security")).status_code == 303  # signed out at once
    new_device = [m for m in await mails_to(config, "ada@example.com") if "New sign-in" in str(m["Subject"])]
    assert len(new_device) == 1


async def test_forgot_and_reset_password_pages(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    token = await csrf_token(client, "/password/forgot")
    response = await client.post("/password/forgot", data={"email": "ada@example.com", "csrf_token": token})
    assert response.headers["location"] == "/check-email?sent=reset"
    link = await last_link(config, "ada@example.com", "/password/reset")
    form = await client.get(link)
    assert "Choose a new password" in form.text
    weak = await client.post(
        "/password/reset", data={"token": token_of(link), "password": "weak", "csrf_token": await csrf_token(client)}
    )
    assert weak.status_code == 422 and "at least 12" in weak.text
    done = await client.post(
        "/password/reset",
        data={"token": token_of(link), "password": "brand new passphrase 3", "csrf_token": await csrf_token(client)},
    )
    assert done.status_code == 200 and "Password changed" in done.text
    assert (await sign_in(client, "ada@example.com", "brand new passphrase 3")).status_code == 303


async def test_header_shows_the_account_menu(client: httpx.AsyncClient, config: Config) -> None:
    home = (await client.get("/")).text
    assert 'href="/sign-in"' in home and 'href="/sign-up"' in home
    await verified_user(client, config, "ada@example.com")
    await sign_in(client, "ada@example.com")
    home = (await client.get("/")).text
    assert 'href="/account/security"' in home and 'action="/sign-out"' in home


async def test_only_local_next_urls(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    response = await sign_in(client, "ada@example.com", next="https://evil.example/")
    assert response.headers["location"] == "/account/security"
    response = await sign_in(client, "ada@example.com", next="//evil.example/")
    assert response.headers["location"] == "/account/security"


async def test_change_email_in_the_browser(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    await sign_in(client, "ada@example.com")
    token = await csrf_token(client, "/account/security")
    invalid = await client.post("/account/email", data={"email": "nope", "csrf_token": token})
    assert invalid.status_code == 422
    assert "Enter a valid email address." in invalid.text
    sent = await client.post("/account/email", data={"email": "ada@new.example", "csrf_token": token})
    assert sent.status_code == 200
    assert "Check your email" in sent.text
    link = await last_link(config, "ada@new.example", "/verify-email")
    confirmed = await client.post(
        "/verify-email", data={"token": token_of(link), "csrf_token": await csrf_token(client)}
    )
    assert "Email confirmed" in confirmed.text
    page = await client.get("/account/security")
    assert "Your address is ada@new.example" in page.text


async def test_password_confirmation_for_sensitive_actions(tmp_path: Path, database_url: str) -> None:
    config = make_config(tmp_path / "var", database_url, auth={"sudo_minutes": 1})
    async with client_for(config) as http:
        await verified_user(http, config, "ada@example.com")
        await sign_in(http, "ada@example.com")
        form = await http.get("/account/confirm-password?next=/account/security")
        assert form.status_code == 200
        confirm = await http.post(
            "/account/confirm-password",
            data={
                "password": "wrong password here",
                "next": "/account/security",
                "csrf_token": await csrf_token(http, "/account/security"),
            },
        )
        assert confirm.status_code == 422
        ok = await http.post(
            "/account/confirm-password",
            data={
                "password": STRONG,
                "next": "/account/security",
                "csrf_token": await csrf_token(http, "/account/security"),
            },
        )
        assert ok.status_code == 303
        assert ok.headers["location"] == "/account/security"
