"""Sessions (one row per signed-in device), their cookie tokens and the API token pair.

A browser session is an opaque token in a cookie; the database keeps only its SHA-256. An API
session hands out a 15-minute JWT access token naming the session, plus an opaque refresh token
that is replaced on every use. Presenting a refresh token that was already spent means it was
copied: the whole token family and its session are revoked at once.

Resolving a session on every request must not cost a database round trip, so the principal of
each live session is kept in the cache (memory or Redis) for a short time; ending a session
deletes that entry, so revocation takes effect on the very next request in every process.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from fastapp.accounts.devices import device_name
from fastapp.accounts.local_cache import MISSING, LocalPrincipals
from fastapp.accounts.models import AuthSession, RefreshToken, User, UserStatus
from fastapp.accounts.services import drop_principal, forget_principals, permissions_of, principal_key
from fastapp.accounts.tokens import AccessTokens, new_opaque_token, token_hash
from fastapp.audit import Action, record
from fastapp.config import AuthSettings
from fastapp.platform.cache import Cache
from fastapp.platform.context import Context, Principal
from fastapp.platform.errors import Invalid, NotFound

LAST_SEEN_EVERY = timedelta(minutes=1)
PRINCIPAL_TTL_S = 60.0


def cookie_key(token_digest: str) -> str:
    return f"session-token:{token_digest}"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass
class SessionService:
    ctx: Context
    settings: AuthSettings
    cache: Cache
    access_tokens: AccessTokens
    local: LocalPrincipals | None = None

    async def start(self, user: User, *, kind: str, remember: bool = False) -> tuple[AuthSession, str]:
        """A new session for ``user`` (always a new token: no fixation) and its cookie token."""
        now = self.ctx.clock.now()
        token = new_opaque_token()
        lifetime = timedelta(days=self.settings.remember_days if remember else self.settings.session_max_days)
        if kind == "api":
            lifetime = timedelta(days=self.settings.refresh_token_days)
        session = AuthSession(
            id=uuid.uuid4(),
            user_id=user.id,
            token_hash=token_hash(token) if kind == "browser" else None,
            kind=kind,
            device=device_name(self.ctx.user_agent),
            user_agent=self.ctx.user_agent[:1000],
            ip=self.ctx.ip,
            created_at=now,
            last_seen_at=now,
            authenticated_at=now,
            expires_at=now + lifetime,
            remember=remember,
            csrf_generation=0,
        )
        self.ctx.session.add(session)
        await self.ctx.session.flush()
        return session, token

    async def is_unfamiliar_device(self, user: User) -> bool:
        """True when ``user`` has signed in before, but never from a device like this request's."""
        device = device_name(self.ctx.user_agent)
        rows = (
            await self.ctx.session.scalars(
                select(AuthSession.device).where(AuthSession.user_id == user.id).distinct().limit(50)
            )
        ).all()
        return bool(rows) and device not in rows

    async def resolve_cookie(self, token: str) -> Principal | None:
        """The principal of a live browser session token, or None."""
        digest = token_hash(token)
        cached = await self.cache.get(cookie_key(digest))
        if cached is not None:
            session_id = uuid.UUID(cached.decode())
            return await self.principal(session_id)
        session = await self.ctx.session.scalar(select(AuthSession).where(AuthSession.token_hash == digest))
        if session is None:
            return None
        await self.cache.set(cookie_key(digest), str(session.id).encode(), ttl=PRINCIPAL_TTL_S)
        return await self.principal(session.id)

    async def principal(self, session_id: uuid.UUID) -> Principal | None:
        """The principal of a live session (cached), or None when ended, expired or idle."""
        now = self.ctx.clock.now()
        found = await cached_principal(self.cache, session_id, now)
        if found is not MISSING:
            return found  # type: ignore[return-value]
        session = await self.ctx.session.get(AuthSession, session_id)
        if session is None or not await self._alive(session, now):
            await self.cache.set(principal_key(session_id), b"null", ttl=PRINCIPAL_TTL_S)
            return None
        user = await self.ctx.session.get(User, session.user_id)
        verified = user is not None and user.email_verified_at is not None
        permissions = await permissions_of(self.ctx, session.user_id) if verified else frozenset()
        data = {
            "verified": verified,
            "email": user.email if user else "",
            "name": user.display_name if user else "",
            "user": str(session.user_id),
            "session": str(session.id),
            "permissions": sorted(permissions),
            "auth": session.authenticated_at.isoformat(),
            "via": session.kind,
            "csrf": session.csrf_generation,
            "expires": min(session.expires_at, now + self._idle()).isoformat(),
        }
        await self.cache.set(principal_key(session_id), json.dumps(data).encode(), ttl=PRINCIPAL_TTL_S)
        return _principal_from(data)

    def _idle(self) -> timedelta:
        return timedelta(minutes=self.settings.session_idle_minutes)

    async def _alive(self, session: AuthSession, now: datetime) -> bool:
        if session.revoked_at is not None or session.expires_at <= now:
            return False
        if session.kind == "browser" and session.last_seen_at + self._idle() <= now:
            return False
        user = await self.ctx.session.get(User, session.user_id)
        if user is None or user.status not in {UserStatus.active.value, UserStatus.pending.value}:
            return False
        if now - session.last_seen_at >= LAST_SEEN_EVERY:
            session.last_seen_at = now
        return True

    async def active(self, user_id: uuid.UUID) -> list[AuthSession]:
        now = self.ctx.clock.now()
        rows = await self.ctx.session.scalars(
            select(AuthSession)
            .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
            .order_by(AuthSession.last_seen_at.desc())
        )
        return list(rows)

    async def end(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        """End one of the user's sessions (a session of someone else is "not found")."""
        session = await self.ctx.session.get(AuthSession, session_id)
        if session is None or session.user_id != user_id or session.revoked_at is not None:
            raise NotFound("No such session.")
        await self._revoke([session], Action.SESSION_REVOKED, reason="ended by its user")

    async def sign_out(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        """End the session the request came with."""
        session = await self.ctx.session.get(AuthSession, session_id)
        if session is not None and session.user_id == user_id and session.revoked_at is None:
            await self._revoke([session], Action.SIGN_OUT, reason="signed out")

    async def end_all(
        self, user_id: uuid.UUID, *, except_session: uuid.UUID | None = None, reason: str = "ended by its user"
    ) -> int:
        rows = await self.active(user_id)
        targets = [s for s in rows if s.id != except_session]
        await self._revoke(targets, Action.SESSION_REVOKED, reason=reason)
        return len(targets)

    async def _revoke(self, sessions: list[AuthSession], action: Action, *, reason: str) -> None:
        now = self.ctx.clock.now()
        for session in sessions:
            await record(
                self.ctx,
                action,
                target=("session", session.id),
                data={"reason": reason, "device": session.device, "user": str(session.user_id)},
            )
            session.revoked_at = now
            # Takes effect for every process at the next request: the cached principal goes too.
            await drop_principal(self.cache, session.id, self.local)
            if session.token_hash:
                await self.cache.delete(cookie_key(session.token_hash))
        await self.ctx.session.flush()

    async def reauthenticated(self, session_id: uuid.UUID) -> None:
        session = await self.ctx.session.get(AuthSession, session_id)
        if session is not None:
            session.authenticated_at = self.ctx.clock.now()
            await drop_principal(self.cache, session_id, self.local)
            await record(self.ctx, Action.REAUTHENTICATED, target=("session", session_id))

    async def rotate_csrf(self, session_id: uuid.UUID) -> None:
        """A new CSRF secret for the session (after a privilege or password change)."""
        await self.ctx.session.execute(
            update(AuthSession)
            .where(AuthSession.id == session_id)
            .values(csrf_generation=AuthSession.csrf_generation + 1)
        )
        await drop_principal(self.cache, session_id, self.local)

    async def invalidate_user(self, user_id: uuid.UUID) -> None:
        """Forget cached principals of every session of a user (the next request reloads them)."""
        await forget_principals(self.ctx, self.cache, user_id, self.local)

    # -- API tokens -------------------------------------------------------------------------

    async def issue_tokens(self, session: AuthSession) -> TokenPair:
        refresh = await self._new_refresh(session.id, uuid.uuid4())
        return self._pair(session, refresh)

    def _pair(self, session: AuthSession, refresh: str) -> TokenPair:
        access = self.access_tokens.issue(
            user_id=session.user_id,
            session_id=session.id,
            auth_time=session.authenticated_at,
            now=self.ctx.clock.now(),
        )
        return TokenPair(access, refresh, int(self.access_tokens.lifetime.total_seconds()))

    async def _new_refresh(self, session_id: uuid.UUID, family: uuid.UUID) -> str:
        token = new_opaque_token()
        now = self.ctx.clock.now()
        self.ctx.session.add(
            RefreshToken(
                id=uuid.uuid4(),
                session_id=session_id,
                family_id=family,
                token_hash=token_hash(token),
                created_at=now,
                expires_at=now + timedelta(days=self.settings.refresh_token_days),
            )
        )
        await self.ctx.session.flush()
        return token

    async def refresh(self, refresh_token: str) -> TokenPair | None:
        """Spend a refresh token for a new pair.

        Returns None when the token was already spent: it was copied, so its whole family and
        its session are revoked (the caller commits that, then refuses). Raises ``Invalid`` for
        an unknown or expired token, or one whose session has ended.
        """
        now = self.ctx.clock.now()
        stored = await self.ctx.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash(refresh_token))
        )
        invalid = Invalid("The refresh token is not valid. Sign in again.")
        if stored is None:
            raise invalid
        session = await self.ctx.session.get(AuthSession, stored.session_id)
        if stored.used_at is not None:
            await self.ctx.session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == stored.family_id, RefreshToken.used_at.is_(None))
                .values(used_at=now)
            )
            if session is not None and session.revoked_at is None:
                await self._revoke([session], Action.REFRESH_REUSED, reason="a spent refresh token was used again")
            return None
        if stored.expires_at <= now or session is None or await self.principal(session.id) is None:
            raise invalid
        stored.used_at = now
        new = await self._new_refresh(session.id, stored.family_id)
        return self._pair(session, new)

    async def revoke_refresh(self, refresh_token: str) -> None:
        """End the session behind a refresh token (sign-out for API clients); unknown tokens are ignored."""
        stored = await self.ctx.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash(refresh_token))
        )
        if stored is not None:
            session = await self.ctx.session.get(AuthSession, stored.session_id)
            if session is not None and session.revoked_at is None:
                await self._revoke([session], Action.SIGN_OUT, reason="refresh token revoked")


async def cached_principal(cache: Cache, session_id: uuid.UUID, now: datetime) -> Principal | object | None:
    """The cached principal of a session, None when it is cached as ended, or ``MISSING``."""
    cached = await cache.get(principal_key(session_id))
    if cached is None:
        return MISSING
    data = json.loads(cached)
    if data is None:
        return None
    if datetime.fromisoformat(data["expires"]) <= now:
        return MISSING
    return _principal_from(data)


def _principal_from(data: dict[str, Any]) -> Principal:
    return Principal(
        user_id=uuid.UUID(str(data["user"])),
        session_id=uuid.UUID(str(data["session"])),
        permissions=frozenset(data["permissions"]),
        authenticated_at=datetime.fromisoformat(str(data["auth"])),
        via="cookie" if data["via"] == "browser" else "bearer",
        csrf_generation=int(data["csrf"]),
        verified=bool(data["verified"]),
        email=str(data["email"]),
        display_name=str(data["name"]),
    )
