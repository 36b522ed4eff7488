"""Named rate limiters behave the same over memory and Redis (Redis when FASTAPP_TEST_REDIS_URL is set)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from fastapp.platform.errors import RateLimited
from fastapp.platform.ratelimit import RateLimits, RateLimitStatus, rate_limit_headers
from tests.conftest import REDIS_URL

KINDS = ["memory"] + (["redis"] if REDIS_URL else [])
CLOSED_PORT = "redis://127.0.0.1:1/0"
DEFAULTS = {
    "login.ip": "3 per minute",
    "per.second.binds": "2 per second; 5 per minute",
    "per.minute.binds": "5 per second; 2 per minute",
    "both.bind": "2 per second; 2 per minute",
    "moving": "2 per 1 second; 3 per minute",
    "hourly": "1 per hour",
}


@pytest.fixture(params=KINDS)
async def limits(request: pytest.FixtureRequest) -> AsyncIterator[RateLimits]:
    url = "" if request.param == "memory" else REDIS_URL
    registry = RateLimits(url, {}, DEFAULTS, prefix=f"test-{uuid.uuid4().hex[:8]}:")
    yield registry
    await registry.reset()
    await registry.close()


async def test_allows_the_limit_then_raises_rate_limited(limits: RateLimits) -> None:
    for _ in range(3):
        await limits["login.ip"].hit("198.51.100.7")
    with pytest.raises(RateLimited) as caught:
        await limits["login.ip"].hit("198.51.100.7")
    assert 58 <= caught.value.resets_in <= 60
    assert caught.value.detail == "Too many attempts. Try again in 1 minute."
    assert caught.value.extra == {"limit": 3, "remaining": 0, "reset": caught.value.resets_in}


async def test_identifiers_do_not_share_counters(limits: RateLimits) -> None:
    limiter = limits["login.ip"]
    for _ in range(3):
        await limiter.hit("a/b")
    with pytest.raises(RateLimited):
        await limiter.hit("a/b")
    await limiter.hit("a", "b")  # a separator inside an identifier cannot merge two tuples
    await limiter.hit("198.51.100.8")
    await limits["hourly"].hit("a/b")  # nor do limiters share counters


async def test_the_exhausted_window_sets_resets_in(limits: RateLimits) -> None:
    for name, low, high in [("per.second.binds", 1, 1), ("per.minute.binds", 58, 60), ("both.bind", 58, 60)]:
        await limits[name].hit("x")
        await limits[name].hit("x")
        with pytest.raises(RateLimited) as caught:
            await limits[name].hit("x")
        assert low <= caught.value.resets_in <= high, name  # both exhausted: wait until both free a slot
    assert caught.value.extra["limit"] == 2


async def test_moving_window_frees_slots_one_at_a_time_and_denials_cost_nothing(limits: RateLimits) -> None:
    limiter = limits["moving"]
    await limiter.hit("x")
    await asyncio.sleep(0.6)
    await limiter.hit("x")
    for _ in range(3):
        with pytest.raises(RateLimited) as caught:
            await limiter.hit("x")
        assert caught.value.resets_in == 1
    await asyncio.sleep(0.5)  # the first hit has left the 1-second window, the second has not
    await limiter.hit("x")  # third of 3 per minute: the denials above were not counted
    with pytest.raises(RateLimited) as caught:
        await limiter.hit("x")
    assert 58 <= caught.value.resets_in <= 60


async def test_clear_forgets_attempts(limits: RateLimits) -> None:
    limiter = limits["login.ip"]
    for _ in range(3):
        await limiter.hit("account-1")
    await limiter.clear("account-1")
    assert await limiter.test("account-1") is True
    await limiter.hit("account-1")


async def test_test_does_not_count(limits: RateLimits) -> None:
    limiter = limits["login.ip"]
    for _ in range(5):
        assert await limiter.test("x") is True
    for _ in range(3):
        await limiter.hit("x")
    assert await limiter.test("x") is False


async def test_status_reports_the_window_closest_to_exhaustion(limits: RateLimits) -> None:
    limiter = limits["per.second.binds"]
    assert await limiter.status("x") == RateLimitStatus(limit=2, remaining=2, reset=1, window=1)
    await limiter.hit("x")
    assert await limiter.status("x") == RateLimitStatus(limit=2, remaining=1, reset=1, window=1)
    status = await limits["per.minute.binds"].status("y")
    assert status is not None
    assert (status.limit, status.remaining, status.window) == (2, 2, 60)


async def test_message_names_hours_for_long_waits(limits: RateLimits) -> None:
    await limits["hourly"].hit("x")
    with pytest.raises(RateLimited, match=r"^Too many attempts\. Try again in 1 hour\.$"):
        await limits["hourly"].hit("x")


async def test_unknown_limiter_is_a_key_error() -> None:
    limits = RateLimits("", {}, {"login.ip": "5 per minute"})
    with pytest.raises(KeyError, match=r"no rate limiter named 'login\.ipp' \(registered: login\.ip\)"):
        limits["login.ipp"]
    assert "login.ip" in limits
    await limits.close()


def test_bad_limit_strings_fail_at_construction_naming_the_limiter() -> None:
    with pytest.raises(ValueError, match=r"rate limiter 'login\.ip': '5 per fortnight' is not a limit string"):
        RateLimits("", {}, {"login.ip": "5 per fortnight"})
    with pytest.raises(ValueError, match=r"rate limiter 'login\.ip': '' is not"):
        RateLimits("", {"login.ip": ""}, {"login.ip": "5 per minute"})
    with pytest.raises(ValueError, match=r"unknown limiters: login\.ipp"):
        RateLimits("", {"login.ipp": "1 per second"}, {"login.ip": "5 per minute"})
    with pytest.raises(ValueError, match=r"redis://, rediss:// or unix://"):
        RateLimits("memcached://127.0.0.1", {}, {"login.ip": "5 per minute"})


async def test_settings_override_defaults() -> None:
    limits = RateLimits("", {"login.ip": "1 per minute"}, {"login.ip": "5 per minute"})
    await limits["login.ip"].hit("x")
    with pytest.raises(RateLimited):
        await limits["login.ip"].hit("x")
    await limits.close()


async def test_fails_open_when_redis_is_unreachable() -> None:
    limits = RateLimits(CLOSED_PORT, {}, {"login.ip": "1 per minute"})
    limiter = limits["login.ip"]
    try:
        with capture_logs() as logs:
            for _ in range(3):
                await limiter.hit("x")
            assert await limiter.test("x") is True
            assert await limiter.status("x") is None
            await limiter.clear("x")
    finally:
        await limits.close()
    assert limits.failures_open == 6
    assert [(e["log_level"], e["event"], e["limiter"]) for e in logs] == [
        ("warning", "rate_limit.storage_unavailable", "login.ip")
    ]
    assert "ConnectionError" in logs[0]["error"]


async def test_storage_warning_repeats_after_warn_every() -> None:
    now = [0.0]
    limits = RateLimits(CLOSED_PORT, {}, {"login.ip": "1 per minute"}, warn_every=60, clock=lambda: now[0])
    try:
        with capture_logs() as logs:
            await limits["login.ip"].hit("x")
            now[0] = 59.0
            await limits["login.ip"].hit("x")
            now[0] = 60.0
            await limits["login.ip"].hit("x")
    finally:
        await limits.close()
    assert [e["failures_open"] for e in logs] == [1, 3]


def test_headers_for_a_denial_a_status_and_nothing() -> None:
    denial = RateLimited("Too many attempts.", resets_in=42, limit=5, remaining=0, reset=42)
    assert rate_limit_headers(denial) == {
        "Retry-After": "42",
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "42",
    }
    assert rate_limit_headers(RateLimited("Slow down.", resets_in=7)) == {"Retry-After": "7"}
    assert rate_limit_headers(RateLimitStatus(limit=20, remaining=19, reset=3600, window=3600)) == {
        "RateLimit-Limit": "20",
        "RateLimit-Remaining": "19",
        "RateLimit-Reset": "3600",
    }
    assert rate_limit_headers(None) == {}
