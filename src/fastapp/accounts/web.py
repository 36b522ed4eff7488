"""What every accounts page handler needs from its request: runtime, transaction, CSRF token, user."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from starlette.requests import Request

from fastapp.platform.auth import principal_of, request_context_args
from fastapp.platform.context import Context, Principal, Runtime, open_context
from fastapp.platform.csrf import csrf_token
from fastapp.platform.errors import Unauthenticated


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def context_of(request: Request) -> AbstractAsyncContextManager[Context]:
    """One transaction for the request, describing it (id, IP, user agent, principal)."""
    return open_context(runtime_of(request), **request_context_args(request.scope))


def csrf_of(request: Request) -> str:
    return csrf_token(request.scope)


def signed_in(request: Request) -> Principal:
    """The principal of a browser session; ``Unauthenticated`` (to the sign-in page) otherwise."""
    principal = principal_of(request.scope)
    if principal is None or principal.via != "cookie":
        raise Unauthenticated("Sign in to continue.", next=request.url.path)
    return principal
