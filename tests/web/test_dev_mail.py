"""The development mail viewer, through the whole app, reading the test's var/mail outbox."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from fastapp.config import Config
from fastapp.platform.mail import Message, OutboxMailer
from fastapp.platform.registry import Registry
from fastapp.web import dev_mail


class StepClock:
    def __init__(self) -> None:
        self.current = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(minutes=1)
        return self.current


@pytest.fixture
def registry(registry: Registry) -> Registry:
    registry.page_routers.append(dev_mail.rt)
    return registry


@pytest.fixture
def outbox(config: Config) -> OutboxMailer:
    return OutboxMailer(config.app.var_dir / "mail", sender="FastApp <no-reply@app.example.com>", clock=StepClock())


def a_message(subject: str, **changes: str) -> Message:
    values = {
        "to": "ada@example.com",
        "subject": subject,
        "text": f"Text of {subject}.\nOpen https://app.example.com/verify?t=1\n",
        "html": f'<p>HTML of {html.escape(subject)}. <a href="https://app.example.com/verify?t=1&amp;x=2">Verify</a></p>',
        "category": "verify_email",
    } | changes
    return Message(**values)


def names_in(page: str) -> list[str]:
    return re.findall(r'href="/dev/mail/([^"]+\.eml)"', page)


async def test_empty_outbox(client: httpx.AsyncClient) -> None:
    response = await client.get("/dev/mail")
    assert response.status_code == 200
    assert "No mail yet" in response.text
    assert response.text.count("<h1") == 1
    assert "<table" not in response.text


async def test_list_shows_newest_first(client: httpx.AsyncClient, outbox: OutboxMailer) -> None:
    await outbox.send(a_message("First mail"))
    await outbox.send(a_message("Second mail", to="bo@example.com"))
    page = (await client.get("/dev/mail")).text
    assert page.index("Second mail") < page.index("First mail")
    assert "bo@example.com" in page
    assert "2025-03-01 12:02:00 UTC" in page
    assert '<th scope="col"' in page
    assert [e.name for e in await outbox.list_messages()] == names_in(page)


async def test_detail_shows_headers_parts_and_neighbours(client: httpx.AsyncClient, outbox: OutboxMailer) -> None:
    for subject in ("Older one", "<script>alert(1)</script> middle", "Newer one"):
        await outbox.send(a_message(subject))
    newer, middle, older = (e.name for e in await outbox.list_messages())
    response = await client.get(f"/dev/mail/{middle}")
    assert response.status_code == 200
    page = response.text
    assert "<h1" in page
    assert page.count("<h1") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt; middle" in page
    assert "<script>" not in page  # nothing inline, and the mail's HTML only as an escaped srcdoc
    assert re.search(r"<iframe[^>]*\bsandbox(?:=\"\")?[ >]", page)
    assert "allow-scripts" not in page
    assert re.search(r'<iframe[^>]*title="HTML part of', page)
    assert "srcdoc=" in page
    assert "<pre" in page
    assert "Text of &lt;script&gt;alert(1)&lt;/script&gt; middle." in page
    assert "Message-ID" in page
    assert "X-FastApp-Category" in page
    assert 'href="https://app.example.com/verify?t=1&amp;x=2"' in page  # the mail's link, clickable
    assert f'href="/dev/mail/{newer}"' in page
    assert f'href="/dev/mail/{older}"' in page
    assert 'href="/dev/mail"' in page
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    newest_page = (await client.get(f"/dev/mail/{newer}")).text
    assert "Newer message" not in newest_page
    assert "Older message" in newest_page
    oldest_page = (await client.get(f"/dev/mail/{older}")).text
    assert "Older message" not in oldest_page


async def test_htmx_gets_a_fragment(client: httpx.AsyncClient, outbox: OutboxMailer) -> None:
    await outbox.send(a_message("Only mail"))
    response = await client.get("/dev/mail", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "Only mail" in response.text


@pytest.mark.parametrize(
    "path",
    [
        "/dev/mail/..%2Ffastapp.db",
        "/dev/mail/%2e%2e%2F%2e%2e%2Fetc%2Fpasswd",
        "/dev/mail/notes.eml",
        "/dev/mail/20250301T120000000000Z-000000000000.eml",
    ],
)
async def test_only_outbox_files_are_shown(
    client: httpx.AsyncClient, outbox: OutboxMailer, config: Config, path: str
) -> None:
    await outbox.send(a_message("Real mail"))
    (config.app.var_dir / "mail" / "notes.eml").write_text("Subject: planted\n\nhello")
    response = await client.get(path)
    assert response.status_code == 404
    assert "planted" not in response.text
