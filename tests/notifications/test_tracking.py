"""The endpoints mail links point at: the open pixel, click redirects and unsubscribing, through the
whole app. Tokens come from real sent mail or from the app's own signer; forged ones never work."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from fastapp.audit.models import AuditEvent
from fastapp.config import Config
from fastapp.notifications.email import kit
from fastapp.notifications.kinds import Category
from fastapp.notifications.models import MailStatus, NotificationPreference
from fastapp.notifications.tracking import PIXEL, MailTokens, rewrite_links, track_html
from fastapp.platform.context import Runtime
from fastapp.platform.registry import Registry
from tests.accounts.conftest import outbox
from tests.conftest import TEST_SECRET, csrf_token
from tests.notifications.test_email import LINKED, add_user, email_app, html_of, load, queue, run_email_jobs

FORGED = [
    "",
    "not-a-token",
    "WyJhYmMiLCJodHRwczovL2V2aWwuZXhhbXBsZSJd.forged-signature",
]


@pytest.fixture
def registry(registry: Registry) -> Registry:
    registry.add_notification_category(Category(key="test_news", label="Product news"))
    registry.add_notification_category(Category(key="test_locked", label="Locked", mandatory=True))
    return registry


async def _unsubscribed(runtime: Runtime, user_id: uuid.UUID, category: str) -> bool | None:
    async with runtime.backends.db.transaction() as session:
        row = await session.get(NotificationPreference, (user_id, category))
        return None if row is None else row.email


async def _audit_count(runtime: Runtime, action: str) -> int:
    async with runtime.backends.db.transaction() as session:
        count = await session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))
    return int(count or 0)


# --- Signing and rewriting (no app) ---------------------------------------------------------------


def test_tokens_are_bound_to_their_purpose_and_key() -> None:
    tokens, other = MailTokens(TEST_SECRET), MailTokens(TEST_SECRET + "x")
    message_id, url = uuid.uuid4(), "https://example.org/a?b=c"
    click = tokens.click_token(message_id, url)
    assert tokens.read_click(click) == (message_id, url)
    assert other.read_click(click) is None  # another secret
    assert tokens.read_open(click) is None  # another purpose
    assert tokens.read_unsubscribe(click) is None
    assert tokens.read_click(click[:-2] + ("AA" if not click.endswith("AA") else "BB")) is None  # tampered
    assert tokens.read_open(tokens.open_token(message_id)) == message_id
    assert tokens.read_unsubscribe(tokens.unsubscribe_token(message_id, "news")) == (message_id, "news")


def test_rewriting_touches_only_anchor_hrefs() -> None:
    html = (
        '<a class="x" href="https://a.example/?q=1&amp;r=2">one</a>'
        "<a title='a > b' href='http://b.example/'>two</a>"
        '<a data-href="https://c.example/" name="n">three</a>'
        '<link href="https://d.example/style.css">'
        '<area href="https://e.example/">'
    )
    seen: list[str] = []

    def rewrite(url: str) -> str:
        seen.append(url)
        return f"https://t.example/?u={url}&x=1"

    out = rewrite_links(html, rewrite)
    assert seen == ["https://a.example/?q=1&r=2", "http://b.example/"]
    assert 'href="https://t.example/?u=https://a.example/?q=1&amp;r=2&amp;x=1"' in out
    assert 'data-href="https://c.example/"' in out
    assert 'href="https://d.example/style.css"' in out


def test_the_pixel_goes_before_the_end_of_the_body() -> None:
    tokens, message_id = MailTokens(TEST_SECRET), uuid.uuid4()
    html = track_html("<html><body><p>Hi</p></body></html>", message_id, tokens=tokens, site_url="https://s.example/")
    assert re.fullmatch(
        r'<html><body><p>Hi</p><img src="https://s\.example/email/open/[^"]+"[^>]*></body></html>', html
    )


# --- Opens and clicks -----------------------------------------------------------------------------


async def test_the_pixel_records_an_open(config: Config) -> None:
    async with email_app(config, tracking=True) as (client, runtime):
        message_id = await queue(runtime, context=LINKED)
        await run_email_jobs(runtime)
        [mail] = outbox(config)
        [pixel] = re.findall(r'<img src="http://testserver(/email/open/[^"]+)"', html_of(mail))
        response = await client.get(pixel)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/gif"
        assert response.content == PIXEL
        assert "no-store" in response.headers["cache-control"]
        await client.get(pixel)
        message, events = await load(runtime, message_id)
    assert events == ["sent", "opened", "opened"]
    assert (message.status, message.open_count) == (MailStatus.opened.value, 2)
    assert message.opened_at is not None


@pytest.mark.parametrize("token", FORGED[1:])
async def test_a_forged_pixel_is_an_image_that_records_nothing(config: Config, token: str) -> None:
    async with email_app(config, tracking=True) as (client, runtime):
        message_id = await queue(runtime)
        await run_email_jobs(runtime)
        response = await client.get(f"/email/open/{token}")
        _message, events = await load(runtime, message_id)
    assert (response.status_code, response.content) == (200, PIXEL)
    assert events == ["sent"]


async def test_a_click_is_recorded_and_redirected(config: Config) -> None:
    async with email_app(config, tracking=True) as (client, runtime):
        message_id = await queue(runtime, context=LINKED)
        await run_email_jobs(runtime)
        [mail] = outbox(config)
        link = re.findall(r'href="http://testserver(/email/click/[^"]+)"', html_of(mail))[0]
        response = await client.get(link)
        message, events = await load(runtime, message_id)
    assert response.status_code == 302
    assert response.headers["location"] == LINKED["link"]
    assert events == ["sent", "opened", "clicked"]  # the click proves the open the pixel missed
    assert (message.status, message.click_count, message.open_count) == (MailStatus.clicked.value, 1, 1)


@pytest.mark.parametrize("token", FORGED[1:])
async def test_a_forged_click_never_redirects(config: Config, token: str) -> None:
    async with email_app(config, tracking=True) as (client, runtime):
        message_id = await queue(runtime)
        await run_email_jobs(runtime)
        # A real token for another purpose, and a real click token with its URL swapped, too.
        tokens = kit(runtime).tokens
        real = tokens.click_token(message_id, "https://good.example/")
        payload, signature = real.rsplit(".", 1)
        swapped = tokens.click_token(message_id, "https://evil.example/").rsplit(".", 1)[0] + "." + signature
        for attempt in (token, tokens.open_token(message_id), swapped):
            response = await client.get(f"/email/click/{attempt}")
            assert response.status_code == 404, attempt
            assert "location" not in response.headers
            assert "evil.example" not in response.text
        _message, events = await load(runtime, message_id)
    assert events == ["sent"]
    assert payload  # the real token has a payload part: the swap above kept its signature only


async def test_a_click_for_a_purged_message_still_redirects(config: Config) -> None:
    async with email_app(config, tracking=True) as (client, runtime):
        token = kit(runtime).tokens.click_token(uuid.uuid4(), "https://docs.example.org/")
        response = await client.get(f"/email/click/{token}")
    assert (response.status_code, response.headers["location"]) == (302, "https://docs.example.org/")


# --- Unsubscribing --------------------------------------------------------------------------------


def _unsubscribe_path(mail: MimeMessage) -> str:
    header = str(mail["List-Unsubscribe"])
    parts = urlsplit(header.strip("<>"))
    return f"{parts.path}?{parts.query}"


async def test_one_click_unsubscribe_turns_the_category_off(config: Config, registry: Registry) -> None:
    async with email_app(config, registry=registry) as (client, runtime):
        user_id = await add_user(runtime)
        await queue(runtime, user_id=user_id, category="test_news")
        await run_email_jobs(runtime)
        [mail] = outbox(config)
        path = _unsubscribe_path(mail)
        client.cookies.clear()  # the mail client's server: no session, no CSRF token
        first = await client.post(path, data={"List-Unsubscribe": "One-Click"})
        again = await client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert (first.status_code, again.status_code) == (200, 200)
        assert "You are unsubscribed" in first.text
        assert await _unsubscribed(runtime, user_id, "test_news") is False
        assert await _unsubscribed(runtime, user_id, "comments") is None  # other categories untouched
        assert await _audit_count(runtime, "notifications.unsubscribed") == 1  # the repeat changed nothing


async def test_one_click_unsubscribe_accepts_multipart(config: Config, registry: Registry) -> None:
    async with email_app(config, registry=registry) as (client, runtime):
        user_id = await add_user(runtime)
        token = kit(runtime).tokens.unsubscribe_token(user_id, "test_news")
        response = await client.post(
            f"/email/unsubscribe?token={token}", files={"List-Unsubscribe": (None, "One-Click")}
        )
        assert response.status_code == 200
        assert await _unsubscribed(runtime, user_id, "test_news") is False


async def test_unsubscribing_from_a_digest_turns_off_every_daily_category(config: Config, registry: Registry) -> None:
    registry.add_notification_category(Category(key="test_tips", label="Tips"))
    async with email_app(config, registry=registry) as (client, runtime):
        user_id = await add_user(runtime)
        async with runtime.backends.db.transaction() as session:
            now = datetime.now(UTC)
            for category, frequency in (("test_news", "daily"), ("test_tips", "daily"), ("comments", "immediately")):
                session.add(
                    NotificationPreference(
                        user_id=user_id, category=category, email=True, email_frequency=frequency, updated_at=now
                    )
                )
        token = kit(runtime).tokens.unsubscribe_token(user_id, "digest")
        client.cookies.clear()
        first = await client.post(f"/email/unsubscribe?token={token}", data={"List-Unsubscribe": "One-Click"})
        again = await client.post(f"/email/unsubscribe?token={token}", data={"List-Unsubscribe": "One-Click"})
        assert (first.status_code, again.status_code) == (200, 200)
        assert await _unsubscribed(runtime, user_id, "test_news") is False
        assert await _unsubscribed(runtime, user_id, "test_tips") is False
        assert await _unsubscribed(runtime, user_id, "comments") is True  # sent at once: not part of any digest
        assert await _audit_count(runtime, "notifications.unsubscribed") == 1


async def test_the_unsubscribe_page_confirms_with_a_button(config: Config, registry: Registry) -> None:
    async with email_app(config, registry=registry) as (client, runtime):
        user_id = await add_user(runtime)
        async with runtime.backends.db.transaction() as session:  # a row already there: updated
            session.add(
                NotificationPreference(
                    user_id=user_id, category="test_news", in_app=True, email=True, updated_at=datetime.now(UTC)
                )
            )
        token = kit(runtime).tokens.unsubscribe_token(user_id, "test_news")
        page = await client.get(f"/email/unsubscribe?token={token}")
        assert page.status_code == 200
        assert "Product news" in page.text
        form = re.search(r'<form(?=[^>]*method="post")[^>]*action="(/email/unsubscribe\?[^"]+)"', page.text)
        assert form, page.text
        assert await _unsubscribed(runtime, user_id, "test_news") is True  # a GET changes nothing
        action = form.group(1).replace("&amp;", "&")
        done = await client.post(action, data={"csrf_token": await csrf_token(client, action)})
        assert done.status_code == 200
        assert "You are unsubscribed" in done.text
        assert await _unsubscribed(runtime, user_id, "test_news") is False
        async with runtime.backends.db.transaction() as session:
            row = await session.get(NotificationPreference, (user_id, "test_news"))
            assert row is not None
            assert row.in_app is True  # only the email channel changes


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_forged_or_mandatory_unsubscribe_link_is_refused(
    config: Config, registry: Registry, method: str
) -> None:
    async with email_app(config, registry=registry) as (client, runtime):
        user_id = await add_user(runtime)
        tokens = kit(runtime).tokens
        good = tokens.unsubscribe_token(user_id, "test_news")
        refused = [*FORGED, good[:-3] + "xyz", tokens.unsubscribe_token(user_id, "test_locked")]
        refused.append(MailTokens(TEST_SECRET + "x").unsubscribe_token(user_id, "test_news"))
        for token in refused:
            url = f"/email/unsubscribe?token={token}"
            if method == "GET":
                response = await client.get(url)
            else:
                response = await client.post(url, data={"List-Unsubscribe": "One-Click"})
            assert response.status_code == 404, token
        assert await _unsubscribed(runtime, user_id, "test_news") is None
        assert await _unsubscribed(runtime, user_id, "test_locked") is None


async def test_unsubscribe_links_skip_the_click_redirect(config: Config, registry: Registry) -> None:
    async with email_app(config, registry=registry, tracking=True) as (client, runtime):
        user_id = await add_user(runtime)
        await queue(runtime, user_id=user_id, category="test_news", context=LINKED)
        await run_email_jobs(runtime)
        [mail] = outbox(config)
        footer = re.search(r'href="http://testserver(/email/unsubscribe\?token=[^"]+)"', html_of(mail))
        assert footer
        assert footer.group(1).replace("&amp;", "&") == _unsubscribe_path(mail)
        response = await client.get(footer.group(1).replace("&amp;", "&"))
        assert response.status_code == 200


def test_exempt_paths_are_only_the_unsubscribe_url(registry: Registry) -> None:
    assert "/email/unsubscribe" in registry.csrf_exempt
    assert not any(path.startswith(("/email/open", "/email/click")) for path in registry.csrf_exempt)


async def test_browser_posts_elsewhere_still_need_a_token(client: httpx.AsyncClient) -> None:
    await csrf_token(client)  # a browser session
    response = await client.post("/email/click/abc", data={"x": "1"})
    assert response.status_code == 403
