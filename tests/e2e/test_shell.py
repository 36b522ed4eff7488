"""The shell in a real browser: the home page, theme switch, error page and API docs load with
no console error, no CSP violation, nothing from another origin, and no serious axe finding."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import Server, Watched, axe_violations

pytestmark = pytest.mark.e2e


def _assert_clean(watched: Watched, server: Server) -> None:
    assert watched.console_errors == []
    assert watched.csp_violations() == []
    foreign = [u for u in watched.requests if not u.startswith(server.url) and not u.startswith("data:")]
    assert foreign == []


def test_home_page_is_clean_and_accessible(server: Server, watched: Watched) -> None:
    page = watched.page
    response = page.goto(server.url + "/")
    assert response is not None
    assert response.status == 200
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text().startswith("Welcome to FastApp")
    # Franken UI's icon script ran: icons rendered as inline SVG.
    page.wait_for_selector("uk-icon svg", state="attached")
    _assert_clean(watched, server)
    assert axe_violations(page) == []


def test_styles_are_applied(server: Server, watched: Watched) -> None:
    page = watched.page
    page.goto(server.url + "/")
    display = page.evaluate("getComputedStyle(document.querySelector('main .grid')).display")
    assert display == "grid"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") not in {"", "rgba(0, 0, 0, 0)"}


def test_theme_switch_persists_across_reloads(server: Server, watched: Watched) -> None:
    page = watched.page
    page.goto(server.url + "/")
    page.wait_for_load_state("networkidle")
    page.select_option("#theme-mode", "dark")
    _wait_until(page, "document.documentElement.classList.contains('dark')")
    page.reload()
    assert page.evaluate("document.documentElement.classList.contains('dark')")
    assert page.locator("#theme-mode").input_value() == "dark"
    page.select_option("#theme-mode", "light")
    _wait_until(page, "!document.documentElement.classList.contains('dark')")
    page.reload()
    assert not page.evaluate("document.documentElement.classList.contains('dark')")
    _assert_clean(watched, server)
    assert axe_violations(page) == []


def test_system_theme_follows_the_operating_system(server: Server, browser: Any) -> None:
    context = browser.new_context(color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(server.url + "/")
        assert page.evaluate("document.documentElement.getAttribute('data-theme-mode')") == "system"
        assert page.evaluate("document.documentElement.classList.contains('dark')")
        page.emulate_media(color_scheme="light")
        _wait_until(page, "!document.documentElement.classList.contains('dark')")
    finally:
        context.close()


def test_not_found_page(server: Server, watched: Watched) -> None:
    page = watched.page
    response = page.goto(server.url + "/does-not-exist")
    assert response is not None
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    watched.console_errors[:] = [e for e in watched.console_errors if "404" not in e]
    _assert_clean(watched, server)
    assert axe_violations(page) == []


def test_keyboard_reaches_skip_link_and_navigation(server: Server, watched: Watched) -> None:
    page = watched.page
    page.goto(server.url + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"


@pytest.mark.parametrize("width", [360, 1280])
def test_no_horizontal_scrolling(server: Server, browser: Any, width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 800})
    try:
        page = context.new_page()
        for path in ("/", "/does-not-exist"):
            page.goto(server.url + path)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (path, width)
    finally:
        context.close()


def test_api_docs_render_from_local_assets(server: Server, watched: Watched) -> None:
    page = watched.page
    page.goto(server.url + "/api/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "FastApp API" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector("text=/instance")
    _assert_clean(watched, server)
    assert axe_violations(page) == []


def test_unsafe_request_without_token_is_refused_in_the_browser(server: Server, watched: Watched) -> None:
    page = watched.page
    page.goto(server.url + "/")
    status = page.evaluate(
        "fetch('/preferences/theme', {method: 'POST', body: new URLSearchParams({mode: 'dark'})}).then(r => r.status)"
    )
    assert status == 403
    with_token = page.evaluate(
        "fetch('/preferences/theme', {method: 'POST', body: new URLSearchParams({mode: 'dark'}), headers: "
        "{'X-CSRF-Token': document.querySelector('meta[name=csrf-token]').content}}).then(r => r.status)"
    )
    assert with_token in (200, 303)


def test_try_it_out_from_the_api_docs_passes_csrf(server: Server, watched: Watched) -> None:
    """Swagger UI's calls carry the browser's cookies; its interceptor adds the CSRF token."""
    page = watched.page
    page.goto(server.url + "/api/docs")
    page.locator('.opblock-summary-path[data-path="/auth/password-reset"]').click()
    page.locator("button.try-out__btn").click()
    page.locator("button.execute").click()
    status = page.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "202"
    _assert_clean(watched, server)


def _wait_until(page: Any, expression: str, timeout: float = 5.0) -> None:
    """Poll ``expression`` from the test side: Playwright's ``wait_for_function`` polls with an
    in-page eval, which the app's CSP (rightly) refuses whenever the first check is false."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        time.sleep(0.05)
