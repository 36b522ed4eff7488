"""Personal access tokens: ``fapat_``-prefixed secrets for scripts, shown once, stored hashed.

A token acts for its owner with at most the scopes chosen at creation (a subset of the owner's
permissions, re-checked on every use, so a demoted owner's tokens lose power too). Like browser
sessions, a token's principal is cached briefly and dropped from the cache when it is revoked.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from fastapp.accounts.models import PersonalAccessToken, User, UserStatus
from fastapp.accounts.services import permissions_of
from fastapp.accounts.tokens import new_opaque_token, token_hash
from fastapp.audit import Action, record
from fastapp.platform.cache import Cache
from fastapp.platform.context import Context, Principal
from fastapp.platform.errors import Invalid, NotFound, PermissionDenied

PREFIX = "fapat_"
CACHE_TTL_S = 60.0
MAX_DAYS = 366
NEVER = datetime.fromtimestamp(0, UTC)


def is_personal_token(token: str) -> bool:
    return token.startswith(PREFIX)


def _key(digest: str) -> str:
    return f"pat:{digest}"


@dataclass
class PersonalTokenService:
    ctx: Context
    cache: Cache

    async def create(
        self, principal: Principal, *, name: str, scopes: list[str], expires_in_days: int | None
    ) -> tuple[PersonalAccessToken, str]:
        """A new token for the principal's user; returns the row and the secret (shown once)."""
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise Invalid("Give the token a name of 1 to 100 characters.", fields={"name": "Enter a name."})
        if expires_in_days is not None and not 1 <= expires_in_days <= MAX_DAYS:
            message = f"Choose an expiry of 1 to {MAX_DAYS} days."
            raise Invalid(message, fields={"expires_in_days": message})
        wanted = set(scopes)
        if not wanted <= principal.permissions:
            raise PermissionDenied(
                "A token cannot have permissions you do not hold: " + ", ".join(sorted(wanted - principal.permissions))
            )
        now = self.ctx.clock.now()
        secret = PREFIX + new_opaque_token()
        row = PersonalAccessToken(
            id=uuid.uuid4(),
            user_id=principal.user_id,
            name=name,
            token_hash=token_hash(secret),
            scopes=" ".join(sorted(wanted)),
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        )
        self.ctx.session.add(row)
        await self.ctx.session.flush()
        await record(
            self.ctx,
            Action.TOKEN_CREATED,
            target=("token", row.id),
            data={
                "name": name,
                "scopes": sorted(wanted),
                "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            },
        )
        return row, secret

    async def active(self, user_id: uuid.UUID) -> list[PersonalAccessToken]:
        rows = await self.ctx.session.scalars(
            select(PersonalAccessToken)
            .where(PersonalAccessToken.user_id == user_id, PersonalAccessToken.revoked_at.is_(None))
            .order_by(PersonalAccessToken.created_at.desc())
        )
        return list(rows)

    async def revoke(self, user_id: uuid.UUID, token_id: uuid.UUID) -> None:
        row = await self.ctx.session.get(PersonalAccessToken, token_id)
        if row is None or row.user_id != user_id or row.revoked_at is not None:
            raise NotFound("No such token.")
        row.revoked_at = self.ctx.clock.now()
        await self.cache.delete(_key(row.token_hash))
        await record(self.ctx, Action.TOKEN_REVOKED, target=("token", row.id), data={"name": row.name})

    async def authenticate(self, secret: str) -> Principal | None:
        """The principal a token acts as, or None when unknown, expired, revoked or its owner inactive."""
        digest = token_hash(secret)
        now = self.ctx.clock.now()
        cached = await self.cache.get(_key(digest))
        if cached is not None:
            data = json.loads(cached)
            if data is None or datetime.fromisoformat(data["until"]) <= now:
                return None
            return _principal(data)
        row = await self.ctx.session.scalar(select(PersonalAccessToken).where(PersonalAccessToken.token_hash == digest))
        user = await self.ctx.session.get(User, row.user_id) if row is not None else None
        alive = (
            row is not None
            and user is not None
            and row.revoked_at is None
            and (row.expires_at is None or row.expires_at > now)
            and user.status == UserStatus.active.value
        )
        if not alive or row is None or user is None:
            await self.cache.set(_key(digest), b"null", ttl=CACHE_TTL_S)
            return None
        row.last_used_at = now
        granted = frozenset(row.scopes.split()) & await permissions_of(self.ctx, user.id)
        until = (
            min(row.expires_at, now + timedelta(seconds=CACHE_TTL_S))
            if row.expires_at
            else now + timedelta(seconds=CACHE_TTL_S)
        )
        data = {
            "user": str(user.id),
            "token": str(row.id),
            "permissions": sorted(granted),
            "email": user.email,
            "name": user.display_name,
            "created": row.created_at.isoformat(),
            "until": until.isoformat(),
        }
        await self.cache.set(_key(digest), json.dumps(data).encode(), ttl=CACHE_TTL_S)
        return _principal(data)


def _principal(data: dict[str, object]) -> Principal:
    return Principal(
        user_id=uuid.UUID(str(data["user"])),
        session_id=uuid.UUID(str(data["token"])),
        permissions=frozenset(str(p) for p in data["permissions"]),  # type: ignore[attr-defined]
        # A token never counts as a recent sign-in: sensitive actions need a person.
        authenticated_at=NEVER,
        via="token",
        email=str(data["email"]),
        display_name=str(data["name"]),
    )
