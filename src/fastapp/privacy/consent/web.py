"""Consent as pages see it: the signed consent cookie, and what a request may run.

Every page asks whether to show the banner, so that answer costs no database query:

- A visitor's decisions live in ``CONSENT_COOKIE``, signed with the app's secret and bound to
  their ``VISITOR_COOKIE`` id, so a forged or copied value grants nothing. The database records
  (by visitor id) stay the evidence; the cookie is what pages read.
- For a signed-in user the records are the truth. The same cookie, bound to the user's id, tells
  the shell "this user has decided" (a decision never becomes undecided, so it cannot go stale
  for that question). Without it (a new browser) the banner is fetched once by HTMX
  (``consent_banner``), which reads the records and sets the cookie when they are complete.
  Whether a user granted a purpose (``consented``) is read from a short-lived cache that every
  change drops, never from the cookie, since the API or another browser may have changed it.
"""

from __future__ import annotations

import uuid
from functools import lru_cache

from fasthtml.common import FT, Script
from itsdangerous import BadSignature, Signer
from starlette.requests import Request
from starlette.responses import Response

from fastapp.platform.auth import principal_of
from fastapp.platform.context import Runtime, open_context
from fastapp.platform.middleware import csp_nonce
from fastapp.platform.privacy import CONSENT_COOKIE, VISITOR_COOKIE, ConsentPurpose
from fastapp.platform.scope import state
from fastapp.privacy.consent import services
from fastapp.ui.request import runtime_of, set_site_cookie

#: How long a decision is remembered before the banner asks again (about 13 months, the longest
#: European regulators accept for a consent choice).
COOKIE_MAX_AGE = 395 * 24 * 3600
#: How long a user's current state is cached for pages (every change drops it at once).
CACHE_TTL_S = 600

Decisions = dict[str, bool]


@lru_cache(maxsize=4)
def _signer(secret: str) -> Signer:
    return Signer(secret, salt="fastapp.privacy.consent")


def _signer_of(runtime: Runtime) -> Signer:
    return _signer(runtime.config.app.secret_key.get_secret_value())


def encode(runtime: Runtime, owner: str, decisions: Decisions) -> str:
    """The cookie value: ``owner|purpose:1|purpose:0...`` and its signature."""
    payload = "|".join([owner, *(f"{key}:{int(value)}" for key, value in sorted(decisions.items()))])
    return _signer_of(runtime).sign(payload).decode()


def decode(runtime: Runtime, value: str | None) -> tuple[str, Decisions] | None:
    """``(owner, decisions)`` of a cookie value; None when absent, malformed or not signed by us."""
    if not value:
        return None
    try:
        payload = _signer_of(runtime).unsign(value).decode()
    except (BadSignature, UnicodeDecodeError):
        return None
    owner, *parts = payload.split("|")
    decisions: Decisions = {}
    for part in parts:
        key, _, flag = part.rpartition(":")
        if not key or flag not in ("0", "1"):
            return None
        decisions[key] = flag == "1"
    return owner, decisions


def visitor_id_of(request: Request) -> str | None:
    value = request.cookies.get(VISITOR_COOKIE)
    return value if services.is_visitor_id(value) else None


def owner_of(request: Request) -> str | None:
    """Whose decisions this browser's cookie must hold: the signed-in user's, or the visitor's."""
    principal = principal_of(request.scope)
    if principal is not None:
        return f"u:{principal.user_id}"
    visitor = visitor_id_of(request)
    return f"v:{visitor}" if visitor else None


def cookie_decisions(request: Request) -> Decisions | None:
    """The decisions the consent cookie holds for the current viewer; None when it holds none."""
    cached = state(request.scope).get("consent_cookie", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    found: Decisions | None = None
    owner = owner_of(request)
    decoded = decode(runtime_of(request), request.cookies.get(CONSENT_COOKIE)) if owner else None
    if decoded is not None and decoded[0] == owner:
        found = decoded[1]
    state(request.scope)["consent_cookie"] = found
    return found


def decided(request: Request) -> bool:
    """Whether the viewer's cookie shows a decision for every consentable purpose."""
    decisions = cookie_decisions(request)
    if decisions is None:
        return False
    registered = runtime_of(request).registry.consent_purposes
    return all(p.key in decisions for p in services.consentable(registered))


def set_consent_cookie(request: Request, response: Response, owner: str, decisions: Decisions) -> None:
    set_site_cookie(
        request, response, CONSENT_COOKIE, encode(runtime_of(request), owner, decisions), max_age=COOKIE_MAX_AGE
    )


def set_visitor_cookie(request: Request, response: Response, visitor_id: str) -> None:
    set_site_cookie(request, response, VISITOR_COOKIE, visitor_id, max_age=COOKIE_MAX_AGE)


def decisions_of(state_: services.ConsentState, registered: dict[str, ConsentPurpose]) -> Decisions:
    """What the cookie keeps of a state: each decided consentable purpose."""
    return {key: state_.granted[key] for key in state_.decided if key in registered}


async def user_decisions(runtime: Runtime, user_id: uuid.UUID) -> Decisions:
    """``user_id``'s decided purposes, from the cache or (on a miss) the database."""
    cache = runtime.backends.cache
    key = services.CACHE_PREFIX + str(user_id)
    raw = await cache.get(key)
    if raw is not None:
        return {part[:-2]: part.endswith(":1") for part in raw.decode().split("|") if part}
    async with open_context(runtime, request_id="consent", ip=None) as ctx:
        found = await services.current(ctx, user_id=user_id)
    decisions = decisions_of(found, runtime.registry.consent_purposes)
    encoded = "|".join(f"{k}:{int(v)}" for k, v in sorted(decisions.items()))
    await cache.set(key, encoded.encode(), ttl=CACHE_TTL_S)
    return decisions


async def consented(request: Request, purpose: str) -> bool:
    """Whether this request's viewer granted ``purpose``: a signed-in user by their records
    (cached), a visitor by their signed cookie. Necessary purposes always; unknown ones never."""
    runtime = runtime_of(request)
    spec = runtime.registry.consent_purposes.get(purpose)
    if spec is None:
        return False
    if spec.necessary:
        return True
    principal = principal_of(request.scope)
    if principal is not None:
        return (await user_decisions(runtime, principal.user_id)).get(purpose, False)
    return (cookie_decisions(request) or {}).get(purpose, False)


async def ConsentedScript(request: Request, purpose: str, *, src: str = "", code: str = "") -> FT | None:
    """A ``<script>`` (this site's ``src``, or inline ``code``, with the page's CSP nonce) only
    when the viewer granted ``purpose``; nothing otherwise. How applications add analytics or
    other non-essential scripts::

        await ConsentedScript(request, "analytics", src=assets.url("stats.js"))
    """
    if not (src or code) or not await consented(request, purpose):
        return None
    nonce = csp_nonce(request.scope)
    if src:
        return Script(src=src, nonce=nonce, defer=True)
    return Script(code, nonce=nonce)
