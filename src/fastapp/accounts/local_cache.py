"""A per-process copy of recently resolved principals, in front of the shared cache.

Every API request resolves its token to a principal. Reading it from Redis costs a network round
trip per request, which would dominate a small endpoint, so each process keeps what it resolved
for a few seconds. Ending a session, changing roles or re-authenticating drops the entry here
and publishes the session id on ``principals.invalidate``; every process listens and drops its
copy, so a revocation still applies on the next request everywhere. While the listener is not
connected (Redis down), the local copy is bypassed entirely: correctness over speed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

import structlog

from fastapp.platform.cache import Cache, raise_if_cancelled
from fastapp.platform.context import Principal

log = structlog.get_logger("fastapp.accounts")
INVALIDATE_CHANNEL = "principals.invalidate"
MISSING = object()


class LocalPrincipals:
    def __init__(self, *, ttl: float = 5.0, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._items: OrderedDict[uuid.UUID, tuple[Principal, float]] = OrderedDict()
        self.listening = False

    def get(self, session_id: uuid.UUID) -> Principal | object:
        """The principal cached for ``session_id``, or ``MISSING``."""
        if not self.listening:
            return MISSING
        item = self._items.get(session_id)
        if item is None or item[1] <= self._clock():
            return MISSING
        return item[0]

    def put(self, session_id: uuid.UUID, principal: Principal) -> None:
        if not self.listening:
            return
        self._items[session_id] = (principal, self._clock() + self.ttl)
        self._items.move_to_end(session_id)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def drop(self, session_id: uuid.UUID) -> None:
        self._items.pop(session_id, None)

    async def listen(self, cache: Cache) -> None:
        """Apply invalidations published by any process until cancelled; reconnect on errors."""
        while True:
            try:
                async with cache.subscribe(INVALIDATE_CHANNEL) as subscription:
                    self._items.clear()
                    self.listening = True
                    async for _channel, message in subscription:
                        self.drop(uuid.UUID(message.decode()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep serving, without the local copy
                raise_if_cancelled()  # a cancellation the client turned into a connection error
                log.warning("principal invalidation listener lost", error=str(exc))
            finally:
                self.listening = False
                self._items.clear()
            await asyncio.sleep(1.0)
