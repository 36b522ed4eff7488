"""Tokens: opaque random secrets stored as hashes, signed single-use email links, and JWT access
tokens.

- Opaque tokens (session cookies, refresh tokens, personal access tokens) are 256-bit random
  strings; only their SHA-256 is stored, so a database leak does not leak credentials.
- Email links (verify address, reset password) are signed and time-limited with itsdangerous.
  They carry a fingerprint of the account state they were issued for (email, verification,
  password hash), so a link stops working once it has been used or once the password or email
  changes: single use without a table.
- API access tokens are short-lived JWTs (HS256) carrying the user, the session and the time
  of authentication; the ``kid`` header names the signing key so keys can rotate.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from fastapp.platform.errors import Invalid


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class EmailLinks:
    """Sign and check the links mailed for verifying an address and resetting a password."""

    def __init__(self, secret_key: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="fastapp.email-link")

    @staticmethod
    def fingerprint(*parts: str) -> str:
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]

    def make(self, purpose: str, user_id: uuid.UUID, fingerprint: str) -> str:
        return self._serializer.dumps({"p": purpose, "u": str(user_id), "f": fingerprint})

    def read(self, token: str, purpose: str, *, max_age: timedelta) -> tuple[uuid.UUID, str]:
        """Return (user id, fingerprint); raise ``Invalid`` for a bad, expired or misused link."""
        try:
            data = self._serializer.loads(token, max_age=int(max_age.total_seconds()))
        except SignatureExpired as exc:
            raise Invalid("This link has expired. Ask for a new one.") from exc
        except BadSignature as exc:
            raise Invalid("This link is not valid. Ask for a new one.") from exc
        if not isinstance(data, dict) or data.get("p") != purpose:
            raise Invalid("This link is not valid. Ask for a new one.")
        return uuid.UUID(data["u"]), str(data["f"])


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    auth_time: datetime
    expires_at: datetime


class AccessTokens:
    """HS256 JWTs signed with keys derived from the app secret(s); the first key signs."""

    ALGORITHM = "HS256"

    #: Tokens already verified in this process, to skip re-verifying one on every request.
    VERIFIED_CACHE = 10_000

    def __init__(self, secret_keys: list[str], *, lifetime: timedelta, issuer: str) -> None:
        self._verified: OrderedDict[str, AccessClaims] = OrderedDict()
        self._keys = {self._kid(k): self._derive(k) for k in secret_keys}
        self._signing_kid = self._kid(secret_keys[0])
        self.lifetime = lifetime
        self.issuer = issuer

    @staticmethod
    def _derive(secret: str) -> bytes:
        return hmac.new(secret.encode(), b"fastapp.jwt", hashlib.sha256).digest()

    @staticmethod
    def _kid(secret: str) -> str:
        return hashlib.sha256(b"fastapp.jwt.kid" + secret.encode()).hexdigest()[:12]

    def issue(self, *, user_id: uuid.UUID, session_id: uuid.UUID, auth_time: datetime, now: datetime) -> str:
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "sid": str(session_id),
            "auth_time": int(auth_time.timestamp()),
            "iat": int(now.timestamp()),
            "exp": int((now + self.lifetime).timestamp()),
            "iss": self.issuer,
        }
        return jwt.encode(claims, self._keys[self._signing_kid], self.ALGORITHM, headers={"kid": self._signing_kid})

    def read(self, token: str, *, now: datetime) -> AccessClaims | None:
        """The claims of a valid, unexpired token signed by a known key; None otherwise.

        A token that verified once is remembered (the exact same string has the same claims)
        until it expires: PyJWT's checks cost about a tenth of a millisecond per request.
        """
        known = self._verified.get(token)
        if known is not None:
            return known if known.expires_at > now else None
        claims = self._verify(token, now=now)
        if claims is not None:
            self._verified[token] = claims
            while len(self._verified) > self.VERIFIED_CACHE:
                self._verified.popitem(last=False)
        return claims

    def _verify(self, token: str, *, now: datetime) -> AccessClaims | None:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                return None
            data = jwt.decode(
                token,
                key,
                algorithms=[self.ALGORITHM],
                issuer=self.issuer,
                options={"require": ["exp", "sub", "sid", "auth_time"], "verify_exp": False},
            )
        except jwt.PyJWTError:
            return None
        expires = datetime.fromtimestamp(int(data["exp"]), tz=now.tzinfo)
        if expires <= now:
            return None
        return AccessClaims(
            user_id=uuid.UUID(data["sub"]),
            session_id=uuid.UUID(data["sid"]),
            auth_time=datetime.fromtimestamp(int(data["auth_time"]), tz=now.tzinfo),
            expires_at=expires,
        )
