from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from starlette.requests import Request

from fastapp.platform.csrf import MULTIPART_TOKEN_WINDOW, CsrfTokens
from fastapp.platform.registry import Registry
from tests.conftest import csrf_token


def test_masked_tokens_differ_but_verify() -> None:
    tokens = CsrfTokens("k" * 40)
    secret = tokens.secret_for("session-a")
    first, second = tokens.mask(secret), tokens.mask(secret)
    assert first != second
    assert tokens.verify(first, secret)
    assert tokens.verify(second, secret)
    assert not tokens.verify(first, tokens.secret_for("session-b"))


@pytest.mark.parametrize("token", ["", "!!!", "YWJj", "A" * 88])
def test_malformed_tokens_do_not_verify(token: str) -> None:
    tokens = CsrfTokens("k" * 40)
    assert not tokens.verify(token, tokens.secret_for("s"))


def test_secret_depends_on_the_app_key() -> None:
    assert CsrfTokens("a" * 40).secret_for("s") != CsrfTokens("b" * 40).secret_for("s")


@pytest.fixture
def registry(registry: Registry) -> Registry:
    """The app's registry plus an API write route and a declared webhook exemption."""
    router = APIRouter()

    @router.post("/echo")
    async def echo(payload: dict[str, str]) -> dict[str, str]:
        return payload

    @router.post("/webhooks/test")
    async def webhook() -> dict[str, bool]:
        return {"ok": True}

    @router.post("/upload-echo")
    async def upload_echo(request: Request) -> dict[str, object]:
        async with request.form() as form:
            upload = form["file"]
            assert not isinstance(upload, str)
            data = await upload.read()
        return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    registry.api_routers.append(router)
    registry.csrf_exempt.add("/api/v1/webhooks/test")
    return registry


async def test_post_without_token_is_refused_with_a_page(client: httpx.AsyncClient) -> None:
    response = await client.post("/")
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "Request could not be verified" in response.text


async def test_anonymous_cookie_is_set_only_when_a_page_uses_a_token(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert "set-cookie" not in health.headers
    page = await client.get("/")
    assert page.headers["set-cookie"].startswith("fastapp_anon=")
    assert "HttpOnly" in page.headers["set-cookie"]
    assert "SameSite=Lax" in page.headers["set-cookie"]


async def test_header_token_is_accepted(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    response = await client.post("/preferences/theme", data={"mode": "dark"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 303


async def test_form_field_token_is_accepted_and_body_still_reaches_the_route(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    response = await client.post("/preferences/theme", data={"mode": "light", "csrf_token": token})
    assert response.status_code == 303
    assert response.cookies.get("fastapp_theme") == "light"


async def test_token_from_another_session_is_refused(client: httpx.AsyncClient, app: object) -> None:
    token = await csrf_token(client)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await csrf_token(other)  # a session of its own
        response = await other.post("/preferences/theme", data={"mode": "dark"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 403
    assert "not valid" in response.text


async def test_forged_cookie_counts_as_no_session(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    client.cookies.clear()
    client.cookies.set("fastapp_anon", "forged.value")
    response = await client.post("/preferences/theme", data={"mode": "dark"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
async def test_cross_site_requests_are_refused_even_with_a_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/preferences/theme", data={"mode": "dark"}, headers={"X-CSRF-Token": token, **headers}
    )
    assert response.status_code == 403


async def test_same_origin_headers_pass(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/preferences/theme",
        data={"mode": "dark"},
        headers={"X-CSRF-Token": token, "Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 303


async def test_api_failure_is_problem_json(client: httpx.AsyncClient) -> None:
    await csrf_token(client)  # a browser session: its cookie is an ambient credential
    response = await client.post("/api/v1/echo", json={"a": "b"})
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "/problems/csrf-failed"
    assert body["request_id"] == response.headers["x-request-id"]


async def test_api_with_cookie_session_needs_the_header(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    assert (await client.post("/api/v1/echo", json={"a": "b"})).status_code == 403
    response = await client.post("/api/v1/echo", json={"a": "b"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    assert response.json() == {"a": "b"}


async def test_bearer_requests_are_exempt(client: httpx.AsyncClient) -> None:
    await csrf_token(client)
    response = await client.post("/api/v1/echo", json={"a": "b"}, headers={"Authorization": "Bearer abc.def"})
    assert response.status_code == 200
    empty = await client.post("/api/v1/echo", json={"a": "b"}, headers={"Authorization": "Bearer "})
    assert empty.status_code == 403


async def test_declared_exemption_is_honoured(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/webhooks/test")).status_code == 200


async def test_htmx_failure_is_a_toast(client: httpx.AsyncClient) -> None:
    response = await client.post("/preferences/theme", data={"mode": "dark"}, headers={"HX-Request": "true"})
    assert response.status_code == 403
    assert response.headers["hx-reswap"] == "none"
    assert 'hx-swap-oob="beforeend:#toasts"' in response.text
    assert "<html" not in response.text


async def test_cookieless_api_requests_carry_no_credential_and_pass(client: httpx.AsyncClient) -> None:
    assert (await client.post("/api/v1/echo", json={"a": "b"})).status_code == 200
    assert (await client.post("/")).status_code == 403  # pages are never exempt
    cross = await client.post("/api/v1/echo", json={"a": "b"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403


def _multipart(fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    boundary = "fastappboundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


async def test_multipart_form_field_token_is_accepted(client: httpx.AsyncClient) -> None:
    """FastHTML forms default to multipart/form-data: browsers send the token that way."""
    token = await csrf_token(client)
    body, headers = _multipart({"csrf_token": token, "mode": "dark"})
    response = await client.post("/preferences/theme", content=body, headers=headers)
    assert response.status_code == 303
    assert response.cookies.get("fastapp_theme") == "dark"
    body, headers = _multipart({"mode": "dark"})
    assert (await client.post("/preferences/theme", content=body, headers=headers)).status_code == 403
    broken = await client.post(
        "/preferences/theme",
        content=b"--x\r\nnot multipart",
        headers={"Content-Type": "multipart/form-data; boundary=zzz"},
    )
    assert broken.status_code == 403


def _upload_body(boundary: str, fields: list[tuple[str, str | bytes]]) -> bytes:
    out = b""
    for name, value in fields:
        if isinstance(value, bytes):
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="f.bin"\r\n'
            out += head.encode() + b"Content-Type: application/octet-stream\r\n\r\n" + value + b"\r\n"
        else:
            out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    return out + f"--{boundary}--\r\n".encode()


async def _in_chunks(body: bytes, size: int = 7_001) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_a_multipart_token_before_the_file_is_found_without_holding_the_body(
    client: httpx.AsyncClient,
) -> None:
    token = await csrf_token(client)
    data = bytes(range(256)) * 3000  # 750 KiB (under the body limit), in small chunks: every byte must arrive
    headers = {"Content-Type": "multipart/form-data; boundary=b0undary"}
    body = _upload_body("b0undary", [("csrf_token", token), ("file", data)])
    accepted = await client.post("/api/v1/upload-echo", content=_in_chunks(body), headers=headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    after_file = _upload_body("b0undary", [("file", data), ("csrf_token", token)])
    refused = await client.post("/api/v1/upload-echo", content=_in_chunks(after_file), headers=headers)
    assert refused.status_code == 403  # parsing stops at the first file: the token comes first

    padding = "x" * (MULTIPART_TOKEN_WINDOW + 1)
    too_late = _upload_body("b0undary", [("note", padding), ("csrf_token", token), ("file", b"1")])
    assert (await client.post("/api/v1/upload-echo", content=too_late, headers=headers)).status_code == 403
