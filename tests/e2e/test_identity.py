"""The identity journey in a real browser: sign up, open the mail from the outbox, verify, sign
in, turn on two-factor sign-in, sign in again with a code, see the devices, end the other
session. Every page passes the axe scan."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Server, Watched, assert_clean

pytestmark = pytest.mark.e2e


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
    assert_clean(watched)
    page.get_by_label("Name").fill("Grace")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(STRONG)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/check-email?sent=verify")
    assert "Check your email" in page.locator("h1").inner_text()
    assert_clean(watched)

    page.goto(server.url + "/dev/mail")
    assert_clean(watched)
    page.get_by_role("link", name="Confirm your email address").first.click()
    assert_clean(watched)
    verify = page.locator("a[href*='/verify-email?token=']").first.get_attribute("href")
    assert verify is not None
    page.goto(verify if verify.startswith("http") else server.url + verify)
    assert_clean(watched)
    page.get_by_role("button", name="Confirm my email address").click()
    assert "Email confirmed" in page.locator("h1").inner_text()

    _sign_in(page, server, email)
    page.wait_for_url("**/account/security")
    assert_clean(watched)

    # Two-factor sign-in: set up with the QR page's key, then sign out and back in with a code.
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    assert page.locator("svg").first.is_visible()
    assert_clean(watched)
    secret = page.locator("code").first.inner_text().strip()
    setup_step = int(time.time() // 30)
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).at(setup_step * 30))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    recovery_codes = page.locator("pre").inner_text().split()
    assert len(recovery_codes) == 10
    recovery = recovery_codes[0]
    assert_clean(watched)
    page.get_by_role("link", name="Done").click()
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url(server.url + "/")
    _sign_in(page, server, email)
    assert "Two-factor sign-in" in page.locator("h1").inner_text()
    assert_clean(watched)
    # The set-up spent the current code; the next 30-second step is accepted too.
    page.get_by_label("Code").fill(pyotp.TOTP(secret).at((setup_step + 1) * 30))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/account/security")

    other = browser.new_context()
    try:
        phone = other.new_page()
        _sign_in(phone, server, email)
        phone.get_by_label("Code").fill(recovery)
        phone.get_by_role("button", name="Continue").click()
        phone.wait_for_url("**/account/security")
        page.reload()
        sessions = page.get_by_role("list", name="Your sessions").locator("li")
        assert sessions.count() == 2
        assert_clean(watched)
        page.get_by_role("button", name="End session").click()
        page.wait_for_url("**/account/security")
        assert page.get_by_role("list", name="Your sessions").locator("li").count() == 1
        phone.reload()
        assert "/sign-in" in phone.url
    finally:
        other.close()
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url(server.url + "/")
    assert page.get_by_role("link", name="Sign in").is_visible()
