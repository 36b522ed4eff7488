from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fasthtml.common import APIRouter

from fastapp.platform.errors import Conflict
from fastapp.platform.registry import Registry
from tests.conftest import client_for, csrf_token, make_config

URL = re.compile(r"""(?:src|href|action|content)=["']((?:https?:)?//[^"']+)["']""")


@pytest.fixture
def registry(registry: Registry) -> Registry:
    router = APIRouter()

    @router("/boom", methods=["get"])
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @router("/conflict", methods=["get"])
    async def conflict() -> None:
        raise Conflict("That name is taken.")

    registry.page_routers.append(router)
    return registry


async def test_home_page_describes_the_instance(client: httpx.AsyncClient, backend: str) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    html = response.text
    assert html.startswith("<!doctype html>")
    assert '<html lang="en"' in html
    assert "<h1" in html
    assert "Welcome to FastApp" in html
    assert ("PostgreSQL" if backend == "services" else "SQLite (embedded)") in html
    assert ("Redis" if backend == "services" else "in-process memory") in html
    assert 'id="main"' in html
    assert 'aria-label="Main"' in html
    assert 'id="toasts"' in html


async def test_every_kind_of_page_is_one_document(client: httpx.AsyncClient) -> None:
    """Route-returned pages, ``render_response`` pages and error pages each start with one doctype."""
    for path in ("/", "/sign-in", "/sign-up", "/password/forgot", "/no-such-page", "/api/docs"):
        text = (await client.get(path)).text
        assert text.startswith("<!doctype html>"), path
        assert text.count("<!doctype html>") == 1, path


async def test_pages_reference_no_other_origin(client: httpx.AsyncClient) -> None:
    for path in ("/", "/no-such-page", "/api/docs"):
        html = (await client.get(path)).text
        assert URL.findall(html) == [], path
        assert "<script>" not in html  # no inline script anywhere


async def test_local_assets_are_served_immutable(client: httpx.AsyncClient) -> None:
    html = (await client.get("/")).text
    assets = re.findall(r'(?:src|href)="(/static/dist/[^"]+)"', html)
    assert len(assets) >= 5
    for url in assets:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    manifest = await client.get("/static/dist/manifest.json")
    assert manifest.headers["cache-control"] == "no-cache"


async def test_htmx_request_gets_a_fragment(client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "Welcome to FastApp" in response.text


async def test_designed_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert "Page not found" in response.text
    assert "Go to the home page" in response.text
    assert response.headers["x-request-id"] in response.text


async def test_405_page(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    response = await client.delete("/", headers={"X-CSRF-Token": token})
    assert response.status_code == 405
    assert "Method not allowed" in response.text


async def test_designed_500_page_hides_the_error(capfd: pytest.CaptureFixture[str], client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")
    logged = capfd.readouterr().err
    assert '"event":"unhandled error"' in logged
    assert "kaboom" in logged
    assert response.headers["x-request-id"] in logged
    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "kaboom" not in response.text


async def test_domain_error_page_and_toast(client: httpx.AsyncClient) -> None:
    page = await client.get("/conflict")
    assert page.status_code == 409
    assert "That name is taken." in page.text
    assert "<html" in page.text
    toast = await client.get("/conflict", headers={"HX-Request": "true"})
    assert toast.status_code == 409
    assert "That name is taken." in toast.text
    assert toast.headers["hx-reswap"] == "none"
    assert "<html" not in toast.text


@pytest.mark.parametrize("mode", ["light", "dark", "system"])
async def test_theme_switch_persists_in_a_cookie(client: httpx.AsyncClient, mode: str) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/preferences/theme", data={"mode": mode}, headers={"X-CSRF-Token": token, "HX-Request": "true"}
    )
    assert response.status_code == 204
    assert response.headers["hx-trigger"] == f'{{"themeChanged":{{"mode":"{mode}"}}}}'
    page = await client.get("/")
    assert f'data-theme-mode="{mode}"' in page.text
    assert ('class="uk-theme-zinc uk-radii-md uk-shadows-sm uk-font-sm dark"' in page.text) is (mode == "dark")
    assert f'<option value="{mode}" selected>' in page.text


async def test_theme_plain_form_redirects_back(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    back = await client.post(
        "/preferences/theme",
        data={"mode": "dark", "csrf_token": token},
        headers={"Referer": "http://testserver/somewhere"},
    )
    assert back.status_code == 303
    assert back.headers["location"] == "http://testserver/somewhere"
    foreign = await client.post(
        "/preferences/theme", data={"mode": "dark", "csrf_token": token}, headers={"Referer": "https://evil.example/"}
    )
    assert foreign.headers["location"] == "/"


async def test_unknown_theme_is_refused_clearly(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    response = await client.post("/preferences/theme", data={"mode": "neon"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 422
    assert "Choose one of: system, light, dark." in response.text
    assert "fastapp_theme" not in response.headers.get("set-cookie", "")


async def test_debug_mode_names_the_exception(tmp_path: Path, database_url: str, registry: Registry) -> None:
    async with client_for(make_config(tmp_path, database_url, debug=True), registry=registry) as http:
        response = await http.get("/boom")
    assert response.status_code == 500
    assert "RuntimeError: kaboom" in response.text
