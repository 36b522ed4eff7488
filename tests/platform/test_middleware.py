from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from fastapp.platform.middleware import TrustedNetworks
from tests.conftest import client_for, csrf_token, make_config


async def test_request_id_is_generated_and_echoed(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/healthz", headers={"X-Request-ID": "from-client"})
    assert len(first.headers["x-request-id"]) == 32
    assert second.headers["x-request-id"] not in {"from-client", first.headers["x-request-id"]}


async def test_request_id_from_a_trusted_proxy_is_kept(tmp_path: Path, database_url: str) -> None:
    config = make_config(tmp_path, database_url, http={"trusted_proxies": ["10.0.0.0/8"]})
    async with client_for(config, client_ip="10.1.2.3") as http:
        kept = await http.get("/healthz", headers={"X-Request-ID": "edge-42", "X-Forwarded-For": "203.0.113.9"})
        assert kept.headers["x-request-id"] == "edge-42"
        bad = await http.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
        assert bad.headers["x-request-id"] != "bad id with spaces"


def test_trusted_networks_membership() -> None:
    nets = TrustedNetworks(["10.0.0.0/8", "::1"])
    assert "10.9.9.9" in nets
    assert "::1" in nets
    assert "11.0.0.1" not in nets
    assert "not-an-ip" not in nets
    assert None not in nets
    assert "10.0.0.1" not in TrustedNetworks([])


async def test_one_json_log_line_per_request(
    tmp_path: Path, database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    async with client_for(make_config(tmp_path, database_url, log_level="INFO")) as http:
        capfd.readouterr()
        response = await http.get("/healthz")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert len(requests) == 1
    event = requests[0]
    assert event["path"] == "/healthz"
    assert event["status"] == 200
    assert event["request_id"] == response.headers["x-request-id"]
    assert event["level"] == "info"
    assert event["timestamp"].endswith("Z")


async def test_no_request_line_above_info_and_a_console_line_in_console_format(
    tmp_path: Path, database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    async with client_for(make_config(tmp_path / "quiet", database_url, log_level="WARNING")) as http:
        capfd.readouterr()
        await http.get("/healthz")
    assert "/healthz" not in capfd.readouterr().err
    async with client_for(
        make_config(tmp_path / "console", database_url, log_level="INFO", log_format="console")
    ) as http:
        capfd.readouterr()
        response = await http.get("/healthz")
    line = next(line for line in capfd.readouterr().err.splitlines() if "/healthz" in line)
    assert not line.startswith("{")
    assert "request" in line
    assert response.headers["x-request-id"] in line


async def test_pages_get_the_document_policy_with_their_nonce(client: httpx.AsyncClient) -> None:
    for path in ("/", "/no-such-page", "/api/docs"):
        response = await client.get(path)
        assert response.headers["content-type"].startswith("text/html")
        headers = response.headers
        csp = headers["content-security-policy"]
        script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
        assert "unsafe-inline" not in script_src
        assert "unsafe-eval" not in script_src
        # A rendered page carries its nonce; Swagger UI (no inline code) gets none.
        assert ("'nonce-" in script_src) is (path != "/api/docs"), (path, script_src)
        assert "frame-ancestors 'none'" in csp
        assert "default-src 'self'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
        assert "camera=()" in headers["permissions-policy"]
        assert headers["cross-origin-opener-policy"] == "same-origin"
        assert "strict-transport-security" not in headers  # plain http in tests


async def test_other_responses_get_the_strictest_policy(client: httpx.AsyncClient) -> None:
    css = next(p for p in (await client.get("/")).text.split('"') if p.startswith("/static/") and p.endswith(".css"))
    for path in ("/healthz", "/api/v1/openapi.json", "/api/v1/me", css):
        headers = (await client.get(path)).headers
        assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'", path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert "referrer-policy" not in headers  # document-only headers are left off
        assert "permissions-policy" not in headers


async def test_nonce_changes_per_request_and_matches_the_page(client: httpx.AsyncClient) -> None:
    first, second = await client.get("/"), await client.get("/")
    nonces = [r.headers["content-security-policy"].split("'nonce-")[1].split("'")[0] for r in (first, second)]
    assert nonces[0] != nonces[1]
    assert f'nonce="{nonces[0]}"' in first.text


async def test_hsts_and_secure_cookie_names_over_https(tmp_path: Path, database_url: str) -> None:
    config = make_config(tmp_path, database_url, site_url="https://testserver")
    async with client_for(config) as http:
        page = await http.get("https://testserver/")
        assert page.headers["strict-transport-security"].startswith("max-age=31536000")
        assert page.headers["set-cookie"].startswith("__Host-fastapp_anon=")
        assert "Secure" in page.headers["set-cookie"]
        api = await http.get("https://testserver/api/v1/openapi.json")
        assert api.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_cdn_static_url_is_used_and_allowed(tmp_path: Path, database_url: str) -> None:
    config = make_config(tmp_path, database_url, http={"static_url": "https://cdn.example.com/static"})
    async with client_for(config) as http:
        page = await http.get("/")
        assert 'href="https://cdn.example.com/static/dist/app.' in page.text
        assert "https://cdn.example.com/static" in page.headers["content-security-policy"]


async def test_declared_oversized_body_is_refused_before_reading(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/preferences/theme",
        content=b"x" * 2_000_000,
        headers={"X-CSRF-Token": token, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 413
    api = await client.post("/api/v1/anything", content=b"x" * 2_000_000, headers={"X-CSRF-Token": token})
    assert api.status_code == 413
    assert api.json()["type"] == "/problems/payload-too-large"


async def test_streamed_oversized_body_is_cut_off(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(40):
            sent += 1
            yield b"mode=dark&" + b"x" * 65_536

    response = await client.post(
        "/preferences/theme",
        content=chunks(),
        headers={"X-CSRF-Token": token, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert "larger than the limit" in response.text


async def test_streamed_body_through_csrf_form_parsing_is_cut_off(client: httpx.AsyncClient) -> None:
    await csrf_token(client)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 65_536

    response = await client.post(
        "/preferences/theme", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(("http_version", "counted"), [("1.1", False), ("2", True)])
async def test_body_counting_is_skipped_only_where_no_body_can_follow(http_version: str, counted: bool) -> None:
    """HTTP/1.1 without Content-Length or Transfer-Encoding has no body; HTTP/2 may still send one."""
    from starlette.responses import PlainTextResponse

    from fastapp.platform.errors import DomainError
    from fastapp.platform.middleware import BodyLimitMiddleware

    async def read_all(scope: dict[str, object], receive: object, send: object) -> None:
        size = 0
        while True:
            message = await receive()  # type: ignore[operator]
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await PlainTextResponse(str(size))(scope, receive, send)  # type: ignore[arg-type]

    def responder(_scope: object, exc: DomainError) -> PlainTextResponse:
        return PlainTextResponse(exc.detail, status_code=413)

    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True} for _ in range(3)]
    chunks.append({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return chunks.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "http_version": http_version, "headers": []}
    await BodyLimitMiddleware(read_all, max_bytes=1000, responder=responder)(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == (413 if counted else 200)
