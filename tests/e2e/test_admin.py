"""The admin pages in a real browser: a role created and assigned, then found in the audit log,
its detail opened; usable at 360 px and clean under the axe scan."""

from __future__ import annotations

from typing import Any

import pytest

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Server, Watched, assert_clean, assert_fits, create_admin

pytestmark = pytest.mark.e2e


def test_an_owner_creates_and_assigns_a_role(server: Server, watched: Watched) -> None:
    create_admin(server, "root@example.com", STRONG)
    create_admin(server, "helper@example.com", STRONG)
    page: Any = watched.page
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill("root@example.com")
    page.get_by_label("Password", exact=True).fill(STRONG)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/security")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Roles").click()
    page.wait_for_url("**/admin/roles")
    assert page.locator("h1").inner_text() == "Roles"
    assert_clean(watched)

    page.get_by_label("Name", exact=True).fill("support")
    page.get_by_label("Description").fill("Answers users")
    page.get_by_label("Extends").select_option("member")
    page.get_by_label("users:read").check()
    page.get_by_role("button", name="Create role").click()
    page.get_by_text("The role support was created.").wait_for()
    assert page.get_by_role("row", name="support").count() == 1
    assert_clean(watched)

    page.get_by_label("Email of the account").fill("helper@example.com")
    page.get_by_label("Role", exact=True).select_option("support")
    page.get_by_role("button", name="Assign role").click()
    page.get_by_text("helper@example.com now has the role support").wait_for()
    assert_clean(watched)

    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    assert_fits(page)
    assert_clean(watched)
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.wait_for_url("**/admin/audit")
    assert page.locator("h1").inner_text() == "Audit log"
    assert_clean(watched)
    page.get_by_label("Action").select_option("user.role.changed")
    page.get_by_role("button", name="Show events").click()
    page.wait_for_url("**/admin/audit?*action=user.role.changed*")
    rows = page.locator("#audit-results tbody tr")
    assert rows.count() == 1, [rows.nth(i).inner_text() for i in range(rows.count())]
    assert "Changed a user's role" in rows.first.inner_text()
    assert_clean(watched)
    listing = page.url
    rows.first.get_by_role("link").click()
    page.wait_for_url("**/admin/audit/*")
    assert page.get_by_text("What changed").count() == 1
    assert_clean(watched)
    detail = page.url
    page.locator("a[href^='/admin/users/']").last.click()  # the target: the user whose role changed
    page.wait_for_url("**/admin/users/*")
    assert page.get_by_role("definition").filter(has_text="helper@example.com").count() == 1
    assert page.get_by_text("Opening this page is recorded in the audit log.").count() == 1
    assert_clean(watched)
    page.set_viewport_size({"width": 360, "height": 740})
    for url in (page.url, detail, listing, server.url + "/admin/jobs"):
        page.goto(url)
        assert_fits(page)
        assert_clean(watched)
