"""Pure-ASGI middleware: request context and log line, security headers, body size limit.

Each class wraps an ASGI app and touches only ``http`` scopes. Responses that a middleware
must produce itself (413) are rendered by an ``ErrorResponder`` handed in by the composition
root, so the API answers problem+json and pages answer HTML without this module knowing either.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import time
from collections.abc import Callable, Iterable

import structlog
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapp.platform.errors import DomainError, PayloadTooLarge
from fastapp.platform.logging import REQUEST_ID, log_request
from fastapp.platform.scope import header, state

ErrorResponder = Callable[[Scope, DomainError], Response]
"""Render a domain error raised before routing (CSRF, body limit) for the surface of ``scope``."""

log = structlog.get_logger("fastapp.request")
_HTTP1 = frozenset({"1.0", "1.1"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class TrustedNetworks:
    """IP networks whose forwarded headers are believed."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._networks = [ipaddress.ip_network(e, strict=False) for e in entries]

    def __contains__(self, host: object) -> bool:
        if not isinstance(host, str) or not self._networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)


class RequestContextMiddleware:
    """Request id, structured log line and timing for every HTTP request.

    The id comes from ``X-Request-ID`` when the immediate peer is a trusted proxy and the value
    is well-formed, else it is generated; it is echoed in the response and bound into every log
    record of the request.
    """

    def __init__(self, app: ASGIApp, *, trusted: TrustedNetworks) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        peer = (scope.get("client") or ("", 0))[0]
        request_id = _incoming_request_id(scope) if peer in self.trusted else None
        request_id = request_id or secrets.token_hex(16)
        state(scope)["request_id"] = request_id
        request_id_bytes = request_id.encode()
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                state(scope)["response_started"] = True
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id_bytes)]
            await send(message)

        bound = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # The surfaces already answered with their 500 page or problem; log the cause once,
            # with the request id, instead of letting the server print a second, unlinked trace.
            log.exception("unhandled error", method=scope["method"], path=scope["path"])
            if not _started(scope):
                await Response("Internal Server Error", status_code=500)(scope, receive, send_with_id)
        finally:
            log_request(
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                client=(scope.get("client") or (peer, 0))[0],  # the proxy layer may have replaced it
            )
            REQUEST_ID.reset(bound)


def _started(scope: Scope) -> bool:
    return bool(state(scope).get("response_started"))


def _incoming_request_id(scope: Scope) -> str | None:
    text = header(scope, b"x-request-id")
    return text if text is not None and _REQUEST_ID.match(text) else None


def csp_nonce(scope: Scope) -> str:
    """The CSP nonce of this response, created on first use (by the page renderer)."""
    st = state(scope)
    nonce: str | None = st.get("csp_nonce")
    if nonce is None:
        nonce = st["csp_nonce"] = secrets.token_urlsafe(18)
    return nonce


class SecurityHeadersMiddleware:
    """Security headers on every response: a document policy for HTML, the strictest for the rest.

    An HTML response gets the page policy: scripts and styles from this origin (and the static
    URL's), plus inline ones marked with the nonce its renderer asked for (``csp_nonce``), no
    framing, and the document-only headers (referrer, permissions, opener policy). Any other
    response (JSON, assets, redirects) is never a document the browser runs, so it gets
    ``default-src 'none'`` instead: an SVG or a JSON body opened directly runs nothing. Each
    header costs the server and every client on every response, so non-documents carry only
    what applies to them (nosniff, framing, HSTS; as OWASP's REST guidance lists). A response
    that already carries one of these headers (e.g. a download's own CSP) keeps it. Header
    bytes are prepared once: this only appends tuples.
    """

    def __init__(self, app: ASGIApp, *, hsts_seconds: int | None, extra_origins: Iterable[str] = ()) -> None:
        self.app = app
        src = f"'self' {' '.join(extra_origins)}".strip()
        self.policy_template = "; ".join(
            [
                "default-src 'self'",
                f"script-src {src} 'nonce-{{nonce}}'",
                f"style-src {src} 'nonce-{{nonce}}'",
                # Franken UI and HTMX position popovers and indicators with style attributes.
                "style-src-attr 'unsafe-inline'",
                f"img-src {src} data:",
                f"font-src {src} data:",
                "connect-src 'self'",
                "object-src 'none'",
                "base-uri 'none'",
                "form-action 'self'",
                "frame-ancestors 'none'",
            ]
        )
        self._csp_parts = [part.encode() for part in self.policy_template.split("{nonce}")]
        self._csp_without_nonce = self.policy_template.replace(" 'nonce-{nonce}'", "").encode()
        common = {"x-content-type-options": "nosniff", "x-frame-options": "DENY"}
        if hsts_seconds:
            common["strict-transport-security"] = f"max-age={hsts_seconds}; includeSubDomains"
        document = {
            **common,
            "referrer-policy": "strict-origin-when-cross-origin",
            "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
            "cross-origin-opener-policy": "same-origin",
        }
        other = {**common, "content-security-policy": "default-src 'none'; frame-ancestors 'none'"}
        self._document = [(name.encode(), value.encode()) for name, value in document.items()]
        self._other = [(name.encode(), value.encode()) for name, value in other.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        st = state(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message["headers"] = list(message.get("headers", ()))
                present = {}
                for name, value in headers:
                    present[name.lower()] = value
                if present.get(b"content-type", b"").startswith(b"text/html"):
                    headers.extend(h for h in self._document if h[0] not in present)
                    if b"content-security-policy" not in present:
                        nonce = st.get("csp_nonce")
                        csp = self._csp_without_nonce if nonce is None else nonce.encode().join(self._csp_parts)
                        headers.append((b"content-security-policy", csp))
                else:
                    headers.extend(h for h in self._other if h[0] not in present)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuse request bodies larger than the limit with 413.

    A declared ``Content-Length`` over the limit is refused before any byte is read; a body
    without one (chunked) is counted as it streams and the read that crosses the limit raises
    ``PayloadTooLarge``, which the surface maps to 413. ``limits`` maps path prefixes to larger
    limits for upload routes.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, responder: ErrorResponder, limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.responder = responder
        self.limits = sorted((limits or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is None and scope.get("http_version") in _HTTP1 and header(scope, b"transfer-encoding") is None:
            await self.app(scope, receive, send)  # HTTP/1 without either header has no body (RFC 9112 6.3)
            return
        limit = self.limit_for(scope["path"])
        error = PayloadTooLarge(f"The request body is larger than the limit of {limit:,} bytes.")
        if declared is not None and declared > limit:
            await self.responder(scope, error)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise error
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except PayloadTooLarge as exc:
            if started:
                raise
            await self.responder(scope, exc)(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    value = header(scope, b"content-length")
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


class PrefixDispatch:
    """Hand requests under ``prefix`` straight to ``mounted``; everything else to ``app``.

    The same routing as a Starlette ``Mount(prefix, mounted)`` inside ``app`` (which should still
    hold it, for ``prefix`` itself and for route listings), without passing through the outer
    app's error layers and route list first: ~10 us of every API request (bench/README.md).
    """

    def __init__(self, app: ASGIApp, *, prefix: str, mounted: ASGIApp) -> None:
        self.app = app
        self.prefix = prefix
        self._under = prefix + "/"
        self.mounted = mounted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"} and scope["path"].startswith(self._under):
            root_path = scope.get("root_path", "")
            scope = {
                **scope,
                "root_path": root_path + self.prefix,
                "app_root_path": scope.get("app_root_path", root_path),
            }
            await self.mounted(scope, receive, send)
            return
        await self.app(scope, receive, send)
