"""What services receive: the process-wide backends and the per-request context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from fastapp.config import Config
from fastapp.platform.cache import Cache
from fastapp.platform.clock import Clock
from fastapp.platform.db import Database
from fastapp.platform.registry import Registry


@dataclass(frozen=True)
class Backends:
    """Process-wide collaborators, opened by the app lifespan and shared by every request."""

    db: Database
    cache: Cache
    clock: Clock


@dataclass(frozen=True)
class Context:
    """One request's (or job's) view: its transaction, who acts, from where, and the clock.

    The edge (request or job runner) opens the transaction and commits it once; services only
    add and flush.
    """

    session: AsyncSession
    clock: Clock
    request_id: str
    ip: str | None = None


class Runtime:
    """The app's process-wide state: configuration, registry and, once started, the backends.

    ``backends`` is set by the lifespan; reading it before start-up is a programming error.
    """

    def __init__(self, config: Config, registry: Registry) -> None:
        self.config = config
        self.registry = registry
        self._backends: Backends | None = None

    @property
    def backends(self) -> Backends:
        if self._backends is None:
            raise RuntimeError("the app has not started: backends are opened by the lifespan")
        return self._backends

    @backends.setter
    def backends(self, value: Backends | None) -> None:
        self._backends = value


@asynccontextmanager
async def open_context(runtime: Runtime, *, request_id: str, ip: str | None) -> AsyncIterator[Context]:
    """A ``Context`` in one transaction: committed when the block ends, rolled back on error."""
    backends = runtime.backends
    async with backends.db.transaction() as session:
        yield Context(session=session, clock=backends.clock, request_id=request_id, ip=ip)
