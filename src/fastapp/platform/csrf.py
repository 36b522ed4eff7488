"""CSRF protection: synchronizer tokens bound to the session, plus an Origin check.

Every unsafe request (POST, PUT, PATCH, DELETE) must carry a token, in the ``X-CSRF-Token``
header (HTMX sends it from ``hx-headers`` on ``<body>``) or a ``csrf_token`` form field (plain
forms), that matches the secret of the caller's session. The secret is derived from the session
key with HMAC, so nothing is stored per visitor; tokens are masked with a fresh pad on every
render so a compressed page never repeats the secret (BREACH).

Until the identity domain exists the session is an anonymous, signed cookie set the first time a
page asks for a token. ``Sec-Fetch-Site`` and ``Origin`` are a second line: a cross-site request
is refused even with a token. Requests with an ``Authorization: Bearer`` header carry no ambient
credential and are exempt; other exemptions are declared by path (signed webhooks) and
greppable as ``csrf_exempt``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from urllib.parse import parse_qs, urlsplit

from itsdangerous import BadSignature, Signer
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapp.platform.errors import CsrfFailed
from fastapp.platform.middleware import ErrorResponder
from fastapp.platform.scope import bearer_token, cookie, header, state

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
HEADER = "x-csrf-token"
FORM_FIELD = "csrf_token"
#: How far into a multipart body the token is looked for: it must come before any file part.
MULTIPART_TOKEN_WINDOW = 64 * 1024
_SECRET_BYTES = 32
FAILURE_DETAIL = "This form has expired or did not come from this site. Reload the page and try again."

SessionKeyResolver = Callable[[Scope], str | None]
"""Return the key of the session the request belongs to (set by the authentication layer)."""


class CsrfTokens:
    """Derive, mask and verify tokens for a session key."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"fastapp.csrf:" + secret_key.encode()).digest()

    def secret_for(self, session_key: str) -> bytes:
        return hmac.new(self._key, session_key.encode(), hashlib.sha256).digest()

    def mask(self, secret: bytes) -> str:
        """A fresh token for ``secret``: random pad + (pad XOR secret), base64url."""
        pad = secrets.token_bytes(_SECRET_BYTES)
        return base64.urlsafe_b64encode(pad + bytes(a ^ b for a, b in zip(pad, secret, strict=True))).decode()

    def verify(self, token: str, secret: bytes) -> bool:
        try:
            raw = base64.urlsafe_b64decode(token.encode())
        except (ValueError, UnicodeEncodeError):
            return False
        if len(raw) != 2 * _SECRET_BYTES:
            return False
        pad, masked = raw[:_SECRET_BYTES], raw[_SECRET_BYTES:]
        return hmac.compare_digest(bytes(a ^ b for a, b in zip(pad, masked, strict=True)), secret)


class AnonymousSession:
    """A signed random key in a cookie, identifying a visitor who is not signed in."""

    def __init__(self, secret_key: str, *, secure: bool) -> None:
        self.signer = Signer(secret_key, salt="fastapp.anonymous-session")
        self.secure = secure
        self.cookie_name = "__Host-fastapp_anon" if secure else "fastapp_anon"

    def read(self, scope: Scope) -> str | None:
        value = cookie(scope, self.cookie_name)
        if value is None:
            return None
        try:
            return self.signer.unsign(value).decode()
        except BadSignature:
            return None

    def cookie(self, key: str) -> str:
        value = self.signer.sign(key).decode()
        flags = "; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000"
        return f"{self.cookie_name}={value}{flags}{'; Secure' if self.secure else ''}"


def csrf_token(scope: Scope) -> str:
    """A masked token for the page being rendered; marks the anonymous cookie as needed.

    Empty for a page answered before this layer ran (the body limit's 413) or past it (a bearer
    request, which has no cookie session to bind a token to).
    """
    st = state(scope)
    tokens: CsrfTokens | None = st.get("csrf_tokens")
    if tokens is None:
        return ""
    st["csrf_used"] = True
    return tokens.mask(tokens.secret_for(st["csrf_session_key"]))


class CsrfMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        secret_key: str,
        site_origin: str,
        secure_cookies: bool,
        responder: ErrorResponder,
        exempt_paths: Iterable[str] = (),
        cookieless_prefixes: Iterable[str] = (),
        session_key: SessionKeyResolver | None = None,
    ) -> None:
        self.app = app
        self.tokens = CsrfTokens(secret_key)
        self.anonymous = AnonymousSession(secret_key, secure=secure_cookies)
        self.site_origin = site_origin.rstrip("/")
        self.responder = responder
        self.exempt_paths = frozenset(exempt_paths)
        self.cookieless_prefixes = tuple(cookieless_prefixes)
        self.session_key = session_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or bearer_token(scope) is not None:
            # A bearer request carries no ambient credential: nothing to check, no token to render.
            await self.app(scope, receive, send)
            return
        st = state(scope)
        session_key = self.session_key(scope) if self.session_key else None
        new_anonymous: str | None = None
        if session_key is None:
            session_key = self.anonymous.read(scope)
            if session_key is None:
                session_key = new_anonymous = secrets.token_urlsafe(24)
        # The secret is derived only when a token is checked or rendered: most requests do neither.
        st.update(csrf_tokens=self.tokens, csrf_session_key=session_key, csrf_used=False)

        if scope["method"] not in SAFE_METHODS:
            problem = self._cross_site(scope)
            if not problem and not self._exempt(scope):
                receive, problem = await self._check(
                    scope, receive, self.tokens.secret_for(session_key), fresh=new_anonymous is not None
                )
            if problem:
                await self.responder(scope, CsrfFailed(problem))(scope, receive, send)
                return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and new_anonymous and st.get("csrf_used"):
                MutableHeaders(scope=message).append("Set-Cookie", self.anonymous.cookie(new_anonymous))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _exempt(self, scope: Scope) -> bool:
        if scope["path"] in self.exempt_paths:
            return True
        # An API request with no cookie at all carries no ambient credential (a script, not a
        # browser session), so there is nothing to forge; a browser's cross-site request is
        # still refused by the Sec-Fetch-Site / Origin check.
        return scope["path"].startswith(self.cookieless_prefixes) and header(scope, b"cookie") is None

    def _cross_site(self, scope: Scope) -> str:
        fetch_site = header(scope, b"sec-fetch-site")
        if fetch_site is not None and fetch_site not in {"same-origin", "none"}:
            return "Cross-site requests are not accepted. " + FAILURE_DETAIL
        origin = header(scope, b"origin")
        if origin is not None and origin.rstrip("/") not in {self.site_origin, _own_origin(scope)}:
            return "Requests from another origin are not accepted. " + FAILURE_DETAIL
        return ""

    async def _check(self, scope: Scope, receive: Receive, secret: bytes, *, fresh: bool) -> tuple[Receive, str]:
        """Return the receive to hand on (replaying a read body) and a failure detail or ''."""
        if fresh:
            return receive, FAILURE_DETAIL
        token = header(scope, HEADER.encode())
        kind = _form_kind(scope)
        if token is None and kind == "multipart/form-data":
            token, receive = await _multipart_token(scope, receive)
        elif token is None and kind is not None:
            body = await _read_body(receive)
            token = await _form_token(scope, body, kind)
            receive = _replay(body, receive)
        if token is None:
            return receive, "The security token is missing. " + FAILURE_DETAIL
        if not self.tokens.verify(token, secret):
            return receive, "The security token is not valid. " + FAILURE_DETAIL
        return receive, ""


def _own_origin(scope: Scope) -> str:
    host = header(scope, b"host") or ""
    return f"{scope.get('scheme', 'http')}://{host}"


def _form_kind(scope: Scope) -> str | None:
    content_type = (header(scope, b"content-type") or "").split(";")[0].strip().lower()
    return content_type if content_type in {"application/x-www-form-urlencoded", "multipart/form-data"} else None


async def _form_token(scope: Scope, body: bytes, kind: str) -> str | None:
    """The ``csrf_token`` field of a url-encoded form body (already held to the body size limit)."""
    values = parse_qs(body.decode("latin-1"), max_num_fields=1000).get(FORM_FIELD)
    return values[0] if values else None


async def _multipart_token(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """The ``csrf_token`` field of a multipart body, read only as far as needed, and the receive
    that replays what was read before passing the rest through.

    Uploads can be large, so the body is not held whole: the token must come before any file
    part (forms put the hidden field first) and within ``MULTIPART_TOKEN_WINDOW`` bytes; parsing
    stops at the first file part or past the window.
    """
    _, params = parse_options_header(header(scope, b"content-type") or "")
    boundary = params.get(b"boundary")
    read: list[Message] = []
    if not boundary:
        return None, _replay_messages(read, receive)
    found: dict[str, object] = {"name": b"", "file": False, "value": bytearray(), "token": None, "stop": False}
    field, value = bytearray(), bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_header_end() -> None:
        if bytes(field).lower() == b"content-disposition":
            _, options = parse_options_header(bytes(value))
            found["name"] = options.get(b"name", b"")
            found["file"] = b"filename" in options
        field.clear()
        value.clear()

    def on_headers_finished() -> None:
        if found["file"]:
            found["stop"] = True  # a file before the token: the token is missing

    def on_part_data(data: bytes, start: int, end: int) -> None:
        collected = found["value"]
        wanted = not found["stop"] and found["name"] == FORM_FIELD.encode()
        if wanted and isinstance(collected, bytearray) and len(collected) < 512:
            collected.extend(data[start:end])

    def on_part_end() -> None:
        collected = found["value"]
        if not found["stop"] and found["name"] == FORM_FIELD.encode() and isinstance(collected, bytearray):
            found["token"] = collected.decode("latin-1")
            found["stop"] = True
        found.update(name=b"", file=False, value=bytearray())

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    seen = 0  # only the window is parsed: a token further in does not count
    while not found["stop"] and seen < MULTIPART_TOKEN_WINDOW:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        window = chunk[: MULTIPART_TOKEN_WINDOW - seen]
        seen += len(chunk)
        try:
            parser.write(window)
        except MultipartParseError:
            break
        if not message.get("more_body", False):
            break
    token = found["token"]
    return (token if isinstance(token, str) else None), _replay_messages(read, receive)


def _replay_messages(read: list[Message], receive: Receive) -> Receive:
    pending = list(read)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def site_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
