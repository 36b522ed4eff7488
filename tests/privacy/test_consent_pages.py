"""The consent banner, the Choose page, the /privacy consent section and the script helper,
through the whole app, for a visitor and for a signed-in user (plain forms and HTMX)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fasthtml.common import APIRouter, Div
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse

from fastapp.platform.context import Runtime
from fastapp.platform.privacy import CONSENT_COOKIE, VISITOR_COOKIE
from fastapp.platform.registry import Registry
from fastapp.privacy.consent import services
from fastapp.privacy.consent.web import ConsentedScript
from fastapp.privacy.models import ConsentRecord
from fastapp.ui.request import render_response
from tests.accounts.conftest import sign_in
from tests.conftest import csrf_token
from tests.privacy.test_consent import acting, make_user

HTMX = {"HX-Request": "true"}
BANNER = 'id="consent-banner"'
SCRIPT_SRC = "/static/stats.js"

probe = APIRouter()


@probe("/test/consent-script", methods=["get"])
async def consent_script_probe(request: Request) -> HTMLResponse:
    """An application page that adds an analytics script only with consent."""
    script = await ConsentedScript(request, "analytics", src=SCRIPT_SRC)
    inline = await ConsentedScript(request, "marketing", code="window.ads = 1;")
    none = await ConsentedScript(request, "analytics")
    unknown = await ConsentedScript(request, "nope", src=SCRIPT_SRC)
    return render_response(request, "Probe", Div(script, inline, none, unknown, id="probe"))


@pytest.fixture
def registry(registry: Registry) -> Registry:
    registry.page_routers.append(probe)
    return registry


@pytest.fixture
def runtime(app: object) -> Runtime:
    from tests.conftest import root_of

    found: Runtime = root_of(app).state.runtime
    return found


async def all_records(runtime: Runtime) -> list[ConsentRecord]:
    async with runtime.backends.db.transaction() as session:
        return list((await session.scalars(select(ConsentRecord))).all())


def probe_scripts(html: str) -> list[str]:
    found = re.search(r'<div id="probe">(.*?)</div>', html, re.S)
    assert found is not None
    return re.findall(r"<script[^>]*>", found.group(1))


async def signed_in_user(client: httpx.AsyncClient, runtime: Runtime) -> uuid.UUID:
    ada = await make_user(runtime)
    response = await sign_in(client, "ada@example.com")
    assert response.status_code == 303, response.text
    return ada


# -- visitors --------------------------------------------------------------------------------------


async def test_a_visitor_sees_the_banner_until_rejecting_all(client: httpx.AsyncClient, runtime: Runtime) -> None:
    home = await client.get("/")
    assert BANNER in home.text
    assert re.search(r'<section aria-labelledby="consent-banner-title" id="consent-banner"', home.text)
    assert '<h2 id="consent-banner-title"' in home.text
    for label in ("Accept all", "Reject all", "Choose"):
        assert f">{label}</" in home.text
    # Equally prominent: the three controls carry the same classes.
    classes = re.findall(r'class="([^"]*)"[^>]*>(?:Accept all|Reject all|Choose)<', home.text)
    assert len(classes) == 3 and len(set(classes)) == 1
    assert VISITOR_COOKIE not in client.cookies and CONSENT_COOKIE not in client.cookies

    token = await csrf_token(client, "/privacy-probe-404")  # any page: the banner is on error pages too
    response = await client.post("/consent", data={"choice": "reject", "next": "/sign-in?x=1", "csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/sign-in?x=1"
    visitor = client.cookies[VISITOR_COOKIE]
    assert services.is_visitor_id(visitor) and client.cookies[CONSENT_COOKIE]
    made = await all_records(runtime)
    assert {(r.purpose, r.granted, r.visitor_id, r.user_id, r.source) for r in made} == {
        (key, False, visitor, None, "banner") for key in ("preferences", "analytics", "marketing")
    }
    assert BANNER not in (await client.get("/")).text
    assert probe_scripts((await client.get("/test/consent-script")).text) == []


async def test_accept_all_by_htmx_removes_the_banner_with_a_toast(client: httpx.AsyncClient, runtime: Runtime) -> None:
    token = await csrf_token(client)
    response = await client.post("/consent", data={"choice": "accept", "csrf_token": token}, headers=HTMX)
    assert response.status_code == 200
    assert 'hx-swap-oob="beforeend:#toasts"' in response.text and "choices are saved" in response.text
    assert BANNER not in response.text
    assert {r.purpose for r in await all_records(runtime) if r.granted} == {"preferences", "analytics", "marketing"}
    page = (await client.get("/test/consent-script")).text
    assert BANNER not in page
    nonce = re.search(r'<meta name="csrf-token"', page) and re.search(r'<style nonce="([^"]+)"', page)
    assert nonce is not None
    scripts = probe_scripts(page)
    assert f'<script src="{SCRIPT_SRC}" nonce="{nonce.group(1)}" defer>' in scripts
    assert f'<script nonce="{nonce.group(1)}">' in scripts
    assert len(scripts) == 2


async def test_choose_grants_only_the_ticked_purposes(client: httpx.AsyncClient, runtime: Runtime) -> None:
    home = await client.get("/")
    assert 'href="/consent?next=%2F"' in home.text
    page = await client.get("/consent", params={"next": "/"})
    assert page.status_code == 200
    assert BANNER not in page.text  # the page is the banner's longer form
    assert re.search(r'<input type="checkbox" name="purpose" value="necessary" checked disabled', page.text)
    for key in ("preferences", "analytics", "marketing"):
        assert re.search(
            rf'name="purpose" value="{key}" aria-describedby="choose-{key}-help" id="choose-{key}"', page.text
        )
    assert ">Save choices<" in page.text
    token = await csrf_token(client, "/consent")
    response = await client.post(
        "/consent", data={"choice": "choose", "purpose": ["analytics"], "next": "//evil.example/", "csrf_token": token}
    )
    assert response.status_code == 303 and response.headers["location"] == "/"  # never off-site
    state = {r.purpose: r.granted for r in await all_records(runtime)}
    assert state == {"preferences": False, "analytics": True, "marketing": False}
    again = await client.get("/consent")
    assert 'value="analytics" checked' in again.text and 'value="marketing" checked' not in again.text
    scripts = probe_scripts((await client.get("/test/consent-script")).text)
    assert len(scripts) == 1 and SCRIPT_SRC in scripts[0]


async def test_bad_choices_are_refused_and_write_nothing(client: httpx.AsyncClient, runtime: Runtime) -> None:
    token = await csrf_token(client)
    unknown = await client.post("/consent", data={"choice": "everything", "csrf_token": token})
    assert unknown.status_code == 422
    forged = await client.post(
        "/consent", data={"choice": "choose", "purpose": ["analytics", "tracking"], "csrf_token": token}
    )
    assert forged.status_code == 422 and "Unknown purpose" in forged.text
    htmx = await client.post("/consent", data={"choice": "nope", "csrf_token": token}, headers=HTMX)
    assert htmx.status_code == 422 and "hx-swap-oob" in htmx.text
    assert await all_records(runtime) == []
    assert VISITOR_COOKIE not in client.cookies
    assert (await client.post("/consent", data={"choice": "accept"})).status_code == 403  # no CSRF token


async def test_a_forged_or_borrowed_consent_cookie_grants_nothing(client: httpx.AsyncClient) -> None:
    token = await csrf_token(client)
    await client.post("/consent", data={"choice": "accept", "csrf_token": token})
    genuine = client.cookies[CONSENT_COOKIE]
    payload, _, _signature = genuine.rpartition(".")
    for value in (payload + ".forged", "v:" + "x" * 30 + "|analytics:1", ""):
        client.cookies.set(CONSENT_COOKIE, value)
        assert BANNER in (await client.get("/")).text
        assert probe_scripts((await client.get("/test/consent-script")).text) == []
    # The genuine cookie of another visitor id: not this visitor's decision.
    client.cookies.set(CONSENT_COOKIE, genuine)
    client.cookies.set(VISITOR_COOKIE, "another-visitor-0123456789")
    assert BANNER in (await client.get("/")).text
    client.cookies.set(VISITOR_COOKIE, "bad id")
    assert BANNER in (await client.get("/")).text


async def test_the_banner_endpoint_for_visitors(client: httpx.AsyncClient) -> None:
    fresh = await client.get("/consent/banner", params={"next": "https://evil.example/"})
    assert BANNER in fresh.text and "<html" not in fresh.text
    assert 'name="next" value="/"' in fresh.text
    token = await csrf_token(client)
    await client.post("/consent", data={"choice": "reject", "csrf_token": token})
    assert (await client.get("/consent/banner")).text == ""


async def test_the_banner_comes_back_to_the_page_it_was_on(client: httpx.AsyncClient) -> None:
    page = await client.get("/sign-in", params={"next": '/a?b=1&c="d'})
    assert 'name="next" value="/sign-in?next=%2Fa%3Fb%3D1%26c%3D%22d"' in page.text
    assert 'href="/consent?next=%2Fsign-in%3Fnext%3D%252Fa%253Fb%253D1%2526c%253D%2522d"' in page.text


# -- signed-in users -------------------------------------------------------------------------------


async def test_a_user_decides_on_the_banner_once_for_every_browser(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ada = await signed_in_user(client, runtime)
    home = await client.get("/")
    # No query per page: a loader asks the server once, since this browser does not know yet.
    assert 'hx-get="/consent/banner?next=%2F"' in home.text and 'hx-trigger="load"' in home.text
    banner = await client.get("/consent/banner", params={"next": "/"})
    assert BANNER in banner.text and "Reject all" in banner.text
    token = await csrf_token(client, "/account/security")
    response = await client.post("/consent", data={"choice": "reject", "csrf_token": token}, headers=HTMX)
    assert response.status_code == 200
    assert VISITOR_COOKIE not in client.cookies
    made = await all_records(runtime)
    assert {(r.purpose, r.granted, r.user_id, r.visitor_id) for r in made} == {
        (k, False, ada, None) for k in ("preferences", "analytics", "marketing")
    }
    assert BANNER not in (await client.get("/")).text
    # Another browser: the loader finds the records and the browser remembers them.
    client.cookies.delete(CONSENT_COOKIE)
    assert 'hx-get="/consent/banner' in (await client.get("/")).text
    answer = await client.get("/consent/banner")
    assert answer.text == "" and CONSENT_COOKIE in answer.headers["set-cookie"]
    assert BANNER not in (await client.get("/")).text
    # Choose shows the user's own state.
    assert 'value="analytics" checked' not in (await client.get("/consent")).text


async def test_the_privacy_section_grants_withdraws_and_lists_history(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    ada = await signed_in_user(client, runtime)
    page = await client.get("/privacy")
    assert page.status_code == 200
    assert '<section aria-labelledby="consent-title" id="consent">' in page.text
    assert "No decisions yet" in page.text
    assert re.search(r'name="purpose" value="necessary" checked disabled', page.text)
    token = await csrf_token(client, "/privacy")

    plain = await client.post("/privacy/consent", data={"purpose": ["marketing", "analytics"], "csrf_token": token})
    assert plain.status_code == 303 and plain.headers["location"] == "/privacy?consent=saved#consent"
    saved = await client.get(plain.headers["location"])
    assert "Your privacy choices are saved." in saved.text
    assert "Granted" in saved.text and "Privacy page" in saved.text
    scripts = probe_scripts((await client.get("/test/consent-script")).text)
    assert len(scripts) == 2

    # Withdrawing is as easy: untick and save (HTMX swaps the section).
    htmx = await client.post("/privacy/consent", data={"purpose": ["analytics"], "csrf_token": token}, headers=HTMX)
    assert htmx.status_code == 200 and "<html" not in htmx.text
    assert 'id="consent"' in htmx.text and "hx-swap-oob" in htmx.text and "Withdrawn" in htmx.text
    async with acting(runtime, ada) as ctx:
        assert not await services.has_consent(ctx, "marketing")
        assert await services.has_consent(ctx, "analytics")
    # The page helper's cache was dropped with the change.
    assert len(probe_scripts((await client.get("/test/consent-script")).text)) == 1

    bad = await client.post(
        "/privacy/consent", data={"purpose": ["analytics", "tracking"], "csrf_token": token}, headers=HTMX
    )
    assert bad.status_code == 422 and "Unknown purpose" in bad.text and 'role="alert"' in bad.text
    bad_plain = await client.post("/privacy/consent", data={"purpose": ["tracking"], "csrf_token": token})
    assert bad_plain.status_code == 422 and "<html" in bad_plain.text


async def test_the_history_pages(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ada = await signed_in_user(client, runtime)
    for n in range(services.PAGE_SIZE + 3):
        async with acting(runtime, ada) as ctx:
            await services.record_decision(ctx, user_id=ada, granted={"analytics": n % 2 == 0}, source="api")
    first = await client.get("/privacy")
    assert "Page 1 of 2" in first.text and ">Older<" in first.text and ">Newer<" not in first.text
    assert 'href="/privacy?consent_page=2#consent-history"' in first.text
    assert 'hx-get="/privacy/consent/history?page=2"' in first.text
    second = await client.get("/privacy", params={"consent_page": "2"})
    assert "Page 2 of 2" in second.text and ">Newer<" in second.text
    fragment = await client.get("/privacy/consent/history", params={"page": "2"}, headers=HTMX)
    assert fragment.status_code == 200 and "<html" not in fragment.text and "Page 2 of 2" in fragment.text
    past = await client.get("/privacy/consent/history", params={"page": "9"}, headers=HTMX)
    assert "Page 2 of 2" in past.text
    plain = await client.get("/privacy/consent/history", params={"page": "x"})
    assert plain.status_code == 303 and plain.headers["location"] == "/privacy?consent_page=1#consent-history"


async def test_pages_of_the_section_need_a_signed_in_user(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/privacy/consent/history"),
        await client.post("/privacy/consent", data={"csrf_token": await csrf_token(client)}),
    ):
        assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")


async def test_signing_up_keeps_the_visitors_decision(client: httpx.AsyncClient, runtime: Runtime) -> None:
    token = await csrf_token(client, "/sign-up")
    await client.post("/consent", data={"choice": "choose", "purpose": ["analytics"], "csrf_token": token})
    visitor = client.cookies[VISITOR_COOKIE]
    response = await client.post(
        "/sign-up",
        data={
            "email": "new@example.com",
            "password": "correct horse battery staple 42",
            "display_name": "New",
            "csrf_token": token,
        },
    )
    assert response.status_code in (200, 303), response.text
    made = await all_records(runtime)
    assert len(made) == 3 and all(r.visitor_id == visitor and r.user_id is not None for r in made)
    async with acting(runtime, made[0].user_id) as ctx:
        assert await services.has_consent(ctx, "analytics")
        assert not await services.has_consent(ctx, "marketing")
