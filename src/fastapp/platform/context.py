"""What services receive: the process-wide backends and the per-request context."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from fastapp.config import Config
from fastapp.platform.cache import Cache
from fastapp.platform.clock import Clock
from fastapp.platform.db import Database
from fastapp.platform.ratelimit import RateLimits
from fastapp.platform.registry import Registry

log = structlog.get_logger("fastapp.context")


@dataclass(frozen=True)
class Backends:
    """Process-wide collaborators, opened by the app lifespan and shared by every request."""

    db: Database
    cache: Cache
    clock: Clock
    limits: RateLimits


@dataclass
class Context:
    """One request's (or job's) view: its transaction, who acts, from where, and the clock.

    The edge (request or job runner) opens the transaction and commits it once; services only
    add and flush.
    """

    session: AsyncSession
    clock: Clock
    request_id: str
    ip: str | None = None
    user_agent: str = ""
    #: The signed-in principal acting, when there is one.
    principal: Principal | None = None
    #: Work that must happen only once the transaction has committed (e.g. sending mail).
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: Work that must happen when the transaction rolls back instead (e.g. recording a refusal).
    after_rollback: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: The process's runtime (configuration, registry), for services that consult a registry.
    runtime: Runtime | None = None

    def on_commit(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` after a successful commit; it is dropped if the transaction rolls back."""
        self.after_commit.append(action)

    def on_rollback(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run ``action`` after the transaction rolled back (a refused request raises, and still
        leaves this trace); it is dropped if the transaction commits."""
        self.after_rollback.append(action)


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user through a session (browser or API token)."""

    user_id: uuid.UUID
    session_id: uuid.UUID
    permissions: frozenset[str]
    #: When the user last proved who they are; drives "sudo mode" for sensitive actions.
    authenticated_at: datetime
    via: str  # "cookie" or "bearer"
    #: False until the user has confirmed their email address: they may only finish that.
    verified: bool = True
    email: str = ""
    display_name: str = ""
    #: Part of the CSRF secret: bumped to rotate the token on privilege or password change.
    csrf_generation: int = 0

    def can(self, permission: str) -> bool:
        return permission in self.permissions


class Runtime:
    """The app's process-wide state: configuration, registry and, once started, the backends.

    ``backends`` is set by the lifespan; reading it before start-up is a programming error.
    """

    def __init__(self, config: Config, registry: Registry) -> None:
        self.config = config
        self.registry = registry
        self._backends: Backends | None = None
        #: Process-wide objects domains build once from configuration (keyed by domain name).
        self.services: dict[str, Any] = {}

    @property
    def backends(self) -> Backends:
        if self._backends is None:
            raise RuntimeError("the app has not started: backends are opened by the lifespan")
        return self._backends

    @backends.setter
    def backends(self, value: Backends | None) -> None:
        self._backends = value


@asynccontextmanager
async def open_context(
    runtime: Runtime,
    *,
    request_id: str,
    ip: str | None,
    user_agent: str = "",
    principal: Principal | None = None,
) -> AsyncIterator[Context]:
    """A ``Context`` in one transaction: committed when the block ends, rolled back on error.

    After the commit, the actions registered with ``ctx.on_commit`` run in order; their failures
    are logged, not raised, because the change they follow is already durable.
    """
    backends = runtime.backends
    # The transaction begins with the first statement, so a request that never touches the
    # database (a cached principal, a health check) costs no connection and no commit.
    async with backends.db.sessions() as session:
        ctx = Context(
            session=session,
            clock=backends.clock,
            request_id=request_id,
            ip=ip,
            user_agent=user_agent,
            principal=principal,
            runtime=runtime,
        )
        try:
            yield ctx
        except BaseException:
            if session.in_transaction():
                await session.rollback()
            await _run_all(ctx.after_rollback, "after-rollback")
            raise
        if session.in_transaction():
            await session.commit()
    await _run_all(ctx.after_commit, "after-commit")


async def _run_all(actions: list[Callable[[], Awaitable[None]]], stage: str) -> None:
    """Run each action; log (not raise) failures: what they follow is already settled."""
    for action in actions:
        try:
            await action()
        except Exception:
            log.exception(f"{stage} action failed", action=getattr(action, "__qualname__", repr(action)))


@asynccontextmanager
async def separate_context(ctx: Context) -> AsyncIterator[Context]:
    """A copy of ``ctx`` in a transaction of its own, committed when the block ends: for what
    must stand even if ``ctx``'s transaction rolls back (a refusal's audit event or notice)."""
    async with AsyncSession(bind=ctx.session.bind) as session, session.begin():
        yield replace(ctx, session=session, after_commit=[], after_rollback=[])
