"""The acceptance gate: a signed-in user with current policy versions not yet accepted must
accept them before doing anything else.

Pages (GET/HEAD for HTML) are redirected to the accept page with ``next=`` so the user comes
back; HTMX requests get ``HX-Redirect``; any other page request gets a 403 page and the API a
403 ``policy-acceptance-required`` problem with the links to accept. Some routes stay open so a
user may read the texts, sign out, or use their privacy rights (export, erasure, consent)
instead of accepting.

This runs on every authenticated request, so it answers from memory: the current versions are
cached per process for ``TTL`` (never past the next scheduled version's date; a publish in this
process drops the cache), and "this user accepted these versions" is kept once seen (an
acceptance is never withdrawn). An accepted user costs no database query.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.responses import RedirectResponse, Response
from starlette.types import Scope

from fastapp.platform.context import Principal, Runtime, open_context
from fastapp.platform.errors import PermissionDenied
from fastapp.platform.scope import header, state
from fastapp.privacy.policies import services

TTL = timedelta(seconds=30)
#: Users whose acceptances are remembered per process (least recently seen are dropped first).
MAX_USERS = 10_000
ACCEPT_PATH = "/policies/accept"
API_ACCEPT_PATH = "/api/v1/me/policies/accept"
#: Open while acceptance is pending: these paths and everything below them.
EXEMPT = (
    "/policies",
    # Whoever manages the texts may correct one (publish a fix) before accepting it.
    "/admin/policies",
    "/privacy",
    "/consent",
    "/sign-out",
    "/static",
    "/healthz",
    "/readyz",
    "/favicon.ico",
    # Re-authentication, which exporting or erasing data asks for.
    "/account/confirm-password",
    # The page shell's own requests on the accept page (avatar, unread count, theme).
    "/avatars",
    "/notifications/count",
    "/notifications/stream",
    "/preferences/theme",
    "/api/docs",
    "/api/v1/openapi.json",
    "/api/v1/auth",
    "/api/v1/policies",
    "/api/v1/me/policies",
    "/api/v1/me/export",
    "/api/v1/me/erasure",
    "/api/v1/me/consents",
)
_EXEMPT_PATHS = frozenset(EXEMPT)
_EXEMPT_PREFIXES = tuple(root + "/" for root in EXEMPT)
_READS = frozenset({"GET", "HEAD"})


class PolicyAcceptanceRequired(PermissionDenied):
    problem_type = "policy-acceptance-required"
    title = "Policy acceptance required"


@dataclass(frozen=True)
class CurrentPolicy:
    """What the gate needs of a current version (kept in memory, detached from any session)."""

    id: uuid.UUID
    kind: str
    version: str
    title: str


class PolicyCache:
    """The process's memory of current versions and of users known to have accepted them."""

    def __init__(self) -> None:
        self.current: tuple[CurrentPolicy, ...] = ()
        self.current_ids: frozenset[uuid.UUID] = frozenset()
        self.valid_until: datetime | None = None
        self.accepted: OrderedDict[uuid.UUID, frozenset[uuid.UUID]] = OrderedDict()

    def fresh(self, now: datetime) -> tuple[CurrentPolicy, ...] | None:
        if self.valid_until is None or now >= self.valid_until:
            return None
        return self.current

    def store(self, current: tuple[CurrentPolicy, ...], now: datetime, next_change: datetime | None) -> None:
        self.current = current
        self.current_ids = frozenset(p.id for p in current)
        self.valid_until = now + TTL if next_change is None else min(now + TTL, next_change)

    def settled(self, user_id: uuid.UUID, now: datetime) -> bool:
        """True when memory alone says ``user_id`` has nothing to accept (the common case)."""
        current = self.fresh(now)
        return current is not None and (not current or self.has_accepted(user_id, self.current_ids))

    def has_accepted(self, user_id: uuid.UUID, ids: frozenset[uuid.UUID]) -> bool:
        known = self.accepted.get(user_id)
        if known is None or not ids <= known:
            return False
        self.accepted.move_to_end(user_id)
        return True

    def remember(self, user_id: uuid.UUID, ids: set[uuid.UUID]) -> None:
        self.accepted[user_id] = self.accepted.get(user_id, frozenset()) | ids
        self.accepted.move_to_end(user_id)
        while len(self.accepted) > MAX_USERS:
            self.accepted.popitem(last=False)


def cache_of(runtime: Runtime) -> PolicyCache:
    found = runtime.services.get(services.CACHE_KEY)
    if not isinstance(found, PolicyCache):
        found = runtime.services[services.CACHE_KEY] = PolicyCache()
    return found


def exempt(path: str) -> bool:
    return path in _EXEMPT_PATHS or path.startswith(_EXEMPT_PREFIXES)


async def pending_policies(runtime: Runtime, scope: Scope, user_id: uuid.UUID) -> list[CurrentPolicy]:
    """The current versions ``user_id`` has not accepted, from memory when it can."""
    cache = cache_of(runtime)
    now = runtime.backends.clock.now()
    if cache.settled(user_id, now):
        return []
    current = cache.fresh(now)
    async with open_context(runtime, request_id=str(state(scope).get("request_id", "")), ip=None) as ctx:
        if current is None:
            versions = await services.current_all(ctx)
            current = tuple(CurrentPolicy(v.id, v.kind, v.version, v.title) for v in versions)
            cache.store(current, now, await services.next_change(ctx))
            if not current:
                return []
        accepted = await services.accepted_among(ctx, user_id, (p.id for p in current))
    cache.remember(user_id, accepted)
    return [p for p in current if p.id not in accepted]


def _target(scope: Scope) -> str:
    """Where to come back to after accepting: this request's path and query (same site)."""
    path: str = scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    return path + (f"?{query}" if query else "")


def _accept_url(next_path: str | None) -> str:
    if not next_path or not next_path.startswith("/") or next_path.startswith("//"):
        return ACCEPT_PATH
    return f"{ACCEPT_PATH}?next={quote(next_path, safe='/')}"


def _wants_html(scope: Scope) -> bool:
    accept = header(scope, b"accept") or "*/*"
    return "text/html" in accept or accept.strip() == "*/*"


async def policy_gate(runtime: Runtime, scope: Scope, principal: Principal) -> Response | None:
    """The registered request gate (``registry.request_gates``)."""
    # Memory first: on almost every request nothing is pending and no other work is needed.
    if cache_of(runtime).settled(principal.user_id, runtime.backends.clock.now()):
        return None
    path: str = scope["path"]
    if exempt(path):
        return None
    pending = await pending_policies(runtime, scope, principal.user_id)
    if not pending:
        return None
    names = " and ".join(f"the {services.label_of(p.kind).lower()} (version {p.version})" for p in pending)
    detail = f"Please review and accept {names} to continue."
    if path == "/api" or path.startswith("/api/"):
        site = runtime.config.app.site_url.rstrip("/")
        raise PolicyAcceptanceRequired(
            detail,
            accept_url=f"{site}{ACCEPT_PATH}",
            accept_api=API_ACCEPT_PATH,
            policies=[_described(site, p) for p in pending],
        )
    if header(scope, b"hx-request") == "true":
        # Back to the page the user is on, not to the fragment's URL; only its path (same site).
        current_url = urlsplit(header(scope, b"hx-current-url") or "")
        back = (current_url.path or "/") + (f"?{current_url.query}" if current_url.query else "")
        return Response(status_code=204, headers={"HX-Redirect": _accept_url(back)})
    if scope["method"] in _READS and _wants_html(scope):
        return RedirectResponse(_accept_url(_target(scope)), status_code=303)
    raise PolicyAcceptanceRequired(detail)


def _described(site: str, policy: CurrentPolicy) -> dict[str, Any]:
    return {
        "id": str(policy.id),
        "kind": policy.kind,
        "version": policy.version,
        "title": policy.title,
        "url": f"{site}/policies/{policy.kind}/{quote(policy.version)}",
    }
