"""FastAPI dependency aliases: the only place ``Annotated[..., Depends(...)]`` is spelled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from fastapp.platform.auth import principal_of
from fastapp.platform.context import Context, Principal, Runtime, open_context
from fastapp.platform.errors import PermissionDenied, Unauthenticated
from fastapp.platform.scope import header


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


# Dependencies are coroutines: FastAPI runs plain functions in a thread pool, which would cost
# every request a thread hop.
async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_principal(request: Request) -> Principal | None:
    return principal_of(request.scope)


async def require_principal(request: Request) -> Principal:
    principal = principal_of(request.scope)
    if principal is None:
        raise Unauthenticated("Send a valid access token: Authorization: Bearer <token>.")
    return principal


async def require_verified(principal: Annotated[Principal, Depends(require_principal)]) -> Principal:
    if not principal.verified:
        raise PermissionDenied("Verify your email address first: open the link we mailed you.")
    return principal


async def get_context(request: Request) -> AsyncIterator[Context]:
    """One transaction per request, committed after the route returns (or rolled back)."""
    scope = request.scope
    client = scope.get("client")
    async with open_context(
        runtime_of(request),
        request_id=request.state.request_id,
        ip=client[0] if client else None,
        user_agent=header(scope, b"user-agent") or "",
        principal=principal_of(scope),
    ) as ctx:
        yield ctx


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
# scope="function": the transaction commits before the response is sent, so a client never sees
# success for a write that then fails to commit, nor reads ahead of its own write.
ContextDep = Annotated[Context, Depends(get_context, scope="function")]
OptionalPrincipalDep = Annotated[Principal | None, Depends(get_principal)]
PrincipalDep = Annotated[Principal, Depends(require_principal)]
VerifiedPrincipalDep = Annotated[Principal, Depends(require_verified)]
