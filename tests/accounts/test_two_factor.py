"""Two-factor sign-in: set-up in two steps, codes once only, recovery codes, API and pages."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pyotp

from fastapp.config import Config
from tests.accounts.conftest import STRONG, api_tokens, mails_to, sign_in, verified_user
from tests.conftest import csrf_token


async def enable(client: httpx.AsyncClient, config: Config, address: str = "ada@example.com") -> tuple[str, list[str]]:
    """Sign in through the pages and turn two-factor sign-in on; returns the secret and codes."""
    await verified_user(client, config, address)
    await sign_in(client, address)
    token = await csrf_token(client, "/account/security")
    page = await client.post("/account/two-factor/begin", data={"csrf_token": token})
    assert page.status_code == 200
    assert "<svg" in page.text  # the QR code, rendered on the server
    secret = re.search(r"<code[^>]*>([A-Z2-7]+)</code>", page.text)
    assert secret
    wrong = await client.post("/account/two-factor/confirm", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 422
    done = await client.post(
        "/account/two-factor/confirm", data={"code": pyotp.TOTP(secret.group(1)).now(), "csrf_token": token}
    )
    assert done.status_code == 200
    codes = re.findall(r"\b[a-z2-9]{5}-[a-z2-9]{5}\b", unescape(done.text))
    assert len(codes) == 10
    return secret.group(1), codes


async def test_enable_then_sign_in_needs_the_code(client: httpx.AsyncClient, config: Config, app: object) -> None:
    _secret, codes = await enable(client, config)
    assert any("is on" in str(m["Subject"]) for m in await mails_to(config, "ada@example.com"))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        step = await sign_in(other, "ada@example.com")
        assert step.status_code == 200
        assert "Two-factor sign-in" in step.text
        assert "fastapp_session" not in step.headers.get("set-cookie", "")
        pending = re.search(r'name="pending" value="([^"]+)"', step.text)
        assert pending
        token = await csrf_token(other, "/sign-in")
        bad = await other.post(
            "/sign-in/second-factor", data={"pending": pending.group(1), "code": "123456", "csrf_token": token}
        )
        assert bad.status_code == 422
        good = await other.post(
            "/sign-in/second-factor",
            data={"pending": pending.group(1), "csrf_token": token, "code": codes[0]},
        )
        assert good.status_code == 303
        assert (await other.get("/account/security")).status_code == 200


async def test_codes_work_once(client: httpx.AsyncClient, config: Config) -> None:
    secret, codes = await enable(client, config)
    # The set-up already used the current code: it cannot be replayed to sign in.
    replay = await client.post(
        "/api/v1/auth/token",
        json={"email": "ada@example.com", "password": STRONG, "otp": pyotp.TOTP(secret).now()},
        headers={"Authorization": "Bearer -"},
    )
    assert replay.status_code == 401
    assert replay.json()["otp_required"] is True
    first = await client.post(
        "/api/v1/auth/token",
        json={"email": "ada@example.com", "password": STRONG, "otp": codes[0]},
        headers={"Authorization": "Bearer -"},
    )
    assert first.status_code == 200
    again = await client.post(
        "/api/v1/auth/token",
        json={"email": "ada@example.com", "password": STRONG, "otp": codes[0]},
        headers={"Authorization": "Bearer -"},
    )
    assert again.status_code == 401


async def test_api_asks_for_the_code(client: httpx.AsyncClient, config: Config) -> None:
    await enable(client, config)
    response = await client.post(
        "/api/v1/auth/token",
        json={"email": "ada@example.com", "password": STRONG},
        headers={"Authorization": "Bearer -"},
    )
    assert response.status_code == 401
    assert response.json()["otp_required"] is True


async def test_disable_needs_password_and_code(client: httpx.AsyncClient, config: Config) -> None:
    _secret, codes = await enable(client, config)
    token = await csrf_token(client, "/account/security")
    wrong = await client.post(
        "/account/two-factor/disable", data={"password": "not my password", "code": codes[1], "csrf_token": token}
    )
    assert wrong.status_code == 422
    ok = await client.post(
        "/account/two-factor/disable", data={"password": STRONG, "code": codes[1], "csrf_token": token}
    )
    assert ok.status_code == 303
    assert any("is off" in str(m["Subject"]) for m in await mails_to(config, "ada@example.com"))
    await api_tokens(client, "ada@example.com")  # no code needed any more
