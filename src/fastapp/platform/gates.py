"""Request gates: checks a signed-in request must pass before it reaches any route.

Domains register gates in ``registry.request_gates`` (``async (runtime, scope, principal) ->
Response | None``), e.g. "accept the new terms first". This pure-ASGI step runs right after
authentication, for pages and the API alike (the ``/api/v1`` fast path is inside it), and
only for requests with a principal: a visitor costs nothing. A gate answers with a response
(a redirect) or raises a ``DomainError``, which the surface's responder renders (problem+json
under ``/api``, an error page or toast elsewhere), as for a CSRF failure. Gates run on every
authenticated request, so they must answer from memory in the common case.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from fastapp.platform.auth import principal_of
from fastapp.platform.errors import DomainError
from fastapp.platform.middleware import ErrorResponder

Gate = Callable[[Any, Scope, Any], Awaitable[Any]]


class RequestGateMiddleware:
    def __init__(self, app: ASGIApp, *, runtime: Any, gates: Sequence[Gate], responder: ErrorResponder) -> None:
        self.app = app
        self.runtime = runtime
        self.gates = tuple(gates)
        self.responder = responder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = principal_of(scope) if scope["type"] == "http" else None
        if principal is not None:
            for gate in self.gates:
                try:
                    stop = await gate(self.runtime, scope, principal)
                except DomainError as exc:
                    stop = self.responder(scope, exc)
                if stop is not None:
                    await stop(scope, receive, send)
                    return
        await self.app(scope, receive, send)
