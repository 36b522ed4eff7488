"""The user's own profile and preferences: API, page (HTMX and plain forms), audit, extension fields."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated

import httpx
import pytest
from pydantic import Field
from sqlalchemy import select

from fastapp.accounts.profile import ProfileField
from fastapp.audit.models import AuditEvent
from fastapp.config import Config
from fastapp.platform.context import Runtime
from fastapp.platform.registry import Registry
from fastapp.ui.dates import DisplayPrefs, format_datetime
from tests.accounts.conftest import api_tokens, bearer, sign_in, verified_user
from tests.conftest import client_for, csrf_token, root_of

HTMX = {"HX-Request": "true"}


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def events(runtime: Runtime, action: str) -> list[AuditEvent]:
    async with runtime.backends.db.transaction() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def signed_in(client: httpx.AsyncClient, config: Config, address: str = "ada@example.com") -> None:
    await verified_user(client, config, address)
    assert (await sign_in(client, address)).status_code == 303


async def test_profile_api_reads_and_patches(client: httpx.AsyncClient, config: Config, runtime: Runtime) -> None:
    await verified_user(client, config, "ada@example.com")
    auth = bearer(await api_tokens(client, "ada@example.com"))
    start = await client.get("/api/v1/me/profile", headers=auth)
    assert start.status_code == 200
    assert start.json() == {"display_name": "Ada", "bio": "", "locale": "en", "timezone": "UTC", "extra": {}}
    changed = await client.patch(
        "/api/v1/me/profile",
        headers=auth,
        json={"display_name": "Ada Lovelace", "bio": "Analyst.", "timezone": "Europe/Paris", "locale": "fr"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["timezone"] == "Europe/Paris"
    me = await client.get("/api/v1/me", headers=auth)
    assert me.json()["display_name"] == "Ada Lovelace"  # the cached principal was refreshed
    [event] = await events(runtime, "user.profile.updated")
    data = json.loads(event.data)
    assert data["before"] == {"locale": "en", "timezone": "UTC"}
    assert data["after"] == {"locale": "fr", "timezone": "Europe/Paris"}
    # What the user wrote about themselves is in the part erasure can blank, not the hashed one.
    personal = json.loads(event.personal)
    assert personal["display_name"] == {"before": "Ada", "after": "Ada Lovelace"}
    assert personal["bio"] == {"before": "", "after": "Analyst."}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"bio": "x" * 501}, "bio"),
        ({"locale": "xx"}, "locale"),
        ({"display_name": "  "}, "display_name"),
    ],
)
async def test_profile_api_refuses_bad_values(
    client: httpx.AsyncClient, config: Config, body: dict[str, str], field: str
) -> None:
    await verified_user(client, config, "ada@example.com")
    auth = bearer(await api_tokens(client, "ada@example.com"))
    response = await client.patch("/api/v1/me/profile", headers=auth, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field]
    assert (await client.get("/api/v1/me/profile", headers=auth)).json()["timezone"] == "UTC"


async def test_preferences_api(client: httpx.AsyncClient, config: Config, runtime: Runtime) -> None:
    await verified_user(client, config, "ada@example.com")
    auth = bearer(await api_tokens(client, "ada@example.com"))
    assert (await client.get("/api/v1/me/preferences", headers=auth)).json() == {
        "theme": "system",
        "locale": "en",
        "timezone": "UTC",
        "date_format": "iso",
        "time_format": "24h",
    }
    bad = await client.patch("/api/v1/me/preferences", headers=auth, json={"theme": "neon", "date_format": "ymd"})
    assert bad.status_code == 422
    assert sorted(e["field"] for e in bad.json()["errors"]) == ["date_format", "theme"]
    ok = await client.patch(
        "/api/v1/me/preferences", headers=auth, json={"theme": "dark", "date_format": "dmy", "time_format": "12h"}
    )
    assert ok.status_code == 200
    assert ok.json()["theme"] == "dark" and ok.json()["time_format"] == "12h"
    [event] = await events(runtime, "user.preferences.changed")
    assert json.loads(event.data)["after"] == {"theme": "dark", "date_format": "dmy", "time_format": "12h"}


async def test_profile_page_htmx_save_and_inline_errors(client: httpx.AsyncClient, config: Config) -> None:
    await signed_in(client, config)
    page = await client.get("/account/profile")
    assert page.status_code == 200
    assert 'name="display_name"' in page.text and 'href="/settings/notifications"' in page.text
    token = await csrf_token(client, "/account/profile")
    form = {"csrf_token": token, "display_name": "Ada L.", "bio": "Hi", "locale": "de", "timezone": "Nowhere/City"}
    bad = await client.post("/account/profile", data=form, headers=HTMX)
    assert bad.status_code == 422
    assert "<html" not in bad.text  # a fragment: the form replaces itself
    assert 'id="field-timezone-error"' in bad.text and 'value="Ada L."' in bad.text
    good = await client.post("/account/profile", data={**form, "timezone": "America/New_York"}, headers=HTMX)
    assert good.status_code == 200
    assert "Your profile is saved." in good.text
    assert 'value="America/New_York"' in good.text


async def test_profile_page_plain_form_fallback(client: httpx.AsyncClient, config: Config) -> None:
    await signed_in(client, config)
    token = await csrf_token(client, "/account/profile")
    form = {"csrf_token": token, "display_name": "Ada", "bio": "y" * 501, "locale": "en", "timezone": "UTC"}
    bad = await client.post("/account/profile", data=form)
    assert bad.status_code == 422
    assert "<html" in bad.text and "Use at most 500 characters" in bad.text
    good = await client.post("/account/profile", data={**form, "bio": "Short."})
    assert good.status_code == 303
    assert good.headers["location"] == "/account/profile?saved=profile"
    assert "Your profile is saved." in (await client.get(good.headers["location"])).text


async def test_saving_a_theme_sets_the_shell_cookie(client: httpx.AsyncClient, config: Config) -> None:
    await signed_in(client, config)
    token = await csrf_token(client, "/account/profile")
    response = await client.post(
        "/account/preferences",
        data={"csrf_token": token, "theme": "dark", "date_format": "mdy", "time_format": "12h"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "fastapp_theme=dark" in response.headers["set-cookie"]
    assert "themeChanged" in response.headers["hx-trigger"]
    page = await client.get("/account/profile")
    assert 'data-theme-mode="dark"' in page.text
    client.cookies.clear()  # another browser: the saved theme follows the user at sign-in
    signed = await sign_in(client, "ada@example.com")
    assert "fastapp_theme=dark" in ";".join(signed.headers.get_list("set-cookie"))


async def test_an_application_profile_field(registry: Registry, config: Config) -> None:
    """A domain registers a field; it is shown, validated with its type and kept in profile_extra."""
    registry.profile_fields.append(
        ProfileField("pronouns", "Pronouns", Annotated[str, Field(max_length=20)], help="e.g. she/her")
    )
    async with client_for(config, registry) as client:
        await signed_in(client, config)
        page = await client.get("/account/profile")
        assert 'name="extra_pronouns"' in page.text and "e.g. she/her" in page.text
        auth = bearer(await api_tokens(client, "ada@example.com"))
        bad = await client.patch("/api/v1/me/profile", headers=auth, json={"extra": {"pronouns": "x" * 21}})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "pronouns"
        unknown = await client.patch("/api/v1/me/profile", headers=auth, json={"extra": {"shoe": "42"}})
        assert unknown.status_code == 422
        token = await csrf_token(client, "/account/profile")
        saved = await client.post(
            "/account/profile",
            data={
                "csrf_token": token,
                "display_name": "Ada",
                "locale": "en",
                "timezone": "UTC",
                "extra_pronouns": "she/her",
            },
        )
        assert saved.status_code == 303
        assert (await client.get("/api/v1/me/profile", headers=auth)).json()["extra"] == {"pronouns": "she/her"}


def test_one_date_formatter_follows_the_preferences() -> None:
    moment = datetime(2026, 1, 31, 13, 45, tzinfo=UTC)
    assert format_datetime(moment) == "2026-01-31 13:45 UTC"
    assert format_datetime(moment, DisplayPrefs("Europe/Paris", "dmy", "12h")) == "31/01/2026 2:45 PM CET"
    assert format_datetime(moment, DisplayPrefs("America/New_York", "mdy", "24h")) == "01/31/2026 08:45 EST"
    assert format_datetime(moment.replace(tzinfo=None), DisplayPrefs("Bad/Zone")) == "2026-01-31 13:45 UTC"


async def test_pages_show_dates_in_the_viewers_preferences(client: httpx.AsyncClient, config: Config) -> None:
    await signed_in(client, config)
    before = await client.get("/account/security")
    assert re.search(r"last active \d{4}-\d\d-\d\d \d\d:\d\d UTC", before.text)
    token = await csrf_token(client, "/account/profile")
    saved = await client.post(
        "/account/profile",
        data={"csrf_token": token, "display_name": "Ada", "locale": "en", "timezone": "Asia/Tokyo"},
    )
    assert saved.status_code == 303
    response = await client.post(
        "/account/preferences",
        data={"csrf_token": token, "theme": "system", "date_format": "dmy", "time_format": "12h"},
    )
    assert response.status_code == 303
    after = await client.get("/account/security")  # sessions and recent activity
    assert re.search(r"last active \d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M JST", after.text)
    assert re.search(r"\d\d/\d\d/\d{4} \d{1,2}:\d\d:\d\d [AP]M JST · ", after.text)
    inbox = await client.get("/notifications")
    assert inbox.status_code == 200
    uploaded = await client.post(
        "/files/upload", data={"csrf_token": token}, files={"file": ("notes.txt", b"hello", "text/plain")}
    )
    assert uploaded.status_code == 303
    files = await client.get("/files")
    assert re.search(r"<time[^>]*>\d\d/\d\d/\d{4} \d{1,2}:\d\d [AP]M JST</time>", files.text)


async def test_the_header_theme_switch_saves_a_signed_in_users_preference(
    client: httpx.AsyncClient, config: Config
) -> None:
    await signed_in(client, config)
    token = await csrf_token(client)
    switched = await client.post("/preferences/theme", data={"mode": "dark", "csrf_token": token})
    assert switched.status_code == 303 and switched.cookies.get("fastapp_theme") == "dark"
    auth = bearer(await api_tokens(client, "ada@example.com"))
    assert (await client.get("/api/v1/me/preferences", headers=auth)).json()["theme"] == "dark"
