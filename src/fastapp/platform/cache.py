"""Cache and pub/sub: one Protocol, an in-process and a Redis implementation.

The in-process ``MemoryCache`` is the embedded default (one process, nothing to run); the
``RedisCache`` shares state and messages between every web and worker process. Both pass the
same conformance tests (tests/platform/test_cache.py). Keys and channels are namespaced with a
prefix so several instances, or parallel test runs, can share one Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    import redis.asyncio as aioredis


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        """Yield ``(channel, message)`` pairs as they are published, until the block exits."""
        ...


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None:
        """Return the value stored at ``key``, or None when absent or expired."""
        ...

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store ``value``; it expires after ``ttl`` seconds when given."""
        ...

    async def add(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        """Store ``value`` only if ``key`` is absent; return whether it was stored."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove ``key``; return whether it existed."""
        ...

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Add ``amount`` to the integer at ``key`` (0 when absent) and return the new value.

        ``ttl`` applies only when this call creates the key, so a counter's window is fixed.
        """
        ...

    async def publish(self, channel: str, message: bytes) -> int:
        """Send ``message`` to the subscribers of ``channel``; return how many received it
        (in this process for memory, on the server for Redis)."""
        ...

    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]:
        """Listen on ``channels`` for the duration of an ``async with`` block."""
        ...

    async def ping(self) -> None:
        """Return when the backend answers; raise ``ConnectionError`` (or the client's) otherwise."""
        ...

    async def close(self) -> None:
        """Release connections; the cache is unusable afterwards."""
        ...


class MemoryCache:
    """In-process cache with expiry on read; pub/sub through per-subscriber queues."""

    def __init__(self, *, prefix: str = "fastapp:", clock: Callable[[], float] = time.monotonic) -> None:
        self._prefix = prefix
        self._clock = clock
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[tuple[str, bytes]]]] = {}

    def _live(self, key: str) -> bytes | None:
        item = self._data.get(self._prefix + key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= self._clock():
            del self._data[self._prefix + key]
            return None
        return value

    def _expiry(self, ttl: float | None) -> float | None:
        return None if ttl is None else self._clock() + ttl

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self._data[self._prefix + key] = (value, self._expiry(ttl))

    async def add(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        await self.set(key, value, ttl=ttl)
        return True

    async def delete(self, key: str) -> bool:
        existed = self._live(key) is not None
        self._data.pop(self._prefix + key, None)
        return existed

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        current = self._live(key)
        if current is None:
            value, expires = amount, self._expiry(ttl)
        else:
            value, expires = int(current) + amount, self._data[self._prefix + key][1]
        self._data[self._prefix + key] = (str(value).encode(), expires)
        return value

    async def publish(self, channel: str, message: bytes) -> int:
        queues = self._subscribers.get(self._prefix + channel, set())
        for queue in queues:
            queue.put_nowait((channel, message))
        return len(queues)

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        names = [self._prefix + c for c in channels]
        for name in names:
            self._subscribers.setdefault(name, set()).add(queue)
        try:
            yield _QueueSubscription(queue)
        finally:
            for name in names:
                self._subscribers[name].discard(queue)
                if not self._subscribers[name]:
                    del self._subscribers[name]

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()


class _QueueSubscription:
    def __init__(self, queue: asyncio.Queue[tuple[str, bytes]]) -> None:
        self._queue = queue

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        while True:
            yield await self._queue.get()


class RedisCache:
    """Redis-backed cache; every process sharing the URL and prefix sees the same state."""

    def __init__(self, url: str, *, prefix: str = "fastapp:") -> None:
        import redis.asyncio as aioredis  # imported on use: ~0.4 s of start-up the embedded mode skips

        self._prefix = prefix
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )

    async def get(self, key: str) -> bytes | None:
        value = await self.client.get(self._prefix + key)
        return cast(bytes | None, value)  # no decode_responses: Redis hands back bytes

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await self.client.set(self._prefix + key, value, px=_ms(ttl))

    async def add(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        return bool(await self.client.set(self._prefix + key, value, px=_ms(ttl), nx=True))

    async def delete(self, key: str) -> bool:
        return bool(await self.client.delete(self._prefix + key))

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        full = self._prefix + key
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.incrby(full, amount)
            if ttl is not None:
                pipe.pexpire(full, max(1, int(ttl * 1000)), nx=True)  # only a key without expiry: the new one
            results = await pipe.execute()
        return int(results[0])

    async def publish(self, channel: str, message: bytes) -> int:
        return int(await self.client.publish(self._prefix + channel, message))

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(*(self._prefix + c for c in channels))
            raise_if_cancelled()
        except BaseException:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        try:
            yield _RedisSubscription(pubsub, len(self._prefix))
        finally:
            # Closing the connection ends its subscriptions; an UNSUBSCRIBE round trip could
            # hang a cancelled listener until the socket timeout.
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()


class _RedisSubscription:
    def __init__(self, pubsub: aioredis.client.PubSub, prefix_len: int) -> None:
        self._pubsub = pubsub
        self._prefix_len = prefix_len

    async def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        async for message in self._pubsub.listen():
            if message["type"] == "message":
                channel = message["channel"].decode()[self._prefix_len :]
                yield channel, message["data"]


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that redis-py swallowed while connecting.

    A task cancelled during ``SUBSCRIBE``'s connection set-up was seen to return normally and go
    on listening, so a cancelled listener outlived its app and its event loop. The task still
    counts the request (``Task.cancelling``), which is what this checks.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _ms(ttl: float | None) -> int | None:
    return None if ttl is None else max(1, int(ttl * 1000))


def create_cache(url: str, *, prefix: str = "fastapp:") -> Cache:
    """The Redis cache when ``url`` is set, else the in-process one."""
    return RedisCache(url, prefix=prefix) if url else MemoryCache(prefix=prefix)
