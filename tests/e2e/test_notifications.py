"""Notifications in a real browser against ``fastapp serve`` mailing a real SMTP server (aiosmtpd):
an administrator grants a role and the member's other tab shows it live while the mail arrives;
the member turns the category off and the next grant produces neither; a mandatory security mail
still arrives. The inbox and settings pages pass the axe scan and fit a 360 px screen."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Server, Watched, assert_clean, assert_fits, create_admin, serve
from tests.platform.test_mail import Recorder, parse, smtp_server

pytestmark = pytest.mark.e2e

OWNER = "root@example.com"
MEMBER = "member@example.com"
NEW_PASSWORD = "another correct horse battery 43"
WAIT_S = 30  # a ceiling against hanging, not a measurement


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        yield recorder, port


@pytest.fixture(scope="module")
def mailing_server(tmp_path_factory: pytest.TempPathFactory, mailbox: tuple[Recorder, int]) -> Iterator[Server]:
    """``fastapp serve`` on the embedded default, sending its mail to the test's SMTP server."""
    with serve(
        tmp_path_factory.mktemp("e2e-notifications"), FASTAPP_SMTP_URL=f"smtp://127.0.0.1:{mailbox[1]}?timeout=5"
    ) as running:
        yield running


def _cli(server: Server, *args: str, password: bool = False) -> None:
    subprocess.run(
        [sys.executable, "-m", "fastapp", *args],
        input=STRONG + "\n" if password else None,
        text=True,
        env=server.env,
        check=True,
        capture_output=True,
    )


def _sign_in(page: Any, server: Server, email: str, password: str = STRONG) -> None:
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/security")


def _mail_with_subject(recorder: Recorder, address: str, subject: str) -> list[Any]:
    found = []
    for envelope in list(recorder.received):
        message = parse(envelope.content)
        if address in str(message["To"]) and str(message["Subject"]) == subject:
            found.append(message)
    return found


def _await_mail(recorder: Recorder, address: str, subject: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = _mail_with_subject(recorder, address, subject)
        if found:
            return found[-1]
        time.sleep(0.1)
    subjects = [str(parse(e.content)["Subject"]) for e in recorder.received]
    raise AssertionError(f"no mail {subject!r} to {address} arrived; received: {subjects}")


def _database(server: Server) -> sqlite3.Connection:
    return sqlite3.connect(Path(server.env["FASTAPP_VAR_DIR"]) / "fastapp.db")


def _count(server: Server, sql: str, *args: object) -> int:
    with _database(server) as db:
        return int(db.execute(sql, args).fetchone()[0])


# Finite animations (a toast popping in) done: axe would judge colours half-way through a fade.


def _assign(admin: Any, server: Server, role: str) -> None:
    admin.goto(server.url + "/admin/roles")
    admin.get_by_label("Email of the account").fill(MEMBER)
    admin.get_by_label("Role", exact=True).select_option(role)
    admin.get_by_role("button", name="Assign role").click()
    admin.get_by_text(f"{MEMBER} now has the role {role}").wait_for()


def test_a_granted_role_reaches_the_member_live_and_by_mail(
    mailing_server: Server, mailbox: tuple[Recorder, int], watched: Watched, browser: Any
) -> None:
    server, (recorder, _port) = mailing_server, mailbox
    create_admin(server, OWNER, STRONG)
    create_admin(server, MEMBER, STRONG)
    _cli(server, "users", "set-role", MEMBER, "member")  # the member's first notification

    page: Any = watched.page
    _sign_in(page, server, MEMBER)
    other_tab = page.context.new_page()
    other_tab.goto(server.url + "/notifications")
    bell = other_tab.locator("[data-bell-toggle]")
    bell.and_(other_tab.locator('[aria-label="Notifications, 1 unread"]')).wait_for()
    assert other_tab.get_by_role("link", name="You now have the member role").count() == 1

    admin_context = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = admin_context.new_page()
    admin.set_default_timeout(10_000)
    try:
        _sign_in(admin, server, OWNER)
        _assign(admin, server, "admin")

        # The member's other tab, untouched since it loaded: badge and toast arrive live.
        other_tab.locator('[data-bell-toggle][aria-label="Notifications, 2 unread"]').wait_for()
        other_tab.locator("#toasts").get_by_text("You now have the admin role").wait_for()
        assert other_tab.locator("[data-bell-badge]").inner_text() == "2"
        other_tab.locator("[data-bell-toggle]").click()
        menu = other_tab.locator("#notification-menu")
        menu.get_by_text("New: You now have the admin role").wait_for()
        other_tab.keyboard.press("Escape")
        mail = _await_mail(recorder, MEMBER, "You now have the admin role")
        assert "/account/security" in mail.get_body(preferencelist=("plain",)).get_content()

        # The member turns the category off, both channels.
        page.goto(server.url + "/settings/notifications")
        page.get_by_label("Your account: in the app").uncheck()
        page.get_by_label("Your account: by email").uncheck()
        page.get_by_role("button", name="Save preferences").click()
        page.locator("#toasts").get_by_text("Your notification settings are saved.").wait_for()
        assert page.get_by_label("Security: by email").is_disabled()
        assert_clean(watched)

        notes = (
            "SELECT count(*) FROM notifications WHERE kind = 'account.role_granted'"
            " AND user_id = (SELECT id FROM users WHERE email = ?)"
        )
        mails = "SELECT count(*) FROM email_messages WHERE category = 'account' AND to_address = ?"
        assert (_count(server, notes, MEMBER), _count(server, mails, MEMBER)) == (2, 2)
        _assign(admin, server, "member")
        # The grant has committed: it made neither a notification nor a mail.
        assert (_count(server, notes, MEMBER), _count(server, mails, MEMBER)) == (2, 2)
    finally:
        admin_context.close()

    # A mandatory security mail still arrives (and its in-app notice shows live).
    page.goto(server.url + "/account/security")
    page.get_by_label("Current password").fill(STRONG)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url("**/account/security")
    _await_mail(recorder, MEMBER, "Your FastApp password was changed")
    other_tab.locator("#toasts").get_by_text("Your password was changed").wait_for()
    # Only the first member grant (before the category was turned off) was mailed.
    assert len(_mail_with_subject(recorder, MEMBER, "You now have the member role")) == 1
    assert len(_mail_with_subject(recorder, MEMBER, "You now have the admin role")) == 1
    other_tab.close()


def test_the_pages_are_accessible_keyboard_usable_and_fit_a_phone(mailing_server: Server, watched: Watched) -> None:
    phone = "phone@example.com"
    for address in ("keeper@example.com", phone):  # the last owner could not become a member
        create_admin(mailing_server, address, STRONG)
    _cli(mailing_server, "users", "set-role", phone, "member")
    page: Any = watched.page
    _sign_in(page, mailing_server, phone)
    for path in ("/notifications", "/settings/notifications", "/notifications?view=archived"):
        page.goto(mailing_server.url + path)
        assert_clean(watched)
    page.get_by_text("Nothing archived").wait_for()

    page.set_viewport_size({"width": 360, "height": 740})
    for path in ("/settings/notifications", "/notifications"):
        page.goto(mailing_server.url + path)
        assert_fits(page)
        assert_clean(watched)
    page.locator('[data-bell-toggle][aria-label="Notifications, 1 unread"]').wait_for()
    page.locator("[data-bell-toggle]").focus()
    page.keyboard.press("Enter")  # the bell opens from the keyboard; its list loads then
    page.locator("#notification-menu").get_by_text("New: You now have the member role").wait_for()
    assert_fits(page)
    assert_clean(watched)
    page.keyboard.press("Escape")
    assert page.locator("[data-bell-menu]").get_attribute("open") is None

    # A browser without EventSource polls the count instead (the first poll at once).
    polling = page.context.new_page()
    asked: list[str] = []
    polling.on("request", lambda r: asked.append(r.url.removeprefix(mailing_server.url)))
    polling.add_init_script("delete window.EventSource;")
    polling.goto(mailing_server.url + "/notifications")
    polling.locator('[data-bell-toggle][aria-label="Notifications, 1 unread"]').wait_for()
    polling.close()
    assert "/notifications/count" in asked and "/notifications/stream" not in asked

    page.get_by_role("button", name="Mark read (You now have the member role)", exact=True).focus()
    page.keyboard.press("Enter")
    page.locator("#toasts").get_by_text("Marked as read.").wait_for()
    page.locator('[data-bell-toggle][aria-label="Notifications"]').wait_for()  # told live: none unread
    assert_clean(watched)
