"""The roles page in a real browser: reached from the navigation, a role created and assigned,
usable at 360 px, and clean under the axe scan."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Server, Watched, axe_violations

pytestmark = pytest.mark.e2e


def _create_admin(server: Server, email: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "fastapp", "users", "create-admin", "--email", email, "--password-stdin"],
        input=STRONG + "\n",
        text=True,
        env=server.env,
        check=True,
        capture_output=True,
    )


def _clean(watched: Watched) -> None:
    assert watched.console_errors == []
    assert watched.csp_violations() == []
    assert axe_violations(watched.page) == []


def test_an_owner_creates_and_assigns_a_role(server: Server, watched: Watched) -> None:
    _create_admin(server, "root@example.com")
    _create_admin(server, "helper@example.com")
    page: Any = watched.page
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill("root@example.com")
    page.get_by_label("Password", exact=True).fill(STRONG)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/security")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Roles").click()
    page.wait_for_url("**/admin/roles")
    assert page.locator("h1").inner_text() == "Roles"
    _clean(watched)

    page.get_by_label("Name", exact=True).fill("support")
    page.get_by_label("Description").fill("Answers users")
    page.get_by_label("Extends").select_option("member")
    page.get_by_label("users:read").check()
    page.get_by_role("button", name="Create role").click()
    page.get_by_text("The role support was created.").wait_for()
    assert page.get_by_role("row", name="support").count() == 1
    _clean(watched)

    page.get_by_label("Email of the account").fill("helper@example.com")
    page.get_by_label("Role", exact=True).select_option("support")
    page.get_by_role("button", name="Assign role").click()
    page.get_by_text("helper@example.com now has the role support").wait_for()
    _clean(watched)

    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at 360px"
    _clean(watched)
