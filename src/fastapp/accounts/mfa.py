"""Two-factor sign-in with TOTP (RFC 6238) authenticator apps, and single-use recovery codes.

Set-up is two steps: a secret is kept as *pending* while the user scans the QR code, and only a
correct code from the app turns it on, so nobody is locked out by a half-finished set-up. An
accepted code's time step is remembered: the same code cannot be replayed. Recovery codes are
shown once and stored as SHA-256 hashes (they are random, 50 bits each: no slow hash needed).
Secrets are encrypted at rest (``EncryptedString``).
"""

from __future__ import annotations

import hashlib
import io
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp
import segno
from sqlalchemy import delete, select

from fastapp.accounts import passwords
from fastapp.accounts.models import RecoveryCode, User
from fastapp.accounts.services import SECURITY_MAIL, AccountService
from fastapp.audit import Action, Actor, record
from fastapp.platform.errors import Conflict, Invalid

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (0/o, 1/l/i)
INVALID_CODE = "That code is not correct. Enter the 6-digit code from your app, or a recovery code."


def _hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").strip().lower().encode()).hexdigest()


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


@dataclass
class TwoFactorService:
    accounts: AccountService
    issuer: str

    @property
    def ctx(self) -> Any:
        return self.accounts.ctx

    def is_on(self, user: User) -> bool:
        return user.totp_secret is not None

    async def begin(self, user: User) -> Enrolment:
        """A new pending secret, its otpauth:// URI and QR code (inline SVG)."""
        if self.is_on(user):
            raise Conflict("Two-factor sign-in is already on.")
        secret = pyotp.random_base32()
        user.totp_pending = secret
        await self.ctx.session.flush()
        return self.enrolment(user, secret)

    def enrolment(self, user: User, secret: str) -> Enrolment:
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=self.issuer)
        out = io.BytesIO()
        segno.make(uri, error="m").save(
            out,
            kind="svg",
            scale=5,
            border=2,
            xmldecl=False,
            svgns=True,
            title="QR code for your authenticator app",
            dark="#000",
            light="#fff",
        )
        return Enrolment(secret=secret, uri=uri, qr_svg=out.getvalue().decode())

    async def confirm(self, user: User, code: str) -> list[str]:
        """Turn two-factor sign-in on with a code from the app; returns the recovery codes
        (shown once)."""
        if user.totp_pending is None:
            raise Invalid("Start the set-up again: no authenticator is waiting for confirmation.")
        step = self._totp_step(user.totp_pending, code, last=None)
        if step is None:
            raise Invalid(INVALID_CODE, fields={"code": INVALID_CODE})
        now = self.ctx.clock.now()
        await record(self.ctx, Action.MFA_ENABLED, actor=Actor.user(user.id, user.email), target=("user", user.id))
        user.totp_secret, user.totp_pending = user.totp_pending, None
        user.totp_enabled_at, user.totp_last_step = now, step
        codes = await self._new_recovery_codes(user, now)
        await self.accounts.queue_mail(
            user.email,
            "mfa_enabled",
            category=SECURITY_MAIL,
            user_id=user.id,
            name=user.display_name,
            method="authenticator app",
            changed_at=now,
            action_url=f"{self.accounts.site_url}/account/security",
        )
        return codes

    async def _new_recovery_codes(self, user: User, now: datetime) -> list[str]:
        await self.ctx.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        codes = [new_recovery_code() for _ in range(RECOVERY_CODES)]
        for code in codes:
            self.ctx.session.add(RecoveryCode(id=uuid.uuid4(), user_id=user.id, code_hash=_hash(code), created_at=now))
        await self.ctx.session.flush()
        return codes

    async def verify(self, user: User, code: str) -> None:
        """Accept a current TOTP code (once) or an unused recovery code; ``Invalid`` otherwise.

        Attempts are limited per account (``mfa.account``) so six digits cannot be guessed.
        """
        await self.accounts.limits["mfa.account"].hit(str(user.id))
        if user.totp_secret is None:
            raise Invalid("Two-factor sign-in is not on for this account.")
        step = self._totp_step(user.totp_secret, code, last=user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            return
        unused = await self.ctx.session.scalar(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _hash(code), RecoveryCode.used_at.is_(None)
            )
        )
        if unused is None:
            await self.accounts.failure(Action.MFA_FAILED, target=("user", user.id), reason="wrong code")
            raise Invalid(INVALID_CODE, fields={"code": INVALID_CODE})
        unused.used_at = self.ctx.clock.now()
        await record(
            self.ctx, Action.RECOVERY_CODE_USED, actor=Actor.user(user.id, user.email), target=("user", user.id)
        )

    async def disable(self, user: User, *, password: str, code: str) -> None:
        """Turn two-factor sign-in off: needs the password and a current code (or recovery code)."""
        if not passwords.verify_password(user.password_hash, password):
            await self.accounts.failure(Action.MFA_DISABLED, target=("user", user.id), reason="wrong password")
            message = "The password is not correct."
            raise Invalid(message, fields={"password": message})
        await self.verify(user, code)
        user.totp_secret = user.totp_pending = None
        user.totp_enabled_at = user.totp_last_step = None
        await self.ctx.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        await record(self.ctx, Action.MFA_DISABLED, target=("user", user.id))
        await self.accounts.queue_mail(
            user.email,
            "mfa_disabled",
            category=SECURITY_MAIL,
            user_id=user.id,
            name=user.display_name,
            changed_at=self.ctx.clock.now(),
            action_url=f"{self.accounts.site_url}/account/security",
        )

    async def remaining_recovery_codes(self, user: User) -> int:
        rows = await self.ctx.session.scalars(
            select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        return len(rows.all())

    def _totp_step(self, secret: str, code: str, *, last: int | None) -> int | None:
        """The time step ``code`` belongs to (now, or one step either side), when newer than ``last``."""
        digits = code.replace(" ", "").strip()
        if len(digits) != 6 or not digits.isdigit():
            return None
        totp = pyotp.TOTP(secret)
        now = self.ctx.clock.now()
        current = totp.timecode(now)
        for step in (current, current - 1, current + 1):
            if secrets.compare_digest(totp.generate_otp(step), digits) and (last is None or step > last):
                return step
        return None
