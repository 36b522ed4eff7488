"""``/notifications``, ``/settings/notifications`` and the header bell, through the whole app:
a member sees and changes only their own notifications, every change needs the CSRF token, and
each action works as a plain form and as HTMX."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy import select

from fastapp.notifications.models import Notification, NotificationPreference
from fastapp.platform.context import Runtime
from tests.accounts.conftest import sign_in
from tests.conftest import csrf_token
from tests.notifications import test_services as shared
from tests.notifications.test_services import make_user, send

config, registry, runtime = shared.config, shared.registry, shared.runtime

HTMX = {"HX-Request": "true"}


async def _signed_in(client: httpx.AsyncClient, runtime: Runtime) -> tuple[str, uuid.UUID]:
    """Ada's account, signed in: a CSRF token of the session and her user id."""
    ada = await make_user(runtime, "ada@example.com")
    response = await sign_in(client, "ada@example.com")
    assert response.status_code == 303, response.text
    return await csrf_token(client, "/notifications"), ada


async def test_signed_out_visitors_are_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/notifications", "/settings/notifications", "/notifications/menu"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith(f"/sign-in?next={path}")
    assert (await client.get("/notifications/count")).status_code == 401
    assert (await client.get("/notifications/stream")).status_code == 401
    assert 'id="notification-bell"' not in (await client.get("/")).text


async def test_a_member_sees_only_their_own(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _token, ada = await _signed_in(client, runtime)
    bo = await make_user(runtime, "bo@example.com", "Bo")
    await send(runtime, [ada], title="For Ada", author="Cy", slug="a")
    await send(runtime, [bo], title="For Bo", author="Cy", slug="b")

    page = await client.get("/notifications")
    assert page.status_code == 200
    assert "New post: For Ada" in page.text and "For Bo" not in page.text
    assert 'href="/posts/a"' in page.text
    # The bell is in the header, labelled, and costs the page no query: its parts load later.
    assert re.search(r'<summary[^>]*aria-label="Notifications"', page.text)
    assert 'data-stream-url="/notifications/stream"' in page.text
    assert 'hx-get="/notifications/menu"' in page.text
    assert (await client.get("/notifications/count")).json() == {"unread": 1}


async def test_filters_and_the_empty_states(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _token, ada = await _signed_in(client, runtime)
    assert "No notifications" in (await client.get("/notifications")).text
    await send(runtime, [ada])
    await send(runtime, [ada], "alerts.raised", what="disk")
    alerts = await client.get("/notifications", params={"category": "alerts"})
    assert "Alert: disk" in alerts.text and "New post" not in alerts.text
    partial = await client.get(
        "/notifications", params={"view": "archived"}, headers={**HTMX, "HX-Target": "notification-results"}
    )
    assert "<html" not in partial.text and "Nothing archived" in partial.text
    unknown = await client.get("/notifications", params={"view": "bogus", "category": "gossip"})
    assert unknown.status_code == 200 and "Alert: disk" in unknown.text  # unknown filters show everything


async def test_actions_need_the_csrf_token_and_work_without_javascript(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    token, ada = await _signed_in(client, runtime)
    [one] = await send(runtime, [ada])
    url = f"/notifications/{one.id}/read"

    refused = await client.post(url, data={"next": "/notifications"})
    assert refused.status_code == 403
    assert await _read_at(runtime, one.id) is None

    done = await client.post(url, data={"csrf_token": token, "next": "/notifications?view=unread"})
    assert done.status_code == 303
    assert done.headers["location"] == "/notifications?view=unread&done=read"
    assert await _read_at(runtime, one.id) is not None
    back = await client.get(done.headers["location"])
    assert "Marked as read." in back.text and "Nothing unread" in back.text

    away = await client.post(
        f"/notifications/{one.id}/archive", data={"csrf_token": token, "next": "https://evil.example/"}
    )
    assert away.headers["location"] == "/notifications?done=archived"  # only back to the inbox
    archived = await client.get("/notifications", params={"view": "archived"})
    assert "New post: Hello" in archived.text and "Move to inbox" in archived.text


async def test_htmx_actions_swap_in_place_with_a_toast(client: httpx.AsyncClient, runtime: Runtime) -> None:
    token, ada = await _signed_in(client, runtime)
    [one] = await send(runtime, [ada])
    [two] = await send(runtime, [ada], "alerts.raised", what="disk")
    headers = {**HTMX, "X-CSRF-Token": token}

    read = await client.post(f"/notifications/{one.id}/read", headers=headers)
    assert read.status_code == 200
    assert f'id="notification-{one.id}"' in read.text and "Mark read" not in read.text
    assert 'hx-swap-oob="beforeend:#toasts"' in read.text and "Marked as read." in read.text

    archived = await client.post(f"/notifications/{two.id}/archive", headers=headers)
    assert "Archived." in archived.text

    await send(runtime, [ada], title="More", author="Bo", slug="more")
    all_read = await client.post("/notifications/read-all", headers=headers)
    assert all_read.status_code == 200
    assert 'id="notification-results"' in all_read.text and "Every notification is marked as read." in all_read.text
    assert (await client.get("/notifications/count")).json() == {"unread": 0}


async def test_another_members_notification_is_not_found(client: httpx.AsyncClient, runtime: Runtime) -> None:
    token, _ada = await _signed_in(client, runtime)
    bo = await make_user(runtime, "bo@example.com", "Bo")
    [bos] = await send(runtime, [bo])
    for action in ("read", "archive", "unarchive"):
        response = await client.post(f"/notifications/{bos.id}/{action}", data={"csrf_token": token})
        assert response.status_code == 404, action
    assert (await client.post("/notifications/not-a-uuid/read", data={"csrf_token": token})).status_code == 404
    assert await _read_at(runtime, bos.id) is None


async def test_the_bell_menu_lists_the_latest_five(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _token, ada = await _signed_in(client, runtime)
    assert "No notifications yet." in (await client.get("/notifications/menu")).text
    for i in range(7):
        await send(runtime, [ada], title=f"n{i}", author="Bo", slug=str(i))
    menu = (await client.get("/notifications/menu", headers=HTMX)).text
    assert re.findall(r"New post: (n\d)", menu) == ["n6", "n5", "n4", "n3", "n2"]
    assert "New: " in menu  # unread is said in words, not only shown


async def test_settings_show_locked_rows_and_save(client: httpx.AsyncClient, runtime: Runtime) -> None:
    token, ada = await _signed_in(client, runtime)
    page = await client.get("/settings/notifications")
    assert page.status_code == 200
    security = re.search(r'<input[^>]*id="pref-security-email"[^>]*>', page.text)
    assert (
        security and "disabled" in security.group(0) and 'aria-describedby="pref-security-locked"' in security.group(0)
    )
    assert 'id="pref-security-locked"' in page.text and "cannot be turned off" in page.text
    assert 'name="frequency.news"' in page.text and 'name="frequency.alerts"' not in page.text  # urgent
    label = re.search(r'<label for="pref-news-email"[^>]*>(.*?)</label>', page.text, re.S)
    assert label and re.sub(r"<[^>]+>", "", label.group(1)) == "News: By email"
    rows = len(runtime.registry.notification_categories)  # one per category, whoever declares it
    assert page.text.count('role="columnheader"') == 4 and page.text.count('role="rowheader"') == rows

    form = {
        "csrf_token": token,
        "category": ["account", "news", "alerts"],
        "in_app.account": "on",
        "email.account": "on",
        "in_app.news": "on",  # news email unticked: off
        "frequency.news": "daily",
        "in_app.alerts": "on",
        "email.alerts": "on",
        "frequency.alerts": "daily",  # not offered for an urgent category: ignored
    }
    assert (await client.post("/settings/notifications", data={**form, "csrf_token": ""})).status_code == 403
    saved = await client.post("/settings/notifications", data=form)
    assert saved.status_code == 303 and saved.headers["location"] == "/settings/notifications?saved=1"
    assert "Your notification settings are saved." in (await client.get(saved.headers["location"])).text
    rows = await _preferences(runtime, ada)
    assert rows["news"] == (True, False, "daily")
    assert rows["alerts"] == (True, True, None)

    again = await client.post(
        "/settings/notifications",
        data={**form, "email.news": "on", "frequency.news": "immediately"},
        headers={**HTMX, "X-CSRF-Token": token},
    )
    assert again.status_code == 200
    assert 'id="preferences-form"' in again.text and "Your notification settings are saved." in again.text
    assert (await _preferences(runtime, ada))["news"] == (True, True, "immediately")

    forged = await client.post("/settings/notifications", data={"csrf_token": token, "category": "security"})
    assert forged.status_code == 422
    assert "Security notifications are mandatory" in forged.text


async def _read_at(runtime: Runtime, ident: uuid.UUID) -> object:
    async with runtime.backends.db.transaction() as session:
        return await session.scalar(select(Notification.read_at).where(Notification.id == ident))


async def _preferences(runtime: Runtime, user_id: uuid.UUID) -> dict[str, tuple[object, object, object]]:
    async with runtime.backends.db.transaction() as session:
        rows = (
            await session.scalars(select(NotificationPreference).where(NotificationPreference.user_id == user_id))
        ).all()
    return {r.category: (r.in_app, r.email, r.email_frequency) for r in rows}
