"""Authentication middleware: turns a session cookie or a Bearer token into a ``Principal``.

The resolving itself belongs to the accounts domain and is handed in as ``authenticate``; this
layer only runs it once per request, stores the result in ``request.state.principal`` and tells
the CSRF layer which session key the request belongs to. When an ``Authorization: Bearer``
header is present, only the token authenticates, never the cookie, because bearer requests are
exempt from CSRF checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from fastapp.platform.context import Principal
from fastapp.platform.scope import header, state

Authenticate = Callable[[Scope], Awaitable[Principal | None]]


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, *, authenticate: Authenticate) -> None:
        self.app = app
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            state(scope)["principal"] = await self.authenticate(scope)
        await self.app(scope, receive, send)


def principal_of(scope: Scope) -> Principal | None:
    principal = state(scope).get("principal")
    return principal if isinstance(principal, Principal) else None


def request_context_args(scope: Scope) -> dict[str, Any]:
    """Keyword arguments for ``open_context`` describing the request in ``scope``."""
    st = state(scope)
    client = scope.get("client")
    return {
        "request_id": str(st.get("request_id", "")),
        "ip": client[0] if client else None,
        "user_agent": header(scope, b"user-agent") or "",
        "principal": principal_of(scope),
    }


def csrf_session_key(scope: Scope) -> str | None:
    """The CSRF session key of a signed-in request: its session and the session's CSRF generation."""
    principal = principal_of(scope)
    if principal is None or principal.via != "cookie":
        return None
    return f"session:{principal.session_id}:{principal.csrf_generation}"
