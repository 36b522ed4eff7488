"""The user directory service: search, filters, sorts and keyset pages that neither skip nor repeat."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from fastapp.accounts import directory, wiring
from fastapp.accounts.models import User
from fastapp.platform.context import Runtime, open_context
from fastapp.platform.errors import Invalid
from tests.conftest import root_of

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def add_users(runtime: Runtime, specs: list[dict[str, object]]) -> None:
    """Insert users directly: the directory reads rows, however they were made."""
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        for spec in specs:
            email = str(spec["email"])
            ctx.session.add(
                User(
                    email=email,
                    email_key=email.lower(),
                    display_name=str(spec.get("name", email.split("@")[0])),
                    password_hash="$argon2id$secret-hash",
                    status=str(spec.get("status", "active")),
                    email_verified_at=BASE if spec.get("verified", True) else None,
                    totp_enabled_at=BASE if spec.get("two_factor") else None,
                    password_changed_at=BASE,
                    created_at=spec.get("created", BASE),
                )
            )


async def listed(runtime: Runtime, **query: object) -> tuple[list[str], str | None]:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        page = await directory.list_users(ctx, directory.UserQuery(**query))  # type: ignore[arg-type]
        return [u.email for u in page.users], page.next_cursor


async def test_search_matches_email_or_name_case_insensitively(runtime: Runtime) -> None:
    await add_users(
        runtime,
        [
            {"email": "Ada@Example.com", "name": "Ada Lovelace"},
            {"email": "grace@example.com", "name": "Grace HOPPER"},
            {"email": "linus@example.org", "name": "Linus"},
            {"email": "under_score@example.org", "name": "Percent 100%"},
        ],
    )
    assert (await listed(runtime, search="ADA", sort="email"))[0] == ["Ada@Example.com"]
    assert (await listed(runtime, search="hopper"))[0] == ["grace@example.com"]
    assert sorted((await listed(runtime, search="example.com"))[0]) == ["Ada@Example.com", "grace@example.com"]
    # LIKE wildcards in the search are literal characters
    assert (await listed(runtime, search="_"))[0] == ["under_score@example.org"]
    assert (await listed(runtime, search="%"))[0] == ["under_score@example.org"]
    assert (await listed(runtime, search="nobody"))[0] == []


async def test_filters_combine(runtime: Runtime) -> None:
    await add_users(
        runtime,
        [
            {"email": "a@x.io", "status": "active", "two_factor": True, "created": BASE},
            {"email": "b@x.io", "status": "pending", "verified": False, "created": BASE + timedelta(days=1)},
            {"email": "c@x.io", "status": "deactivated", "created": BASE + timedelta(days=2)},
            {"email": "d@x.io", "status": "active", "created": BASE + timedelta(days=3)},
        ],
    )
    assert (await listed(runtime, status="pending"))[0] == ["b@x.io"]
    assert (await listed(runtime, verified=False))[0] == ["b@x.io"]
    assert (await listed(runtime, two_factor=True))[0] == ["a@x.io"]
    assert (await listed(runtime, status="active", two_factor=False))[0] == ["d@x.io"]
    # both days included, newest first
    assert (await listed(runtime, created_from=date(2026, 3, 2), created_to=date(2026, 3, 3)))[0] == [
        "c@x.io",
        "b@x.io",
    ]
    with pytest.raises(Invalid):
        await listed(runtime, created_from=date(2026, 3, 3), created_to=date(2026, 3, 2))
    with pytest.raises(Invalid):
        await listed(runtime, status="sleeping")


async def test_role_filter(runtime: Runtime) -> None:
    await add_users(runtime, [{"email": "boss@x.io"}, {"email": "worker@x.io"}])
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        service = wiring.accounts(runtime, ctx)
        boss = await service.find_by_email("boss@x.io")
        assert boss is not None
        await service.set_role(boss, "admin", granter=None)
    assert (await listed(runtime, role="admin"))[0] == ["boss@x.io"]
    assert (await listed(runtime, role="owner"))[0] == []


@pytest.mark.parametrize("sort", ["created", "email", "name"])
async def test_keyset_pages_cover_every_user_once_even_with_equal_keys(runtime: Runtime, sort: str) -> None:
    # Equal creation times and equal names: the id breaks ties, so no user is skipped or repeated.
    specs: list[dict[str, object]] = [
        {"email": f"user{i:02d}@x.io", "name": "Same Name" if i % 3 else f"Ünïcode {i}", "created": BASE}
        for i in range(23)
    ]
    await add_users(runtime, specs)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        emails, cursor = await listed(runtime, sort=sort, limit=5, cursor=cursor)
        seen += emails
        pages += 1
        if cursor is None:
            break
    assert pages == 5
    assert sorted(seen) == sorted(str(s["email"]) for s in specs)
    assert len(seen) == len(set(seen))
    if sort == "email":
        assert seen == sorted(seen)


async def test_a_forged_or_foreign_cursor_is_invalid(runtime: Runtime) -> None:
    await add_users(runtime, [{"email": f"u{i}@x.io"} for i in range(3)])
    _, cursor = await listed(runtime, sort="email", limit=1)
    assert cursor
    with pytest.raises(Invalid):
        await listed(runtime, sort="created", cursor=cursor)  # a cursor of another sort
    with pytest.raises(Invalid):
        await listed(runtime, cursor="not-a-cursor")


def test_parse_query_reports_the_bad_field() -> None:
    with pytest.raises(Invalid) as bad_day:
        directory.parse_query({"created_from": "yesterday"})
    assert "created_from" in bad_day.value.fields
    with pytest.raises(Invalid) as bad_sort:
        directory.parse_query({"sort": "password_hash"})
    assert "sort" in bad_sort.value.fields
    query = directory.parse_query({"q": "ada", "verified": "yes", "two_factor": "no", "created_to": "2026-01-31"})
    assert (query.search, query.verified, query.two_factor, query.created_to) == ("ada", True, False, date(2026, 1, 31))


async def test_count_by_status(runtime: Runtime) -> None:
    await add_users(runtime, [{"email": "a@x.io"}, {"email": "b@x.io", "status": "pending"}])
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        counts = await directory.count_by_status(ctx)
    assert counts["active"] == 1
    assert counts["pending"] == 1
    assert counts["deactivated"] == 0
