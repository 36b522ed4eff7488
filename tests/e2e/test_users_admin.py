"""User administration in a real browser: the list, a user's detail with a confirmed deactivation,
a bulk review, the dashboard; keyboard-labelled, usable at 360 px and clean under the axe scan."""

from __future__ import annotations

from typing import Any

import pytest

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Server, Watched, axe_violations, create_admin
from tests.e2e.test_admin import _assert_fits

pytestmark = pytest.mark.e2e


def _clean(watched: Watched) -> None:
    assert watched.console_errors == []
    assert watched.csp_violations() == []
    assert axe_violations(watched.page) == []


def test_an_owner_finds_deactivates_and_reviews_users(server: Server, watched: Watched) -> None:
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
    _clean(watched)

    page.get_by_label("Search").fill("deputy")
    page.get_by_role("button", name="Show users").click()
    page.wait_for_url("**/admin/users?*q=deputy*")
    assert page.get_by_label("Select deputy@example.com").count() == 1
    assert page.get_by_label("Select chief@example.com").count() == 0
    _clean(watched)

    # bulk: select, review (nothing changes yet), cancel
    page.get_by_label("Select deputy@example.com").check()
    page.get_by_label("With the selected users").select_option("reactivate")
    page.get_by_role("button", name="Review selection").click()
    page.wait_for_url("**/admin/users-bulk?*")
    assert "1 users" in page.locator("h1").inner_text()
    _clean(watched)
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url("**/admin/users")

    page.get_by_role("row", name="deputy@example.com").get_by_role("link").first.click()
    page.wait_for_url("**/admin/users/*")
    _clean(watched)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Deactivate").click()
    page.get_by_text("The account was deactivated").wait_for()
    assert page.get_by_role("button", name="Reactivate").count() == 1
    _clean(watched)

    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(server.url + "/admin/users")
    _assert_fits(page)
    _clean(watched)
    page.goto(server.url + "/admin")
    assert page.locator("h1").inner_text() == "Administration"
    assert page.locator("svg[role=img]").count() == 1
    _assert_fits(page)
    _clean(watched)
