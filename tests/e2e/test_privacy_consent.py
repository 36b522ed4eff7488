"""The consent banner in a real browser against ``fastapp serve``: a fresh visitor sees three
equally prominent choices; "Reject all" removes the banner for good and leaves only necessary
cookies; "Choose" grants analytics alone; a signed-in user withdraws from /privacy. Every page
passes the axe scan (with no console error or CSP violation) and fits a 360 px screen."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import RECORD_VIOLATIONS, Server, Watched, assert_clean, assert_fits, create_admin

pytestmark = pytest.mark.e2e

#: Every cookie the app may set without consent, and why (all strictly necessary):
NECESSARY_COOKIES = {
    "fastapp_anon",  # the anonymous session the CSRF tokens of a visitor's forms are bound to
    "fastapp_session",  # the signed-in session
    "fastapp_visitor",  # the visitor id the consent records are kept under
    "fastapp_consent",  # the (signed) decision itself, so the banner is not shown again
    "fastapp_theme",  # only once the visitor picks a theme themselves
}
OWNER = "consent-owner@example.com"


def _records(server: Server) -> list[tuple[str, int, str | None, str | None, str]]:
    database = Path(server.env["FASTAPP_VAR_DIR"]) / "fastapp.db"
    with sqlite3.connect(database) as db:
        return list(db.execute("SELECT purpose, granted, user_id, visitor_id, source FROM consent_records"))


def _banner_buttons(page: Any) -> list[Any]:
    banner = page.get_by_role("region", name="Your privacy choices")
    return [
        banner.get_by_role("button", name="Accept all"),
        banner.get_by_role("button", name="Reject all"),
        banner.get_by_role("link", name="Choose"),
    ]


def _new_page(browser: Any, width: int = 1280) -> tuple[Any, Watched]:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.set_default_timeout(10_000)
    watched = Watched(page)
    page.on("console", lambda m: watched.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: watched.console_errors.append(str(e)))
    return context, watched


def test_reject_all_leaves_only_necessary_cookies(server: Server, browser: Any) -> None:
    context, watched = _new_page(browser)
    page = watched.page
    page.goto(server.url + "/")
    buttons = _banner_buttons(page)
    sizes = []
    for control in buttons:
        assert control.is_visible()
        box = control.bounding_box()
        sizes.append((round(box["width"]), round(box["height"])))
    assert len(set(sizes)) == 1, f"the three choices differ in size: {sizes}"
    assert_clean(watched)
    before = {c["name"] for c in context.cookies()}
    assert before <= NECESSARY_COOKIES and "fastapp_consent" not in before

    buttons[1].click()  # Reject all (HTMX)
    page.get_by_role("region", name="Your privacy choices").wait_for(state="detached")
    page.get_by_text("Your privacy choices are saved.").wait_for()
    assert_clean(watched)
    page.goto(server.url + "/sign-in")
    assert page.get_by_role("region", name="Your privacy choices").count() == 0
    names = {c["name"] for c in context.cookies()}
    assert names <= NECESSARY_COOKIES, names - NECESSARY_COOKIES
    assert {"fastapp_visitor", "fastapp_consent"} <= names
    visitor = next(c["value"] for c in context.cookies() if c["name"] == "fastapp_visitor")
    assert {(p, g, v, s) for p, g, _u, v, s in _records(server) if v == visitor} == {
        (p, 0, visitor, "banner") for p in ("preferences", "analytics", "marketing")
    }
    context.close()


def test_choose_grants_analytics_only_and_fits_a_phone(server: Server, browser: Any) -> None:
    context, watched = _new_page(browser, width=360)
    page = watched.page
    page.goto(server.url + "/")
    assert_fits(page)
    assert_clean(watched)
    _banner_buttons(page)[2].click()
    page.wait_for_url("**/consent?next=%2F")
    assert page.get_by_label("Strictly necessary").is_disabled()
    assert page.get_by_label("Strictly necessary").is_checked()
    page.get_by_label("Analytics").check()
    assert_fits(page)
    assert_clean(watched)
    page.get_by_role("button", name="Save choices").click()
    page.wait_for_url(server.url + "/")
    assert page.get_by_role("region", name="Your privacy choices").count() == 0
    visitor = next(c["value"] for c in context.cookies() if c["name"] == "fastapp_visitor")
    assert {(p, g) for p, g, _u, v, _s in _records(server) if v == visitor} == {
        ("preferences", 0),
        ("analytics", 1),
        ("marketing", 0),
    }
    page.goto(server.url + "/consent")
    assert page.get_by_label("Analytics").is_checked()
    assert not page.get_by_label("Marketing").is_checked()
    context.close()


def test_a_signed_in_user_withdraws_from_the_privacy_page(server: Server, browser: Any) -> None:
    create_admin(server, OWNER, STRONG)
    context, watched = _new_page(browser)
    page = watched.page
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill(OWNER)
    page.get_by_label("Password", exact=True).fill(STRONG)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/security")
    # The user has not decided: the banner loads, and accepting records against the account.
    _banner_buttons(page)[0].click()
    page.get_by_role("region", name="Your privacy choices").wait_for(state="detached")
    page.goto(server.url + "/privacy")
    section = page.get_by_role("region", name="Consent")
    marketing = section.get_by_label("Marketing")
    assert marketing.is_checked()
    assert_clean(watched)
    marketing.uncheck()
    section.get_by_role("button", name="Save consent choices").click()
    page.get_by_text("Your privacy choices are saved.").first.wait_for()
    section.get_by_role("cell", name="Withdrawn").first.wait_for()
    assert not section.get_by_label("Marketing").is_checked()
    assert section.get_by_label("Analytics").is_checked()
    assert_clean(watched)
    page.set_viewport_size({"width": 360, "height": 800})
    assert_fits(page)
    granted = {(p, g, s) for p, g, u, _v, s in _records(server) if u is not None and p == "marketing"}
    assert granted == {("marketing", 1, "banner"), ("marketing", 0, "settings")}
    context.close()
