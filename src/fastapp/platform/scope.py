"""Reading headers and cookies straight from an ASGI scope (for pure-ASGI middleware)."""

from __future__ import annotations

from typing import Any

from starlette.types import Scope


def state(scope: Scope) -> dict[str, Any]:
    """The per-request state dict that Starlette exposes as ``request.state``."""
    return scope.setdefault("state", {})  # type: ignore[no-any-return]


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def cookie(scope: Scope, name: str) -> str | None:
    raw = header(scope, b"cookie")
    if not raw:
        return None
    for part in raw.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    value = header(scope, b"authorization")
    if value is None or value[:7].lower() != "bearer ":
        return None
    return value[7:].strip() or None
