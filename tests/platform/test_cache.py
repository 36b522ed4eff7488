"""Conformance: MemoryCache and RedisCache behave the same (Redis when FASTAPP_TEST_REDIS_URL is set)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from fastapp.platform.cache import Cache, MemoryCache, RedisCache, create_cache
from tests.conftest import REDIS_URL

KINDS = ["memory"] + (["redis"] if REDIS_URL else [])


@pytest.fixture(params=KINDS)
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    instance: Cache = MemoryCache(prefix=prefix) if request.param == "memory" else RedisCache(REDIS_URL, prefix=prefix)
    yield instance
    await instance.close()


async def test_get_set_delete(cache: Cache) -> None:
    assert await cache.get("k") is None
    await cache.set("k", b"v1")
    assert await cache.get("k") == b"v1"
    await cache.set("k", b"v2")
    assert await cache.get("k") == b"v2"
    assert await cache.delete("k") is True
    assert await cache.delete("k") is False
    assert await cache.get("k") is None


async def test_values_expire(cache: Cache) -> None:
    await cache.set("short", b"x", ttl=0.05)
    await cache.set("long", b"y", ttl=30)
    await asyncio.sleep(0.12)
    assert await cache.get("short") is None
    assert await cache.get("long") == b"y"


async def test_add_only_when_absent(cache: Cache) -> None:
    assert await cache.add("once", b"first") is True
    assert await cache.add("once", b"second") is False
    assert await cache.get("once") == b"first"


async def test_add_succeeds_after_expiry(cache: Cache) -> None:
    assert await cache.add("lease", b"a", ttl=0.05) is True
    await asyncio.sleep(0.12)
    assert await cache.add("lease", b"b", ttl=1) is True
    assert await cache.get("lease") == b"b"


async def test_incr_counts_and_keeps_its_first_window(cache: Cache) -> None:
    assert await cache.incr("hits", ttl=0.2) == 1
    assert await cache.incr("hits", 4, ttl=10) == 5  # the later ttl does not extend the window
    await asyncio.sleep(0.3)
    assert await cache.incr("hits", ttl=10) == 1


async def test_incr_without_ttl_persists(cache: Cache) -> None:
    assert await cache.incr("n") == 1
    assert await cache.incr("n") == 2
    assert await cache.get("n") == b"2"


async def test_prefixes_isolate_namespaces(cache: Cache) -> None:
    other: Cache = (
        MemoryCache(prefix="other:")
        if isinstance(cache, MemoryCache)
        else RedisCache(REDIS_URL, prefix=f"other-{uuid.uuid4().hex[:6]}:")
    )
    try:
        await cache.set("shared", b"mine")
        assert await other.get("shared") is None
    finally:
        await other.close()


async def test_publish_reaches_subscribers(cache: Cache) -> None:
    async with cache.subscribe("news", "alerts") as subscription:
        await asyncio.sleep(0.05)  # Redis confirms subscriptions asynchronously
        assert await cache.publish("news", b"hello") == 1
        assert await cache.publish("alerts", b"fire") == 1
        assert await cache.publish("elsewhere", b"nobody") == 0
        received: list[tuple[str, bytes]] = []
        iterator = subscription.__aiter__()
        for _ in range(2):
            received.append(await asyncio.wait_for(iterator.__anext__(), timeout=2))
    assert received == [("news", b"hello"), ("alerts", b"fire")]


async def test_unsubscribed_after_block(cache: Cache) -> None:
    async with cache.subscribe("gone"):
        pass
    await asyncio.sleep(0.05)
    assert await cache.publish("gone", b"x") == 0


async def test_a_subscriber_cancelled_while_subscribing_stops(cache: Cache) -> None:
    """Cancelled at any moment of SUBSCRIBE's set-up, a listener ends instead of listening on."""

    async def listen() -> None:
        async with cache.subscribe("cancelled") as subscription:
            async for _ in subscription:
                pass

    for step in range(40):
        task = asyncio.create_task(listen())
        for _ in range(step):  # each step lets the set-up advance by one event-loop turn
            await asyncio.sleep(0)
        task.cancel()
        done, _pending = await asyncio.wait([task], timeout=2)
        assert done, f"listener cancelled after {step} loop turns kept running"
        assert task.cancelled()


async def test_ping(cache: Cache) -> None:
    await cache.ping()


def test_create_cache_picks_backend_from_url() -> None:
    assert isinstance(create_cache(""), MemoryCache)
    assert isinstance(create_cache("redis://127.0.0.1:1/0"), RedisCache)


async def test_redis_ping_fails_when_unreachable() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0")
    try:
        with pytest.raises(Exception, match=r"(?i)connect"):
            await cache.ping()
    finally:
        await cache.close()
