"""What every accounts page handler needs from its request: runtime, transaction, CSRF token, user."""

from __future__ import annotations

from starlette.requests import Request

from fastapp.platform.auth import principal_of
from fastapp.platform.context import Principal
from fastapp.platform.csrf import csrf_token
from fastapp.platform.errors import Unauthenticated
from fastapp.ui.request import context_of, runtime_of

__all__ = ["context_of", "csrf_of", "runtime_of", "signed_in"]


def csrf_of(request: Request) -> str:
    return csrf_token(request.scope)


def signed_in(request: Request) -> Principal:
    """The principal of a browser session; ``Unauthenticated`` (to the sign-in page) otherwise."""
    principal = principal_of(request.scope)
    if principal is None or principal.via != "cookie":
        raise Unauthenticated("Sign in to continue.", next=request.url.path)
    return principal
