"""The profile journey in a real browser: edit the profile, upload an avatar and see it in the
header, switch to the dark theme and a timezone and see a date change, deactivate and
reactivate. Every page passes the axe scan and does not scroll sideways at 360 px."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Server, Watched, assert_clean, assert_fits, create_admin

pytestmark = pytest.mark.e2e


def _no_sideways_scroll(page: Any) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    assert_fits(page)
    page.set_viewport_size({"width": 1280, "height": 900})


def _sign_in(page: Any, server: Server, email: str) -> None:
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(STRONG)
    page.get_by_role("button", name="Sign in").click()


def test_profile_avatar_preferences_and_deactivation(
    server: Server, watched: Watched, tmp_path: Path, browser: Any
) -> None:
    page = watched.page
    email = "mary@example.com"
    create_admin(server, email, STRONG)  # a verified account, as an operator makes one
    _sign_in(page, server, email)
    page.wait_for_url("**/account/security")
    sessions_before = page.locator("text=last active").first.inner_text()

    page.goto(server.url + "/account/profile")
    assert_clean(watched)
    _no_sideways_scroll(page)

    # The profile: an error inline (HTMX), then a save.
    page.get_by_label("Display name").fill("Mary Somerville")
    page.get_by_label("Timezone").fill("Atlantis/Nowhere")
    page.get_by_role("button", name="Save profile").click()
    page.locator("#field-timezone-error").wait_for()
    # The refusal is a 422 the browser and htmx log: expected here, nothing else is.
    assert all("422" in e for e in watched.console_errors), watched.console_errors
    watched.console_errors.clear()
    assert_clean(watched)
    page.get_by_label("Timezone").fill("Asia/Tokyo")
    page.get_by_label("Bio").fill("Mathematician.")
    page.get_by_role("button", name="Save profile").click()
    page.get_by_text("Your profile is saved.").wait_for()

    # The avatar: uploaded, then shown in the header's account menu.
    picture = tmp_path / "me.png"
    buffer = io.BytesIO()
    Image.new("RGB", (240, 160), (20, 120, 60)).save(buffer, format="PNG")
    picture.write_bytes(buffer.getvalue())
    page.get_by_label("Choose a picture").set_input_files(str(picture))
    page.get_by_role("button", name="Upload picture").click()
    page.get_by_text("Your picture is saved.").wait_for()
    header_avatar = page.locator("#account-avatar img")
    assert header_avatar.evaluate("img => img.complete && img.naturalWidth") == 64
    assert_clean(watched)

    # Preferences: dark theme and 12-hour US dates; the shell and the dates follow.
    page.get_by_label("Theme", exact=True).last.select_option("dark")
    page.get_by_label("Date format").select_option("mdy")
    page.get_by_label("Time format").select_option("12h")
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_text("Your preferences are saved.").wait_for()
    page.goto(server.url + "/account/security")
    assert "dark" in (page.locator("html").get_attribute("class") or "")
    sessions_after = page.locator("text=last active").first.inner_text()
    assert sessions_after != sessions_before
    assert "JST" in sessions_after and ("AM" in sessions_after or "PM" in sessions_after)
    assert_clean(watched)

    # Deactivate (the sign-in is recent), then sign in again and reactivate.
    page.goto(server.url + "/account/profile")
    page.get_by_role("button", name="Deactivate my account").click()
    page.wait_for_url("**/account/deactivated")
    assert_clean(watched)
    _sign_in(page, server, email)
    page.get_by_role("button", name="Reactivate my account").wait_for()
    assert_clean(watched)
    _no_sideways_scroll(page)
    page.get_by_role("button", name="Reactivate my account").click()
    page.get_by_role("heading", name="Your account is active again").wait_for()
    _sign_in(page, server, email)
    page.wait_for_url("**/account/security")
    page.goto(server.url + "/account/profile")
    assert page.get_by_label("Display name").input_value() == "Mary Somerville"
