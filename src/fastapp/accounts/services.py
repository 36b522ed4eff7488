"""Account rules: sign-up, email verification, sign-in, password reset and change, email change,
roles. Sessions and tokens live in ``sessions.py``.

No enumeration: sign-up, sign-in and reset answer the same way and do the same hashing work
whether or not the address has an account. Mail is queued with the email service
(``notifications.queue_email``) in the same transaction, so a rolled-back sign-up sends nothing.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

import structlog
from sqlalchemy import delete, func, select

from fastapp.accounts import passwords
from fastapp.accounts.local_cache import INVALIDATE_CHANNEL, LocalPrincipals
from fastapp.accounts.models import AuthSession, Role, RolePermission, User, UserRole, UserStatus
from fastapp.accounts.policy import BUILT_IN_ROLES, DEFAULT_ROLE, OWNER_ROLE, PERMISSIONS, can_grant
from fastapp.accounts.tokens import EmailLinks
from fastapp.audit import Action, Actor, record
from fastapp.config import AuthSettings
from fastapp.notifications import notify, queue_email
from fastapp.platform.cache import Cache
from fastapp.platform.context import Context
from fastapp.platform.errors import Conflict, Invalid, NotFound, PermissionDenied, RateLimited
from fastapp.platform.ratelimit import RateLimits

log = structlog.get_logger("fastapp.accounts")
VERIFY = "verify-email"
SECOND_STEP = "sign-in-second-factor"
SECOND_STEP_MINUTES = 5
RESET = "reset-password"
SIGN_IN_FAILED = "The email or password is not correct."


class SessionStarter(Protocol):
    async def is_unfamiliar_device(self, user: User) -> bool: ...

    async def start(self, user: User, *, kind: str, remember: bool = False) -> tuple[AuthSession, str]: ...


def email_key(email: str) -> str:
    return email.strip().lower()


def normalise_email(email: str) -> str:
    email = email.strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > 320 or any(c.isspace() for c in email):
        raise Invalid("Enter a valid email address.", fields={"email": "Enter a valid email address."})
    return f"{local}@{domain.lower()}"


#: Email categories of identity mail; both are mandatory (no unsubscribe, never tracked).
SECURITY_MAIL = "security"
ACCOUNT_MAIL = "account"
#: In-app notification kinds of this domain (declared in ``accounts.register``).
ROLE_GRANTED = "account.role_granted"
PASSWORD_CHANGED_NOTICE = "security.password_changed"  # noqa: S105 - a kind's name, not a secret
FAILURE_NOTICE_AFTER = 5  # failed sign-ins on one account within an hour before its owner is told


class AccountDeactivated(PermissionDenied):
    """The password was right but the account is deactivated by its owner."""

    problem_type = "account-deactivated"
    title = "Account deactivated"


class AccountDeletionPending(PermissionDenied):
    """The password was right but the account awaits its erasure (the grace period runs)."""

    problem_type = "account-deletion-pending"
    title = "Account deletion pending"


#: A signed proof that the password (and second factor) of an account awaiting erasure was just
#: given, for the "cancel the deletion" offer at sign-in (``registry.cancel_erasure_path``).
CANCEL_ERASURE = "cancel-erasure"
CANCEL_ERASURE_MINUTES = 10


@dataclass
class AccountService:
    ctx: Context
    settings: AuthSettings
    links: EmailLinks
    site_url: str
    limits: RateLimits
    cache: Cache
    local: LocalPrincipals | None = None

    # -- look-ups ---------------------------------------------------------------------------

    async def find_by_email(self, email: str) -> User | None:
        return await self.ctx.session.scalar(select(User).where(User.email_key == email_key(email)))

    async def get_user(self, user_id: uuid.UUID) -> User:
        user = await self.ctx.session.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        return user

    # -- sign-up and verification -----------------------------------------------------------

    async def register(
        self, *, email: str, password: str, display_name: str, answers: Mapping[str, Any] | None = None
    ) -> User | None:
        """Create a pending account and mail its verification link.

        Returns None when the address already has an account: that owner is told by mail
        instead, and the caller answers exactly as for a new account. ``answers`` (the form's
        or request's other fields) go to each ``registry.sign_up_hooks``: every ``check`` runs
        before anything is written, a taken address included, and its refusals are reported with
        the account fields' own; ``created`` runs once the new user exists, in this transaction.
        """
        answers = {**(answers or {}), "email": email, "display_name": display_name}
        hooks = self.ctx.runtime.registry.sign_up_hooks if self.ctx.runtime is not None else []
        refused: dict[str, str] = {}
        for hook in hooks:
            if hook.check is not None:
                try:
                    await hook.check(self.ctx, answers)
                except Invalid as exc:
                    refused.update(exc.fields or {"answers": exc.detail})
        try:
            email = normalise_email(email)
            await self.limits["signup.ip"].hit(self.ctx.ip or "unknown")
            display_name = display_name.strip()
            if not 1 <= len(display_name) <= 100:
                raise Invalid("Enter a name of 1 to 100 characters.", fields={"display_name": "Enter your name."})
            passwords.check_policy(password, user_inputs=[email, display_name])
        except Invalid as exc:
            if not refused:
                raise
            raise Invalid(exc.detail, fields={**refused, **exc.fields}) from exc
        if refused:
            raise Invalid(next(iter(refused.values())), fields=refused)
        existing = await self.find_by_email(email)
        if existing is not None:
            passwords.verify_dummy(password)  # the same work as hashing a new password
            await record(
                self.ctx,
                Action.SIGNED_UP,
                outcome="failure",
                target=("user", existing.id),
                data={"reason": "email already registered"},
                personal={"email": email},
            )
            await self.queue_mail(
                existing.email,
                "account_exists",
                category=SECURITY_MAIL,
                user_id=existing.id,
                name=existing.display_name,
                action_url=f"{self.site_url}/password/forgot",
            )
            return None
        user = await self._new_user(email, password, display_name, verified=False)
        await self._grant(user, DEFAULT_ROLE)
        for hook in hooks:
            if hook.created is not None:
                await hook.created(self.ctx, user.id, answers)
        await self._send_verification(user)
        await record(self.ctx, Action.SIGNED_UP, actor=Actor.user(user.id, email), target=("user", user.id))
        return user

    async def _new_user(self, email: str, password: str, display_name: str, *, verified: bool) -> User:
        """Insert a user (pending until verified, or active and verified) with a fresh hash."""
        now = self.ctx.clock.now()
        user = User(
            id=uuid.uuid4(),
            email=email,
            email_key=email_key(email),
            display_name=display_name,
            password_hash=passwords.hash_password(password),
            status=(UserStatus.active if verified else UserStatus.pending).value,
            email_verified_at=now if verified else None,
            password_changed_at=now,
            created_at=now,
        )
        self.ctx.session.add(user)
        await self.ctx.session.flush()
        return user

    def _fingerprint(self, user: User) -> str:
        verified = user.email_verified_at.isoformat() if user.email_verified_at else ""
        return EmailLinks.fingerprint(user.email_key, verified, user.password_hash)

    async def _send_verification(self, user: User, email: str | None = None) -> None:
        address = email or user.email
        token = self.links.make(VERIFY, user.id, self._fingerprint(user) + ":" + email_key(address))
        await self.queue_mail(
            address,
            "verify_email",
            category=ACCOUNT_MAIL,
            user_id=user.id,
            name=user.display_name,
            email=address,
            action_url=f"{self.site_url}/verify-email?token={token}",
            expires_in=f"{self.settings.verify_link_hours} hours",
        )

    async def resend_verification(self, user: User) -> None:
        if user.email_verified_at is None:
            await self._limit_mail(user.email)
            await self._send_verification(user)

    async def _limit_mail(self, address: str) -> None:
        """Mail on request is limited per client address and per recipient."""
        await self.limits["mail.ip"].hit(self.ctx.ip or "unknown")
        await self.limits["mail.address"].hit(email_key(address))

    async def verify_email(self, token: str) -> User:
        """Mark the address in the link as verified (and make it the account's address when the
        link was for a new one). Raises ``Invalid`` for a used, expired or forged link."""
        user_id, mark = self.links.read(token, VERIFY, max_age=timedelta(hours=self.settings.verify_link_hours))
        fingerprint, _, address = mark.rpartition(":")
        user = await self.ctx.session.get(User, user_id)
        if user is None or fingerprint != self._fingerprint(user):
            raise Invalid("This link has already been used or is no longer valid.")
        changed_from: str | None = None
        if address != user.email_key:  # a change of address being confirmed
            if await self.find_by_email(address) is not None:
                raise Conflict("That address now belongs to another account.")
            old = changed_from = user.email
            user.email, user.email_key = address, address
            await self.queue_mail(
                old,
                "email_changed",
                category=SECURITY_MAIL,
                user_id=user.id,
                name=user.display_name,
                old_email=old,
                new_email=address,
                changed_at=self.ctx.clock.now(),
                action_url=f"{self.site_url}/password/forgot",
            )
        user.email_verified_at = self.ctx.clock.now()
        if user.status == UserStatus.pending.value:
            user.status = UserStatus.active.value
        await record(
            self.ctx,
            Action.EMAIL_CHANGED if changed_from else Action.EMAIL_VERIFIED,
            actor=Actor.user(user.id, user.email),
            target=("user", user.id),
            personal={"old": changed_from, "new": user.email} if changed_from else None,
        )
        return user

    # -- sign-in ------------------------------------------------------------------------------

    async def authenticate(self, *, email: str, password: str) -> User:
        """The user whose password this is; ``Invalid`` with one message for every failure.

        Failures count against the client address and the (address, account) pair; past their
        limits every attempt is refused with ``RateLimited`` before any password is checked. An
        account is never locked: other clients can still sign in to it. Its owner is mailed once
        when failures pile up.
        """
        key, ip = email_key(email), self.ctx.ip or "unknown"
        await self._refuse_when_limited(("login.ip", (ip,)), ("login.account", (key, ip)))
        user = await self.find_by_email(email) if "@" in email else None
        if user is None or user.status == UserStatus.erased.value:
            passwords.verify_dummy(password)
            await self._count_failure(key, ip, None, typed=email, reason="unknown email")
            raise Invalid(SIGN_IN_FAILED, fields={"password": SIGN_IN_FAILED})
        if not passwords.verify_password(user.password_hash, password):
            await self._count_failure(key, ip, user, typed=email, reason="wrong password")
            raise Invalid(SIGN_IN_FAILED, fields={"password": SIGN_IN_FAILED})
        await self.limits["login.account"].clear(key, ip)
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        return user

    async def _refuse_when_limited(self, *checks: tuple[str, tuple[str, ...]]) -> None:
        for name, identifiers in checks:
            limiter = self.limits[name]
            if not await limiter.test(*identifiers):
                status = await limiter.status(*identifiers)
                raise RateLimited(
                    "Too many sign-in attempts. Wait a little and try again.",
                    resets_in=status.reset if status else 60,
                )

    async def _count_failure(self, key: str, ip: str, user: User | None, *, typed: str, reason: str) -> None:
        """Count a failed sign-in against its limits and record it (the attempt's transaction
        rolls back, the record stays). The attempt that crosses a limit is recorded as its trip."""
        target = ("user", user.id) if user is not None else None
        await self.failure(Action.SIGN_IN_FAILED, target=target, reason=reason, personal={"email": typed})
        for name, identifiers in (("login.ip", (ip,)), ("login.account", (key, ip))):
            limiter = self.limits[name]
            with contextlib.suppress(RateLimited):  # this attempt gets its answer; the next is refused
                await limiter.hit(*identifiers)
            if not await limiter.test(*identifiers):  # this failure used up the limit: the trip
                await self.failure(Action.SIGN_IN_RATE_LIMITED, target=target, reason=name, personal={"email": typed})
        if user is not None:
            failures = await self.cache.incr(f"sign-in-failures:{user.id}", ttl=3600)
            if failures == FAILURE_NOTICE_AFTER:
                # The failed attempt rolls its transaction back; the notice is queued all the same.
                await self.queue_mail(
                    user.email,
                    "sign_in_failures",
                    category=SECURITY_MAIL,
                    user_id=user.id,
                    keep_on_rollback=True,
                    name=user.display_name,
                    attempts=failures,
                    since=self.ctx.clock.now() - timedelta(hours=1),
                    ip=ip,
                    action_url=f"{self.site_url}/password/forgot",
                )

    async def failure(
        self,
        action: Action,
        *,
        reason: str,
        target: tuple[str, object] | None = None,
        personal: dict[str, Any] | None = None,
    ) -> None:
        """Record a refusal; it stays recorded when the refused request rolls back."""
        await record(
            self.ctx,
            action,
            outcome="failure",
            target=target,
            data={"reason": reason},
            personal=personal,
            keep_on_rollback=True,
        )

    def second_step_token(self, user: User) -> str:
        """A signed, 5-minute proof that the password step passed, for the second-factor form."""
        return self.links.make(SECOND_STEP, user.id, self._fingerprint(user))

    def required_reset_token(self, user: User) -> str | None:
        """When an administrator required a new password (issue #7): a reset-link token for the
        user who just proved their password, to choose one before any session starts; else None."""
        if not user.password_reset_required:
            return None
        return self.links.make(RESET, user.id, self._fingerprint(user))

    def erasure_cancel_token(self, user: User) -> str:
        """A signed, 10-minute proof that the owner of an account awaiting erasure just signed in
        (password, and second factor when on): the sign-in page's offer to cancel the deletion."""
        return self.links.make(CANCEL_ERASURE, user.id, self._cancel_fingerprint(user))

    async def user_from_erasure_cancel_token(self, token: str) -> User:
        """The user an ``erasure_cancel_token`` was issued for, still awaiting erasure;
        ``Invalid`` when the token expired, was forged or was already used (the status changed)."""
        user_id, fingerprint = self.links.read(token, CANCEL_ERASURE, max_age=timedelta(minutes=CANCEL_ERASURE_MINUTES))
        user = await self.ctx.session.get(User, user_id)
        if user is None or fingerprint != self._cancel_fingerprint(user):
            raise Invalid("This link has expired. Sign in again to cancel the deletion.")
        return user

    def _cancel_fingerprint(self, user: User) -> str:
        # Stale once the status or password changes: a token cancels at most once.
        return EmailLinks.fingerprint(user.status, self._fingerprint(user))

    async def user_from_second_step(self, token: str) -> User:
        """The user a second-step token was issued for; ``Invalid`` when expired or stale."""
        user_id, fingerprint = self.links.read(token, SECOND_STEP, max_age=timedelta(minutes=SECOND_STEP_MINUTES))
        user = await self.ctx.session.get(User, user_id)
        if user is None or fingerprint != self._fingerprint(user):
            raise Invalid("This sign-in has expired. Start again.")
        return user

    async def start_session(
        self, user: User, sessions: SessionStarter, *, kind: str, remember: bool = False
    ) -> tuple[AuthSession, str]:
        """Open a session for a user who just proved who they are; tell them by mail when it is
        from a device they have not used before. ``AccountDeactivated`` for a deactivated account
        (the sign-in page offers reactivation instead), ``AccountDeletionPending`` for one awaiting
        erasure (the sign-in page offers to cancel it)."""
        if user.status == UserStatus.deactivated.value:
            raise AccountDeactivated("This account is deactivated. Sign in on the website to reactivate it.")
        if user.status == UserStatus.deletion_requested.value:
            raise AccountDeletionPending(
                "This account is scheduled for deletion. Sign in on the website to cancel the deletion."
            )
        unfamiliar = await sessions.is_unfamiliar_device(user)
        session, token = await sessions.start(user, kind=kind, remember=remember)
        await record(
            self.ctx,
            Action.SIGN_IN_SUCCEEDED,
            actor=Actor.user(user.id, user.email),
            target=("session", session.id),
            data={"kind": kind, "remember": remember, "new_device": unfamiliar, "device": session.device},
        )
        if unfamiliar:
            await self.queue_mail(
                user.email,
                "new_sign_in",
                category=SECURITY_MAIL,
                user_id=user.id,
                name=user.display_name,
                device=session.device,
                ip=session.ip or "unknown",
                signed_in_at=session.created_at,
                action_url=f"{self.site_url}/account/security",
            )
        return session, token

    # -- passwords ------------------------------------------------------------------------------

    async def request_password_reset(self, email: str) -> None:
        """Mail a reset link when the address has an account; silent otherwise."""
        await self._limit_mail(email)
        user = await self.find_by_email(email) if "@" in email else None
        if user is None or user.status == UserStatus.erased.value:
            await record(
                self.ctx,
                Action.PASSWORD_RESET_REQUESTED,
                outcome="failure",
                data={"reason": "unknown email"},
                personal={"email": email},
            )
            return
        await record(self.ctx, Action.PASSWORD_RESET_REQUESTED, target=("user", user.id))
        token = self.links.make(RESET, user.id, self._fingerprint(user))
        await self.queue_mail(
            user.email,
            "reset_password",
            category=ACCOUNT_MAIL,
            user_id=user.id,
            name=user.display_name,
            action_url=f"{self.site_url}/password/reset?token={token}",
            expires_in=f"{self.settings.reset_link_minutes} minutes",
        )

    async def reset_password(self, token: str, new_password: str) -> User:
        """Set a new password from a reset link; the link then stops working (the caller ends
        every session of the user)."""
        user_id, fingerprint = self.links.read(
            token, RESET, max_age=timedelta(minutes=self.settings.reset_link_minutes)
        )
        user = await self.ctx.session.get(User, user_id)
        if user is None or fingerprint != self._fingerprint(user):
            raise Invalid("This link has already been used or is no longer valid. Ask for a new one.")
        await self._set_password(user, new_password)
        if user.email_verified_at is None:  # the link proved control of the address
            user.email_verified_at = self.ctx.clock.now()
            user.status = UserStatus.active.value
        await record(self.ctx, Action.PASSWORD_RESET, actor=Actor.user(user.id, user.email), target=("user", user.id))
        return user

    async def change_password(self, user: User, *, current: str, new: str) -> None:
        if not passwords.verify_password(user.password_hash, current):
            await self.failure(Action.PASSWORD_CHANGED, target=("user", user.id), reason="wrong current password")
            message = "The current password is not correct."
            raise Invalid(message, fields={"current_password": message})
        await self._set_password(user, new, field="new_password")
        await record(self.ctx, Action.PASSWORD_CHANGED, target=("user", user.id))

    async def _set_password(self, user: User, password: str, *, field: str = "password") -> None:
        passwords.check_policy(password, user_inputs=[user.email, user.display_name], field=field)
        user.password_hash = passwords.hash_password(password)
        user.password_changed_at = self.ctx.clock.now()
        user.password_reset_required = False  # a new password satisfies an administrator's demand
        await self.queue_mail(
            user.email,
            "password_changed",
            category=SECURITY_MAIL,
            user_id=user.id,
            name=user.display_name,
            changed_at=self.ctx.clock.now(),
            action_url=f"{self.site_url}/password/forgot",
        )
        await notify(self.ctx, [user.id], PASSWORD_CHANGED_NOTICE, {})

    async def request_email_change(self, user: User, new_email: str) -> None:
        """Mail a confirmation link to the new address; the account keeps the old one until then."""
        new_email = normalise_email(new_email)
        if email_key(new_email) == user.email_key:
            raise Invalid("That is already your address.", fields={"email": "That is already your address."})
        if await self.find_by_email(new_email) is not None:
            passwords.verify_dummy(new_email)  # the same answer and time as for a free address
            await record(
                self.ctx,
                Action.EMAIL_CHANGE_REQUESTED,
                outcome="failure",
                target=("user", user.id),
                data={"reason": "address in use"},
                personal={"new": new_email},
            )
            return
        await self._send_verification(user, new_email)
        await record(self.ctx, Action.EMAIL_CHANGE_REQUESTED, target=("user", user.id), personal={"new": new_email})

    # -- roles ----------------------------------------------------------------------------------

    async def permissions_of(self, user: User) -> frozenset[str]:
        return await permissions_of(self.ctx, user.id)

    async def _grant(self, user: User, role_name: str) -> None:
        role = await self.ctx.session.scalar(select(Role).where(Role.name == role_name))
        if role is None:
            raise NotFound(f"No role named {role_name!r}.")
        self.ctx.session.add(UserRole(user_id=user.id, role_id=role.id))
        await self.ctx.session.flush()

    async def set_role(self, user: User, role_name: str, *, granter: frozenset[str] | None) -> None:
        """Give ``user`` exactly one role. ``granter`` is the acting user's permissions (None for
        the command line, which acts as the operator). The last owner keeps the owner role."""
        role = await self.ctx.session.scalar(select(Role).where(Role.name == role_name))
        if role is None:
            raise NotFound(f"No role named {role_name!r}.")
        role_permissions = await role_permissions_of(self.ctx, role.id)
        if granter is not None and not can_grant(granter, role_permissions):
            raise PermissionDenied("You cannot grant a role with permissions you do not hold.")
        owner = await self.ctx.session.scalar(select(Role).where(Role.name == OWNER_ROLE))
        current = {r.name for r in user.roles}
        if current == {role_name}:
            return  # already so: nothing changes, nothing to record
        if OWNER_ROLE in current and role_name != OWNER_ROLE and owner is not None:
            owners = await self.ctx.session.scalar(
                select(func.count()).select_from(UserRole).where(UserRole.role_id == owner.id)
            )
            if (owners or 0) <= 1:
                raise Conflict("This is the last owner: make someone else an owner first.")
        await self.ctx.session.execute(delete(UserRole).where(UserRole.user_id == user.id))
        self.ctx.session.add(UserRole(user_id=user.id, role_id=role.id))
        await self.ctx.session.flush()
        await self.ctx.session.refresh(user, ["roles"])
        await record(
            self.ctx,
            Action.USER_ROLE_CHANGED,
            actor=None if self.ctx.principal else Actor.system("cli"),
            target=("user", user.id),
            data={"before": sorted(current), "after": [role_name]},
        )
        await forget_principals(self.ctx, self.cache, user.id, self.local)
        by = (self.ctx.principal.display_name if self.ctx.principal else "") or "An administrator"
        await notify(self.ctx, [user.id], ROLE_GRANTED, {"role": role_name, "by": by})

    async def list_roles(self) -> list[tuple[Role, frozenset[str]]]:
        """Every role with its effective permissions (its own and those of the roles below it)."""
        roles = (await self.ctx.session.scalars(select(Role).order_by(Role.name))).all()
        return [(role, await role_permissions_of(self.ctx, role.id)) for role in roles]

    async def role_members(self) -> dict[uuid.UUID, int]:
        """How many users hold each role (roles nobody holds are absent)."""
        rows = await self.ctx.session.execute(select(UserRole.role_id, func.count()).group_by(UserRole.role_id))
        return {role_id: int(count) for role_id, count in rows.all()}

    async def set_role_by_email(self, email: str, role_name: str, *, granter: frozenset[str]) -> User:
        """``set_role`` for the account with ``email`` (the admin page's form)."""
        user = await self.find_by_email(email)
        if user is None:
            message = "No account uses that email address."
            raise NotFound(message, fields={"email": message})
        await self.set_role(user, role_name, granter=granter)
        return user

    async def create_role(
        self, *, name: str, description: str, parent: str | None, permissions: set[str], granter: frozenset[str]
    ) -> Role:
        """A custom role extending ``parent``; it may hold only permissions the creator holds."""
        name = name.strip().lower()
        if not name.replace("-", "").replace("_", "").isalnum() or not 2 <= len(name) <= 64:
            message = "Use 2 to 64 letters, digits, - or _."
            raise Invalid(message, fields={"name": message})
        unknown = permissions - set(PERMISSIONS)
        if unknown:
            message = "Unknown permissions: " + ", ".join(sorted(unknown))
            raise Invalid(message, fields={"permissions": message})
        if await self.ctx.session.scalar(select(Role.id).where(Role.name == name)) is not None:
            raise Conflict("A role with that name exists.", fields={"name": "Already taken."})
        parent_role = None
        if parent is not None:
            parent_role = await self.ctx.session.scalar(select(Role).where(Role.name == parent))
            if parent_role is None:
                raise NotFound(f"No role named {parent!r}.")
        effective = set(permissions) | (await role_permissions_of(self.ctx, parent_role.id) if parent_role else set())
        if not can_grant(granter, frozenset(effective)):
            raise PermissionDenied("A role cannot hold permissions you do not hold yourself.")
        role = Role(
            id=uuid.uuid4(),
            name=name,
            description=description.strip()[:255],
            parent_id=parent_role.id if parent_role else None,
            built_in=False,
        )
        role.permissions = [RolePermission(permission=p) for p in sorted(permissions)]
        self.ctx.session.add(role)
        await self.ctx.session.flush()
        await record(
            self.ctx,
            Action.ROLE_CREATED,
            target=("role", role.id),
            data={"name": name, "parent": parent, "permissions": sorted(permissions)},
        )
        return role

    async def create_owner(self, *, email: str, password: str, display_name: str) -> User:
        """An active, verified owner (the command line's ``users create-admin``)."""
        email = normalise_email(email)
        if await self.find_by_email(email) is not None:
            raise Conflict("An account with that email already exists.", fields={"email": "Already registered."})
        passwords.check_policy(password, user_inputs=[email, display_name])
        user = await self._new_user(email, password, display_name, verified=True)
        await self._grant(user, OWNER_ROLE)
        await self.ctx.session.refresh(user, ["roles"])
        await record(
            self.ctx,
            Action.USER_CREATED,
            actor=None if self.ctx.principal else Actor.system("cli"),
            target=("user", user.id),
            data={"role": OWNER_ROLE},
        )
        return user

    async def queue_mail(
        self,
        to: str,
        template: str,
        *,
        category: str,
        user_id: uuid.UUID | None,
        keep_on_rollback: bool = False,
        **context: Any,
    ) -> None:
        """Queue a mandatory mail with the email service: it leaves only if this transaction
        commits (or, with ``keep_on_rollback``, also when it rolls back), a failed send is
        retried, and its delivery is tracked. ``category`` is ``SECURITY_MAIL`` or ``ACCOUNT_MAIL``."""
        await queue_email(
            self.ctx,
            to=to,
            template=template,
            category=category,
            mandatory=True,
            context=context,
            user_id=user_id,
            message_domain=urlsplit(self.site_url).hostname or "fastapp.invalid",
            keep_on_rollback=keep_on_rollback,
        )


async def role_permissions_of(ctx: Context, role_id: uuid.UUID) -> frozenset[str]:
    """A role's own permissions and those of every role below it."""
    found: set[str] = set()
    seen: set[uuid.UUID] = set()
    current: uuid.UUID | None = role_id
    while current is not None and current not in seen:
        seen.add(current)
        role = await ctx.session.get(Role, current)
        if role is None:
            break
        found.update(p.permission for p in role.permissions)
        current = role.parent_id
    return frozenset(found)


async def permissions_of(ctx: Context, user_id: uuid.UUID) -> frozenset[str]:
    role_ids = (await ctx.session.scalars(select(UserRole.role_id).where(UserRole.user_id == user_id))).all()
    found: set[str] = set()
    for role_id in role_ids:
        found |= await role_permissions_of(ctx, role_id)
    return frozenset(found)


async def is_last_owner(ctx: Context, user_id: uuid.UUID) -> bool:
    """Whether the user holds the owner role and no other active account does (the last owner
    may not leave: ownership must move first)."""
    owner = await ctx.session.scalar(select(Role.id).where(Role.name == OWNER_ROLE))
    mine = select(UserRole.user_id).where(UserRole.role_id == owner, UserRole.user_id == user_id)
    if owner is None or await ctx.session.scalar(mine) is None:
        return False
    others = await ctx.session.scalar(
        select(func.count())
        .select_from(UserRole)
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role_id == owner, UserRole.user_id != user_id, User.status == UserStatus.active.value)
    )
    return not others


async def sync_built_in_roles(session: Any) -> None:
    """Create or update the built-in roles so each holds exactly its declared permissions."""
    parent: Role | None = None
    for name, description, permissions in reversed(BUILT_IN_ROLES):
        role = await session.scalar(select(Role).where(Role.name == name))
        if role is None:
            role = Role(id=uuid.uuid4(), name=name, description=description, built_in=True)
            session.add(role)
        role.description, role.parent_id, role.built_in = description, parent.id if parent else None, True
        have = {p.permission for p in role.permissions}
        for permission in permissions - have:
            role.permissions.append(RolePermission(permission=permission))
        for link in [p for p in role.permissions if p.permission not in permissions]:
            role.permissions.remove(link)
        await session.flush()
        parent = role


def principal_key(session_id: uuid.UUID) -> str:
    """Cache key of a session's resolved principal."""
    return f"session:{session_id}"


async def forget_principals(
    ctx: Context, cache: Cache, user_id: uuid.UUID, local: LocalPrincipals | None = None
) -> None:
    """Drop the cached principals of every session of a user, so a change of roles, status or
    verification applies on their very next request."""
    ids = (
        await ctx.session.scalars(
            select(AuthSession.id).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        )
    ).all()
    for session_id in ids:
        await drop_principal(cache, session_id, local)


async def drop_principal(cache: Cache, session_id: uuid.UUID, local: LocalPrincipals | None = None) -> None:
    """Forget a session's cached principal: in the shared cache, in this process at once, and in
    every other process through pub/sub."""
    await cache.delete(principal_key(session_id))
    if local is not None:
        local.drop(session_id)
    await cache.publish(INVALIDATE_CHANNEL, str(session_id).encode())
