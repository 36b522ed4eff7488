"""Account deletion in a real browser: confirm the password, ask on /privacy with the typed
address (a wrong one is refused inline), land signed out on the page that says when, sign in
again, cancel the deletion and land signed in. Every page passes the axe scan and fits 360 px."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Watched, assert_clean, assert_fits, create_admin, serve

pytestmark = pytest.mark.e2e


def _checked(watched: Watched) -> None:
    """Clean (console, CSP, axe) at 1280 px, and no sideways scroll at 360 px."""
    page = watched.page
    assert_clean(watched)
    page.set_viewport_size({"width": 360, "height": 740})
    assert_fits(page)
    page.set_viewport_size({"width": 1280, "height": 900})


def _sign_in(page: Any, url: str, email: str) -> None:
    page.goto(url + "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(STRONG)
    page.get_by_role("button", name="Sign in").click()


def test_request_deletion_sign_in_again_and_cancel(watched: Watched, tmp_path: Path) -> None:
    page = watched.page
    email = "erin@example.com"
    with serve(tmp_path) as server:
        create_admin(server, email, STRONG)
        create_admin(server, "backup-owner@example.com", STRONG)  # so Erin is not the last owner
        _sign_in(page, server.url, email)
        page.wait_for_url("**/account/security")

        # Re-authentication, then the section on the privacy page.
        page.goto(server.url + "/account/confirm-password?next=/privacy%23delete-account")
        _checked(watched)
        page.get_by_label("Password", exact=True).fill(STRONG)
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_url("**/privacy#delete-account")
        _checked(watched)

        # A wrong address is refused inline (HTMX), then the right one schedules the deletion.
        field = page.get_by_label(f"To confirm, type your email address ({email})")
        field.fill("someone-else@example.com")
        page.get_by_role("button", name="Delete my account").click()
        page.locator("#erasure-confirm-error").wait_for()
        assert all("422" in e for e in watched.console_errors), watched.console_errors
        watched.console_errors.clear()
        _checked(watched)
        page.get_by_label(f"To confirm, type your email address ({email})").fill(email)
        page.get_by_role("button", name="Delete my account").click()
        page.wait_for_url("**/account/deletion-scheduled**")
        page.get_by_text("Your account will be deleted").first.wait_for()
        _checked(watched)

        # Signed out: the privacy page asks to sign in.
        page.goto(server.url + "/privacy")
        page.wait_for_url("**/sign-in**")

        # Signing in again offers to cancel; cancelling signs in.
        _sign_in(page, server.url, email)
        page.get_by_role("button", name="Cancel the deletion and sign in").wait_for()
        _checked(watched)
        page.get_by_role("button", name="Cancel the deletion and sign in").click()
        page.wait_for_url("**/privacy?erasure=cancelled#delete-account")
        page.get_by_text("The deletion of your account is cancelled").wait_for()
        _checked(watched)
        page.goto(server.url + "/account/security")
        assert page.url.endswith("/account/security")
