"""The email administration in a real browser: figures, a drill-down to messages and one message,
template previews and the suppression list; clean under axe, CSP-safe and 360 px wide."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from fastapp.notifications.models import EmailEvent, EmailMessage, EmailSuppression
from tests.accounts.conftest import STRONG
from tests.e2e.conftest import Server, Watched, assert_clean, assert_fits, create_admin

pytestmark = pytest.mark.e2e
ADMIN = "mail-admin@example.com"


def _seed(server: Server) -> None:
    """Messages of yesterday written straight into the server's database, as the mailer would."""
    engine = create_engine(f"sqlite:///{Path(server.env['FASTAPP_VAR_DIR']) / 'fastapp.db'}")
    day = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=1)
    with Session(engine) as session, session.begin():
        for n, status in enumerate(["clicked", "delivered", "delivered", "bounced", "complained", "sent"]):
            ident = uuid.uuid4()
            at = day + timedelta(minutes=n)
            stamps: dict[str, Any] = {"sent_at": at}
            if status in {"clicked", "delivered", "complained"}:
                stamps["delivered_at"] = at
            if status == "clicked":
                stamps.update(opened_at=at, clicked_at=at, open_count=1, click_count=1)
            stamps.update({f"{status}_at": at} if status in {"bounced", "complained"} else {})
            session.add(
                EmailMessage(
                    id=ident,
                    to_address=f"a-rather-long-recipient-address-{n}@subdomain.example.com",
                    template="e2e_welcome",
                    category="account",
                    mandatory=False,
                    status=status,
                    subject="Welcome to FastApp",
                    message_id=f"<{ident.hex}@127.0.0.1>",
                    provider_message_id=f"0100018c-{ident.hex}",
                    context=None,
                    created_at=at,
                    **stamps,
                )
            )
            session.flush()
            session.add(EmailEvent(message_id=ident, type="sent", occurred_at=at, detail="{}"))
            if status != "sent":
                detail = {"source": "ses", "smtp": "250 2.0.0 OK " + "x" * 120}
                session.add(EmailEvent(message_id=ident, type=status, occurred_at=at, detail=json.dumps(detail)))
        session.add(
            EmailSuppression(
                address="bounced-long-address-for-layout@subdomain.example.com",
                reason="hard_bounce",
                source="ses",
                detail="status=5.1.1; diagnostic=smtp; 550 5.1.1 user unknown " + "y" * 80,
                created_at=day,
            )
        )
    engine.dispose()


def test_an_admin_reads_the_figures_and_manages_suppressions(server: Server, watched: Watched) -> None:
    create_admin(server, ADMIN, STRONG)
    _seed(server)
    page: Any = watched.page
    page.goto(server.url + "/sign-in")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password", exact=True).fill(STRONG)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/security")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Email").click()
    page.wait_for_url("**/admin/email")
    assert page.locator("h1").inner_text() == "Email"
    assert page.get_by_role("img", name="Messages sent per day").count() == 1
    assert_clean(watched)
    overview = page.url

    page.get_by_role("link", name="messages of e2e_welcome on").first.click()
    page.wait_for_url("**/admin/email/messages?template=e2e_welcome*")
    assert page.locator("tbody tr").count() == 6
    assert_clean(watched)
    messages = page.url
    page.get_by_label("Status").select_option("bounced")
    page.get_by_role("button", name="Show messages").click()
    page.wait_for_url("**status=bounced*")
    assert page.locator("tbody tr").count() == 1
    page.locator("tbody tr a").first.click()
    page.wait_for_url("**/admin/email/messages/*")
    assert page.get_by_role("list", name="Events, oldest first").locator("li").count() == 2
    assert_clean(watched)
    detail = page.url

    page.get_by_role("navigation", name="Email administration").get_by_role("link", name="Templates").click()
    page.wait_for_url("**/admin/email/templates")
    assert page.locator("iframe[sandbox]").count() >= 11
    preview = page.frame_locator("iframe[title='HTML part of the verify_email mail']")
    assert preview.get_by_role("link", name="Confirm email address").count() == 1
    assert_clean(watched)
    templates = page.url

    page.get_by_role("navigation", name="Email administration").get_by_role("link", name="Suppressions").click()
    page.wait_for_url("**/admin/email/suppressions")
    page.get_by_label("Email address").fill("trap@example.com")
    page.get_by_label("Note (optional)").fill("a spam trap")
    page.get_by_role("button", name="Suppress address").click()
    page.get_by_text("The address was added to the suppression list.").wait_for()
    assert page.get_by_role("row", name="trap@example.com").count() == 1
    assert_clean(watched)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("row", name="trap@example.com").get_by_role("button", name="Lift").click()
    page.get_by_text("The suppression was lifted").wait_for()
    assert page.get_by_role("row", name="trap@example.com").count() == 0
    assert_clean(watched)
    suppressions = page.url.split("?")[0]

    page.set_viewport_size({"width": 360, "height": 740})
    for url in (overview, messages, detail, templates, suppressions):
        page.goto(url)
        assert_fits(page)
        assert_clean(watched)
