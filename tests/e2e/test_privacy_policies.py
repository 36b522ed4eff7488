"""Policy versions in a real browser against ``fastapp serve``: an admin previews and publishes a
privacy policy written in Markdown, effective now; a member who was already signed in is taken
to the accept page on their next page, reads the text, accepts and lands on the page they asked
for; a visitor's sign-up form requires the acceptance (an inline error without it). Every new
page passes the axe scan (with no console error or CSP violation) and fits a 360 px screen.

The journey runs on its own server: a published policy gates every signed-in user, which would
change the other end-to-end tests' journeys on the shared one.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import RECORD_VIOLATIONS, Server, Watched, assert_clean, assert_fits, create_admin, serve

pytestmark = pytest.mark.e2e

ADMIN = "policy-admin@example.com"
MEMBER = "policy-member@example.com"
VISITOR = "policy-visitor@example.com"
# Markdown with a heading, emphasis, a list, a link and raw HTML (which must come out as text).
BODY = """# What we keep

We keep **only** what the service needs:

- your *email address*;
- the files you upload.

Questions? [Write to us](mailto:privacy@example.com).

<script>document.title = "changed"</script>
"""
REFUSED = "Accept the privacy policy and the terms to create an account."


def _new_page(browser: Any) -> tuple[Any, Watched]:
    """A second, independent browser (its own cookies), watched like the ``watched`` fixture."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.set_default_timeout(10_000)
    watched = Watched(page)
    page.on("console", lambda m: watched.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.console_errors.append(str(e)))
    return context, watched


def _checked(watched: Watched) -> None:
    """Clean (console, CSP, axe) at 1280 px, and clean and without sideways scroll at 360 px."""
    page = watched.page
    assert_clean(watched)
    page.set_viewport_size({"width": 360, "height": 740})
    assert_fits(page)
    assert_clean(watched)
    page.set_viewport_size({"width": 1280, "height": 900})


def _sign_in(page: Any, server: Server, email: str) -> None:
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(STRONG)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/security")


def _acceptances(server: Server) -> set[tuple[str, str, str]]:
    """(email, version, source) of every recorded acceptance of a privacy policy version."""
    with sqlite3.connect(Path(server.env["FASTAPP_VAR_DIR"]) / "fastapp.db") as db:
        rows = db.execute(
            "SELECT u.email, v.version, a.source FROM policy_acceptances a"
            " JOIN policy_versions v ON v.id = a.policy_id JOIN users u ON u.id = a.user_id"
            " WHERE v.kind = 'privacy'"
        )
        return {(str(e), str(v), str(s)) for e, v, s in rows}


def _assert_rendered(text: Any) -> None:
    """``text`` (a locator) holds BODY as HTML: heading, emphasis, list, link; the raw HTML inert."""
    assert text.locator("h2").first.inner_text() == "What we keep"
    assert text.locator("strong").inner_text() == "only"
    assert text.locator("li").count() == 2
    assert text.get_by_role("link", name="Write to us").get_attribute("href") == "mailto:privacy@example.com"
    assert text.locator("script").count() == 0
    assert "<script>" in text.inner_text()


def test_publish_a_policy_and_have_it_accepted(browser: Any, watched: Watched, tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        create_admin(server, ADMIN, STRONG)
        create_admin(server, MEMBER, STRONG)
        subprocess.run(
            [sys.executable, "-m", "fastapp", "users", "set-role", MEMBER, "member"],
            env=server.env,
            check=True,
            capture_output=True,
        )
        # The member signs in before anything is published: nothing to accept yet.
        member_context, member = _new_page(browser)
        _sign_in(member.page, server, MEMBER)

        # The admin writes the text, previews it, and publishes it (no date: in force now).
        admin: Any = watched.page
        _sign_in(admin, server, ADMIN)
        admin.get_by_role("navigation", name="Main").get_by_role("link", name="Policies (admin)").click()
        admin.wait_for_url("**/admin/policies")
        assert admin.locator("h1").inner_text() == "Policies"
        _checked(watched)
        admin.get_by_label("Policy", exact=True).select_option("privacy")
        admin.get_by_label("Version", exact=True).fill("1")
        admin.get_by_label("Title", exact=True).fill("How we handle your data")
        admin.get_by_label("Text (Markdown)").fill(BODY)
        admin.get_by_role("button", name="Preview").click()
        preview = admin.locator("#policy-preview")
        preview.get_by_role("heading", name="Preview: How we handle your data").wait_for()
        _assert_rendered(preview)
        assert admin.url.endswith("/admin/policies")  # HTMX: the form stays as it was
        _checked(watched)
        admin.get_by_role("button", name="Publish").click()
        admin.wait_for_url("**/admin/policies?done=published")
        admin.get_by_text("The version was published.").wait_for()
        row = admin.get_by_role("row").filter(has_text="How we handle your data")
        assert row.get_by_role("cell", name="Current").count() == 1
        _checked(watched)

        # The member's next page is the accept page, which links to the text.
        page = member.page
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Files").click()
        page.wait_for_url("**/policies/accept?next=/files")
        page.get_by_role("heading", name="Please review our updated policies").wait_for()
        _checked(member)
        page.get_by_role("link", name="Privacy policy, version 1").click()
        page.wait_for_url("**/policies/privacy/1")
        _assert_rendered(page.locator(".policy-text"))
        _checked(member)
        page.goto(server.url + "/policies/privacy")  # the current version's own address
        assert page.locator("h1").inner_text() == "How we handle your data"
        _assert_rendered(page.locator(".policy-text"))
        _checked(member)

        # Back on the accept page, with the keyboard alone: tick the box, accept, on to the files.
        page.go_back()
        page.go_back()
        page.wait_for_url("**/policies/accept?next=/files")
        box = page.get_by_label("I have read and accept the Privacy policy (v1)")
        assert box.get_attribute("required") is not None
        box.press("Space")
        assert box.is_checked()
        page.get_by_role("button", name="Accept and continue").press("Enter")
        page.wait_for_url(server.url + "/files")
        page.goto(server.url + "/account/security")  # no longer gated
        assert page.url == server.url + "/account/security"
        member_context.close()

        # A visitor must tick the box to sign up; without it the form says so inline.
        visitor_context, visitor = _new_page(browser)
        page = visitor.page
        page.goto(server.url + "/sign-up")
        box = page.get_by_label("I accept the Privacy policy (v1)")
        assert box.is_visible() and not box.is_checked()
        assert box.get_attribute("required") is not None
        _checked(visitor)
        page.get_by_label("Name").fill("Vera")
        page.get_by_label("Email").fill(VISITOR)
        page.get_by_label("Password", exact=True).fill(STRONG)
        page.get_by_role("button", name="Create account").click()
        page.get_by_role("alert").filter(has_text=REFUSED).wait_for()
        assert page.url == server.url + "/sign-up"
        assert page.get_by_label("Email").input_value() == VISITOR  # kept, only the box to tick
        # The refusal is a 422 answer, which the browser reports on the console: expected here.
        assert visitor.console_errors and all("422" in e for e in visitor.console_errors), visitor.console_errors
        visitor.console_errors.clear()
        _checked(visitor)
        page.get_by_label("Password", exact=True).fill(STRONG)
        page.get_by_label("I accept the Privacy policy (v1)").check()
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url("**/check-email?sent=verify")
        visitor_context.close()

        assert _acceptances(server) == {(MEMBER, "1", "page"), (VISITOR, "1", "sign-up")}
