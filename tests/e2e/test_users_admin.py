"""User administration in a real browser: the list, a user's detail with a confirmed deactivation,
a bulk review, the dashboard; keyboard-labelled, usable at 360 px and clean under the axe scan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Server, Watched, assert_clean, assert_fits, create_admin

pytestmark = pytest.mark.e2e


def test_an_owner_finds_a_user_changes_their_role_ends_their_sessions_and_deactivates_them(
    server: Server, watched: Watched, tmp_path: Path
) -> None:
    create_admin(server, "chief@example.com", STRONG)
    create_admin(server, "deputy@example.com", STRONG)
    page: Any = watched.page
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill("chief@example.com")
    page.get_by_label("Password", exact=True).fill(STRONG)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/security")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users", exact=True).click()
    page.wait_for_url("**/admin/users")
    assert page.locator("h1").inner_text() == "Users"
    assert_clean(watched)

    page.get_by_label("Search").fill("deputy")
    page.get_by_role("button", name="Show users").click()
    page.wait_for_url("**/admin/users?*q=deputy*")
    assert page.get_by_label("Select deputy@example.com").count() == 1
    assert page.get_by_label("Select chief@example.com").count() == 0
    assert_clean(watched)

    # bulk: select, review (nothing changes yet), cancel
    page.get_by_label("Select deputy@example.com").check()
    page.get_by_label("With the selected users").select_option("reactivate")
    page.get_by_role("button", name="Review selection").click()
    page.wait_for_url("**/admin/users-bulk?*")
    assert "1 users" in page.locator("h1").inner_text()
    assert_clean(watched)
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url("**/admin/users")

    page.get_by_role("row", name="deputy@example.com").get_by_role("link").first.click()
    page.wait_for_url("**/admin/users/*")
    assert_clean(watched)
    page.get_by_label("Role", exact=True).select_option("admin")
    page.get_by_role("button", name="Change role").click()
    page.get_by_text("The role was changed").wait_for()
    assert_clean(watched)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End all sessions").click()
    page.get_by_text("Every session of the account was ended.").wait_for()
    assert_clean(watched)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Deactivate").click()
    page.get_by_text("The account was deactivated").wait_for()
    assert page.get_by_role("button", name="Reactivate").count() == 1
    assert_clean(watched)
    for width in (1280, 360):  # screenshots for a reviewer's eye; the assertion is the fit
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(tmp_path / f"user-detail-{width}.png"), full_page=True)
        assert_fits(page)

    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(server.url + "/admin/users")
    assert_fits(page)
    assert_clean(watched)
    page.goto(server.url + "/admin")
    assert page.locator("h1").inner_text() == "Administration"
    assert page.locator("svg[role=img]").count() == 1
    assert_fits(page)
    assert_clean(watched)
