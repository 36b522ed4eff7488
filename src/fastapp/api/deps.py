"""FastAPI dependency aliases: the only place ``Annotated[..., Depends(...)]`` is spelled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from fastapp.platform.context import Context, Runtime, open_context


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_context(request: Request) -> AsyncIterator[Context]:
    """One transaction per request, committed after the route returns."""
    client = request.client.host if request.client else None
    async with open_context(get_runtime(request), request_id=request.state.request_id, ip=client) as ctx:
        yield ctx


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ContextDep = Annotated[Context, Depends(get_context)]
