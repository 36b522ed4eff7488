"""The identity journey in a real browser: sign up, open the mail from the outbox, verify, sign
in, see the devices, end the other session. Every page passes the axe scan."""

from __future__ import annotations

from typing import Any

import pytest

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Server, Watched, axe_violations

pytestmark = pytest.mark.e2e


def _clean(watched: Watched) -> None:
    assert watched.console_errors == []
    assert watched.csp_violations() == []
    assert axe_violations(watched.page) == []


def _sign_in(page: Any, server: Server, email: str) -> None:
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(STRONG)
    page.get_by_role("button", name="Sign in").click()


def test_sign_up_verify_sign_in_and_end_the_other_session(server: Server, watched: Watched, browser: Any) -> None:
    page = watched.page
    email = "grace@example.com"
    page.goto(server.url + "/")
    page.get_by_role("link", name="Sign up").click()
    _clean(watched)
    page.get_by_label("Name").fill("Grace")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(STRONG)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/check-email?sent=verify")
    assert "Check your email" in page.locator("h1").inner_text()
    _clean(watched)

    page.goto(server.url + "/dev/mail")
    _clean(watched)
    page.get_by_role("link", name="Confirm your email address").first.click()
    _clean(watched)
    verify = page.locator("a[href*='/verify-email?token=']").first.get_attribute("href")
    assert verify is not None
    page.goto(verify if verify.startswith("http") else server.url + verify)
    _clean(watched)
    page.get_by_role("button", name="Confirm my email address").click()
    assert "Email confirmed" in page.locator("h1").inner_text()

    _sign_in(page, server, email)
    page.wait_for_url("**/account/security")
    _clean(watched)

    other = browser.new_context()
    try:
        phone = other.new_page()
        _sign_in(phone, server, email)
        phone.wait_for_url("**/account/security")
        page.reload()
        sessions = page.locator("li", has_text="signed in")
        assert sessions.count() == 2
        _clean(watched)
        page.get_by_role("button", name="End session").click()
        page.wait_for_url("**/account/security")
        assert page.locator("li", has_text="signed in").count() == 1
        phone.reload()
        assert "/sign-in" in phone.url
    finally:
        other.close()
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url(server.url + "/")
    assert page.get_by_role("link", name="Sign in").is_visible()
