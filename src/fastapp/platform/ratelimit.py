"""Named rate limiters: ``await limits["login.ip"].hit(ip)`` raises ``RateLimited`` past the configured rate.

Each limiter has a dotted name (``login.ip``, ``mail.address``, ...) and a limit string such as
``"5 per minute; 20 per hour"``: domains register defaults, operators override them by name
(warehouse ``rate_limiting/``). Counting is left to ``limits``: atomic (Lua) moving windows in Redis
and an in-process storage with the same semantics, so embedded mode and production agree.

Moving window: an attempt counts for exactly one window after it is made. A fixed window lets a
client spend its allowance at the end of one window and again at the start of the next (twice the
limit at once); a moving window never does, and the time until its oldest attempt leaves is an exact
``Retry-After``. All windows are tested before any is hit, so a denied attempt costs nothing.

Fail open: limits slow abuse down, they authenticate nobody. When Redis is unreachable the attempt
is allowed, a warning is logged at most once per ``warn_every`` seconds and ``failures_open`` counts
it, so a Redis outage does not become a sign-in outage.

Identifiers are hashed (SHA-256 of their JSON list) into the key: raw emails and IPs never show in
Redis (``KEYS``, ``MONITOR``, dumps), keys have a fixed length, and no separator inside an
identifier can merge two identifier tuples. Callers normalise first (case-fold emails, IPv6 to /64).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from fastapp.platform.errors import RateLimited

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

log = structlog.get_logger("fastapp.ratelimit")

_SCHEMES = {"redis": "async+redis", "rediss": "async+rediss", "unix": "async+redis+unix"}


@dataclass(frozen=True, slots=True)
class RateLimitStatus:
    """One limit's state for one identifier tuple: the numbers behind the ``RateLimit-*`` headers."""

    limit: int  # attempts allowed per window
    remaining: int  # attempts left now
    reset: int  # seconds until the oldest counted attempt leaves the window (at least 1)
    window: int  # window length in seconds


class _Store:
    """The storage, strategy and failure accounting shared by every limiter of one registry."""

    def __init__(
        self, storage: Storage, errors: tuple[type[Exception], ...], warn_every: float, clock: Callable[[], float]
    ) -> None:
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(storage)
        self.errors = errors  # empty for memory: its errors are bugs, never an outage to ride out
        self.failures_open = 0
        self._warn_every = warn_every
        self._clock = clock
        self._warned_at: float | None = None

    def failed(self, limiter: str, exc: Exception) -> None:
        self.failures_open += 1
        now = self._clock()
        if self._warned_at is None or now - self._warned_at >= self._warn_every:
            self._warned_at = now
            log.warning(
                "rate_limit.storage_unavailable",
                limiter=limiter,
                error=f"{type(exc).__name__}: {exc}",
                failures_open=self.failures_open,
            )


class RateLimiter:
    """One named limiter over one or more windows; obtained from ``RateLimits``, never built by services."""

    def __init__(self, name: str, spec: str, *, store: _Store) -> None:
        self.name = name
        self.spec = spec
        self.items: list[RateLimitItem] = _parse(name, spec)
        self._store = store

    async def hit(self, *identifiers: str) -> None:
        """Count one attempt for ``identifiers``.

        Raises ``RateLimited`` (and counts nothing) when any window is exhausted; ``resets_in`` is the
        wait until every exhausted window has a free slot, and ``extra`` holds ``limit``,
        ``remaining`` and ``reset`` of that window for ``rate_limit_headers``. Storage errors allow
        the attempt.
        """
        key = self._key(identifiers)
        try:
            if await self._test(key) and all([await self._store.strategy.hit(item, *key) for item in self.items]):
                return
            blocking = _binding(await self._stats(key))  # another process may have won a race after _test
        except self._store.errors as exc:
            self._store.failed(self.name, exc)
            return
        raise RateLimited(
            _wait_message(blocking.reset),
            resets_in=blocking.reset,
            limit=blocking.limit,
            remaining=blocking.remaining,
            reset=blocking.reset,
        )

    async def test(self, *identifiers: str) -> bool:
        """Whether a ``hit`` would be allowed now, without counting one (True when storage fails)."""
        try:
            return await self._test(self._key(identifiers))
        except self._store.errors as exc:
            self._store.failed(self.name, exc)
            return True

    async def clear(self, *identifiers: str) -> None:
        """Forget every counted attempt for ``identifiers`` (e.g. the account's after a sign-in)."""
        key = self._key(identifiers)
        try:
            for item in self.items:
                await self._store.strategy.clear(item, *key)
        except self._store.errors as exc:
            self._store.failed(self.name, exc)

    async def status(self, *identifiers: str) -> RateLimitStatus | None:
        """The window closest to exhaustion (fewest remaining, then longest reset); None if storage fails."""
        try:
            return _binding(await self._stats(self._key(identifiers)))
        except self._store.errors as exc:
            self._store.failed(self.name, exc)
            return None

    def _key(self, identifiers: tuple[str, ...]) -> tuple[str, str]:
        return self.name, hashlib.sha256(json.dumps(identifiers).encode()).hexdigest()[:32]

    async def _test(self, key: tuple[str, str]) -> bool:
        for item in self.items:
            if not await self._store.strategy.test(item, *key):
                return False
        return True

    async def _stats(self, key: tuple[str, str]) -> list[RateLimitStatus]:
        stats = []
        for item in self.items:
            reset_at, remaining = await self._store.strategy.get_window_stats(item, *key)
            reset = max(1, math.ceil(reset_at - time.time()))  # wall clock, as limits' storages; read after
            stats.append(RateLimitStatus(item.amount, max(0, remaining), reset, item.get_expiry()))
        return stats


class RateLimits:
    """The app's named limiters over one storage: ``limits["login.ip"]``.

    ``defaults`` are the limit strings domains register; ``settings`` override them by name. Every
    string is parsed here, so a bad or misnamed setting stops start-up rather than the first
    request. An empty ``storage_url`` counts in process memory; a ``redis://``, ``rediss://`` or
    ``unix://`` URL counts in Redis under ``{prefix}ratelimit:``. Call ``close()`` at shutdown.
    """

    def __init__(
        self,
        storage_url: str,
        settings: Mapping[str, str],
        defaults: Mapping[str, str],
        *,
        prefix: str = "fastapp:",
        timeout: float = 1.0,
        warn_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if unknown := sorted(set(settings) - set(defaults)):
            raise ValueError(f"rate limit settings name unknown limiters: {', '.join(unknown)}")
        self._pool: ConnectionPool | None = None
        storage: Storage = MemoryStorage()
        errors: tuple[type[Exception], ...] = ()
        if storage_url:
            storage, errors = self._redis(storage_url, f"{prefix}ratelimit", timeout)
        self._store = _Store(storage, errors, warn_every, clock)
        self._limiters = {
            name: RateLimiter(name, settings.get(name, spec), store=self._store) for name, spec in defaults.items()
        }

    def _redis(self, url: str, key_prefix: str, timeout: float) -> tuple[Storage, tuple[type[Exception], ...]]:
        from redis.asyncio import ConnectionPool  # imported on use, as in cache.py
        from redis.exceptions import RedisError

        scheme = url.partition("://")[0]
        if scheme not in _SCHEMES:
            raise ValueError(f"rate limit storage must be a redis://, rediss:// or unix:// URL, not {scheme}://")
        # Our own pool: a client built by limits retries a refused connection ten times with backoff,
        # and a request must not wait that long on a limiter that fails open anyway.
        self._pool = ConnectionPool.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        storage = RedisStorage(
            _SCHEMES[scheme] + url[len(scheme) :],
            implementation="redispy",
            key_prefix=key_prefix,
            connection_pool=self._pool,  # type: ignore[arg-type]  # options are typed as scalars only
        )
        return storage, (RedisError, OSError, TimeoutError)

    def __getitem__(self, name: str) -> RateLimiter:
        try:
            return self._limiters[name]
        except KeyError:
            known = ", ".join(sorted(self._limiters)) or "none"
            raise KeyError(f"no rate limiter named {name!r} (registered: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._limiters

    @property
    def failures_open(self) -> int:
        """How many storage errors were ridden out (requests allowed unchecked) since start."""
        return self._store.failures_open

    async def reset(self) -> None:
        """Forget every counter under this registry's storage (tests, an operator's unlock-all)."""
        await self._store.storage.reset()

    async def close(self) -> None:
        """Release the Redis connections, or stop the memory storage's expiry task."""
        if self._pool is not None:
            await self._pool.aclose()
        elif isinstance(self._store.storage, MemoryStorage) and self._store.storage.timer is not None:
            self._store.storage.timer.cancel()


def rate_limit_headers(source: RateLimited | RateLimitStatus | None) -> dict[str, str]:
    """HTTP headers for a denial or a status: ``Retry-After`` for ``RateLimited``, and
    ``RateLimit-Limit`` / ``RateLimit-Remaining`` / ``RateLimit-Reset`` (delta seconds, as in
    draft-ietf-httpapi-ratelimit-headers) when the numbers are known. None gives no headers."""
    if source is None:
        return {}
    if isinstance(source, RateLimitStatus):
        return _numbers(source.limit, source.remaining, source.reset)
    headers = {"Retry-After": str(source.resets_in)}
    if all(name in source.extra for name in ("limit", "remaining", "reset")):
        headers |= _numbers(source.extra["limit"], source.extra["remaining"], source.extra["reset"])
    return headers


def _numbers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining), "RateLimit-Reset": str(reset)}


def _binding(stats: list[RateLimitStatus]) -> RateLimitStatus:
    # Fewest remaining first; among exhausted windows the longest wait, since all must free a slot.
    return min(stats, key=lambda s: (s.remaining, -s.reset))


def _parse(name: str, spec: str) -> list[RateLimitItem]:
    try:
        return parse_many(spec)
    except ValueError:
        raise ValueError(
            f"rate limiter {name!r}: {spec!r} is not a limit string such as '5 per minute; 20 per hour'"
        ) from None


def _wait_message(seconds: int) -> str:
    if seconds < 60:
        count, unit = seconds, "second"
    elif seconds < 3600:
        count, unit = math.ceil(seconds / 60), "minute"
    else:
        count, unit = math.ceil(seconds / 3600), "hour"
    return f"Too many attempts. Try again in {count} {unit}{'' if count == 1 else 's'}."
