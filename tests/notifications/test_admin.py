"""``/admin/email``: figures per template and day, messages, template previews, suppressions."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fastapp.accounts import wiring
from fastapp.audit.models import AuditEvent
from fastapp.config import Config
from fastapp.notifications import admin, analytics
from fastapp.notifications.models import EmailEvent, EmailMessage, EmailSuppression
from fastapp.platform.context import Runtime, open_context
from tests.accounts.conftest import STRONG, sign_in
from tests.conftest import make_config, root_of

PAGES = (
    "/admin/email",
    "/admin/email/messages",
    "/admin/email/templates",
    "/admin/email/suppressions",
)


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    return make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def _owner(client: httpx.AsyncClient, runtime: Runtime) -> None:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await wiring.accounts(runtime, ctx).create_owner(email="owner@example.com", password=STRONG, display_name="O")
    await sign_in(client, "owner@example.com")


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def _message(template: str, created: datetime, *, mandatory: bool = False, **stamps: Any) -> EmailMessage:
    ident = uuid.uuid4()
    return EmailMessage(
        id=ident,
        to_address=stamps.pop("to", f"{ident.hex[:8]}@example.com"),
        template=template,
        category="account",
        mandatory=mandatory,
        status=stamps.pop("status", "sent"),
        message_id=f"<{ident.hex}@testserver>",
        context=None,
        created_at=created,
        **stamps,
    )


async def _seed(runtime: Runtime, *rows: Any) -> None:
    async with runtime.backends.db.transaction() as session:
        session.add_all(rows)


def _days_ago(n: int, *, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    today = datetime.now(UTC).date() - timedelta(days=n)
    return datetime(today.year, today.month, today.day, hour, minute, second, tzinfo=UTC)


async def _seed_figures(runtime: Runtime) -> dict[str, uuid.UUID]:
    """welcome, yesterday: 3 sent (2 delivered, 1 opened and clicked, 1 bounced) and 1 still queued;
    verify_email (mandatory), two days ago: 2 sent, both delivered, 1 complaint; one too old."""
    y = _days_ago(1, hour=23, minute=59, second=59)  # the last second of the day stays on that day
    two = _days_ago(2, hour=0)
    opened = _message(
        "welcome", y, status="clicked", sent_at=y, delivered_at=y, opened_at=y, clicked_at=y, to="ada@example.com"
    )
    rows = [
        opened,
        _message("welcome", _days_ago(1, hour=8), status="delivered", sent_at=y, delivered_at=y),
        _message("welcome", _days_ago(1, hour=9), status="bounced", sent_at=y, bounced_at=y, to="gone@example.com"),
        _message("welcome", _days_ago(1, hour=10), status="queued"),
        _message("verify_email", two, mandatory=True, status="delivered", sent_at=two, delivered_at=two),
        _message("verify_email", two, mandatory=True, status="complained", sent_at=two, complained_at=two),
        _message("welcome", _days_ago(40), status="delivered", sent_at=_days_ago(40), delivered_at=_days_ago(40)),
    ]
    await _seed(runtime, *rows)
    await _seed(
        runtime,
        EmailEvent(message_id=opened.id, type="sent", occurred_at=y, detail="{}"),
        EmailEvent(message_id=opened.id, type="opened", occurred_at=y, detail=json.dumps({"agent": "Mail/1.0"})),
    )
    return {"opened": opened.id}


async def test_members_may_not_see_or_change_anything(client: httpx.AsyncClient, runtime: Runtime) -> None:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        service = wiring.accounts(runtime, ctx)
        await service.create_owner(email="owner@example.com", password=STRONG, display_name="O")
        ada = await service.create_owner(email="ada@example.com", password=STRONG, display_name="Ada")
        await service.set_role(ada, "member", granter=None)
    ids = await _seed_figures(runtime)
    await sign_in(client, "ada@example.com")
    for path in (*PAGES, f"/admin/email/messages/{ids['opened']}"):
        assert (await client.get(path)).status_code == 403, path
    home = await client.get("/")
    assert 'href="/admin/email"' not in home.text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', home.text)
    assert token
    for path in ("/admin/email/suppressions", "/admin/email/suppressions/lift"):
        response = await client.post(path, data={"address": "x@example.com", "csrf_token": token.group(1)})
        assert response.status_code == 403, path
    async with runtime.backends.db.transaction() as session:
        assert (await session.scalars(select(EmailSuppression))).all() == []


async def test_the_figures_per_template_and_day(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await _seed_figures(runtime)
    today = datetime.now(UTC).date()
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        report = await analytics.report(ctx, since=today - timedelta(days=29), until=today)
    by_key = {(r.template, r.day): r.counts for r in report.rows}
    welcome = by_key[("welcome", today - timedelta(days=1))]
    verify = by_key[("verify_email", today - timedelta(days=2))]
    assert welcome == analytics.Counts(sent=3, delivered=2, tracked=2, opened=1, clicked=1, bounced=1, complained=0)
    assert verify == analytics.Counts(sent=2, delivered=2, tracked=0, opened=0, clicked=0, bounced=0, complained=1)
    assert len(report.rows) == 2  # the 40-day-old message is out of range
    assert (welcome.open_rate, welcome.click_rate, welcome.complaint_rate) == (0.5, 0.5, 0.0)
    assert welcome.bounce_rate == pytest.approx(1 / 3)
    assert verify.open_rate is None and verify.complaint_rate == 0.5
    days = report.by_day()
    assert len(days) == 30 and days[-1][0] == today and days[-2][1].sent == 3

    await _owner(client, runtime)
    page = await client.get("/admin/email")
    assert page.status_code == 200
    text = re.sub(r">\s+<", "><", html.unescape(page.text))
    assert 'href="/admin/email"' in page.text  # the navigation link
    yesterday = (today - timedelta(days=1)).isoformat()
    row = re.search(r"<tr><td[^>]*>" + yesterday + r"</td>\s*<th scope=\"row\">welcome</th>(.*?)</tr>", text, re.S)
    assert row, text
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in cells][:6] == [
        f"3 messages of welcome on {yesterday}",
        "2",
        "50.0\u00a0%",
        "50.0\u00a0%",
        "33.3\u00a0%",
        "0.0\u00a0%",
    ]
    assert f"/admin/email/messages?template=welcome&day={yesterday}" in text
    assert 'role="img"' in page.text and "Messages sent per day" in text

    old = (today - timedelta(days=40)).isoformat()
    narrow = await client.get(f"/admin/email?since={old}&until={old}")
    assert '<th scope="row">welcome</th>' in narrow.text and "verify_email" not in narrow.text
    since, until = (today - timedelta(days=100)).isoformat(), (today - timedelta(days=90)).isoformat()
    empty = await client.get(f"/admin/email?since={since}&until={until}")
    assert "No mail in this range" in empty.text
    for query in (
        "since=yesterday",
        f"since={today.isoformat()}&until={yesterday}",
        "since=2020-01-01&until=2026-01-01",
    ):
        refused = await client.get(f"/admin/email?{query}")
        assert refused.status_code == 422, query
        assert 'aria-invalid="true"' in refused.text


async def test_messages_are_listed_filtered_and_paged(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await _seed_figures(runtime)
    start = _days_ago(3)
    await _seed(
        runtime, *(_message("bulk", start + timedelta(minutes=n), to=f"bulk{n:02d}@example.com") for n in range(55))
    )
    await _owner(client, runtime)
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()

    drill = await client.get(f"/admin/email/messages?template=welcome&day={yesterday}")
    assert drill.status_code == 200
    assert len(re.findall(r"/admin/email/messages/[0-9a-f-]{36}", drill.text)) == 4
    bounced = await client.get("/admin/email/messages?status=bounced")
    assert "gone@example.com" in bounced.text and "ada@example.com" not in bounced.text
    by_recipient = await client.get("/admin/email/messages?recipient=ADA@")
    assert len(re.findall(r"/admin/email/messages/[0-9a-f-]{36}", by_recipient.text)) == 1

    first = await client.get("/admin/email/messages?template=bulk")
    seen = re.findall(r"bulk(\d\d)@example.com", first.text)
    assert len(seen) == 50 and seen[0] == "54"  # newest first
    older = re.search(r'href="([^"]*before=[^"]+)"', first.text)
    assert older
    second = await client.get(html.unescape(older.group(1)))
    rest = re.findall(r"bulk(\d\d)@example.com", second.text)
    assert rest == ["04", "03", "02", "01", "00"]
    assert "Older messages" not in second.text and "Newest messages" in second.text

    assert (await client.get("/admin/email/messages?status=lost")).status_code == 422
    assert (await client.get("/admin/email/messages?day=someday")).status_code == 422
    assert (await client.get("/admin/email/messages?before=garbage")).status_code == 422
    assert "No message matches" in (await client.get("/admin/email/messages?template=nothing")).text


async def test_a_message_shows_its_events_but_not_its_data(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ids = await _seed_figures(runtime)
    async with runtime.backends.db.transaction() as session:
        message = await session.get(EmailMessage, ids["opened"])
        assert message is not None
        message.context = json.dumps({"action_url": "https://testserver/secret-sign-in-link"})
    await _owner(client, runtime)
    page = await client.get(f"/admin/email/messages/{ids['opened']}")
    assert page.status_code == 200
    assert "ada@example.com" in page.text and "welcome" in page.text
    timeline = re.search(r'<ol[^>]*aria-label="Events, oldest first"[^>]*>(.*?)</ol>', page.text, re.S)
    assert timeline and "opened" in timeline.group(1) and "Mail/1.0" in timeline.group(1)
    assert "secret-sign-in-link" not in page.text
    assert (await client.get(f"/admin/email/messages/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/admin/email/messages/not-an-id")).status_code == 404


async def test_every_template_is_previewed_and_one_without_samples_is_explained(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _owner(client, runtime)
    page = await client.get("/admin/email/templates")
    assert page.status_code == 200
    for name in ("verify_email", "reset_password", "new_sign_in", "notification", "digest"):
        assert f'id="template-{name}"' in page.text, name
    frames = re.findall(r"<iframe[^>]*>", page.text)
    assert len(frames) >= 11 and all(" sandbox" in f and "srcdoc=" in f for f in frames)
    assert "allow-scripts" not in page.text
    assert "Confirm your email address for" in page.text
    assert "could not be previewed" not in page.text

    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "orphan.txt").write_text('{% extends "base.txt" %}{% block subject %}Hi {{ who }}{% endblock %}')
    (folder / "orphan.html").write_text('{% extends "base.html" %}{% block body %}{{ who }}{% endblock %}')
    (folder / "broken.txt").write_text('{% extends "base.txt" %}{% block subject %}Hi {{ who }}{% endblock %}')
    (folder / "broken.html").write_text('{% extends "base.html" %}{% block body %}{{ who }}{% endblock %}')
    (folder / "samples.json").write_text(json.dumps({"broken": {"someone": "else"}}))
    monkeypatch.setattr(admin, "NOTIFICATION_TEMPLATES", folder)
    page = await client.get("/admin/email/templates")
    assert page.status_code == 200
    assert "No sample data: add an entry for 'orphan' to samples.json" in page.text
    assert "UndefinedError" in page.text and "'who' is undefined" in page.text


async def test_suppressions_are_listed_added_and_lifted(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await _owner(client, runtime)
    page = await client.get("/admin/email/suppressions")
    assert page.status_code == 200 and "Nothing suppressed" in page.text
    token = _csrf(page.text)

    added = await client.post(
        "/admin/email/suppressions", data={"address": "Trap@Example.com", "note": "spam trap", "csrf_token": token}
    )
    assert added.status_code == 303
    listed = await client.get(added.headers["location"])
    assert "The address was added to the suppression list." in listed.text
    assert "trap@example.com" in listed.text and "Added by an administrator" in listed.text

    again = await client.post("/admin/email/suppressions", data={"address": "trap@example.com", "csrf_token": token})
    assert again.status_code == 409 and "Already on the list." in again.text
    bad = await client.post("/admin/email/suppressions", data={"address": "nope", "csrf_token": token})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text and 'value="nope"' in bad.text

    async with runtime.backends.db.transaction() as session:
        start = datetime.now(UTC) - timedelta(days=1)
        session.add_all(
            EmailSuppression(
                address=f"old{n:02d}@example.com",
                reason="hard_bounce",
                source="ses",
                detail="550",
                created_at=start + timedelta(seconds=n),
            )
            for n in range(52)
        )
    searched = await client.get("/admin/email/suppressions?q=TRAP")
    assert "trap@example.com" in searched.text and "old00@example.com" not in searched.text
    assert "No match" in (await client.get("/admin/email/suppressions?q=zzz")).text
    first = await client.get("/admin/email/suppressions")
    older = re.search(r'href="([^"]*before=[^"]+)"', first.text)
    assert older and "(53 in all)" in first.text
    second = await client.get(html.unescape(older.group(1)))
    assert re.findall(r"old(\d\d)@example.com</th>", second.text) == ["02", "01", "00"]

    lifted = await client.post(
        "/admin/email/suppressions/lift", data={"address": "trap@example.com", "csrf_token": token}
    )
    assert lifted.status_code == 303
    assert "The suppression was lifted" in (await client.get(lifted.headers["location"])).text
    missing = await client.post(
        "/admin/email/suppressions/lift", data={"address": "trap@example.com", "csrf_token": token}
    )
    assert missing.status_code == 404
    async with runtime.backends.db.transaction() as session:
        assert await session.get(EmailSuppression, "trap@example.com") is None
        events = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action.startswith("email.suppression.")).order_by(AuditEvent.seq)
            )
        ).all()
    assert [e.action for e in events] == ["email.suppression.added", "email.suppression.lifted"]
    assert json.loads(events[1].data)["before"]["reason"] == "manual"
    assert all(e.actor_label == "owner@example.com" for e in events)


def test_days_are_bucketed_per_backend() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    column = EmailMessage.created_at
    pg = str(analytics.day_bucket(column, "postgresql").compile(dialect=postgresql.dialect()))
    lite = str(analytics.day_bucket(column, "sqlite").compile(dialect=sqlite.dialect()))
    assert pg == "to_char(timezone('UTC', email_messages.created_at), 'YYYY-MM-DD')"
    assert lite == "date(email_messages.created_at)"
    assert analytics.parse_range("", "", today=date(2026, 3, 1)) == (date(2026, 1, 31), date(2026, 3, 1))
