"""The right to be forgotten: requesting an erasure, the grace period, cancelling it at sign-in,
legal holds, and the erasure itself.

A request locks the account at once (status ``deletion_requested``: every session and token
ends, nothing authenticates) and schedules the erasure ``FASTAPP_PRIVACY_ERASURE_GRACE_DAYS``
later. Until then the owner may sign in and cancel it. A sweep (``tasks.py``) mails a reminder
``FASTAPP_PRIVACY_ERASURE_REMINDER_DAYS`` before and enqueues the erasure once due; an
administrator may process a request at once or place a legal hold that pauses it. A held
request is never erased, not even when due.

Each change happens in the caller's one transaction (the request, its audit event and its mail
commit together or not at all).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from fastapp.accounts import wiring
from fastapp.accounts.models import User, UserStatus
from fastapp.accounts.services import ACCOUNT_MAIL, email_key, is_last_owner
from fastapp.audit import Action, Actor, record
from fastapp.platform.context import Context, Principal, Runtime
from fastapp.platform.errors import Conflict, Invalid, NotFound, PermissionDenied
from fastapp.platform.jobs import enqueue
from fastapp.privacy.models import ErasureRequest, ErasureStatus

MANAGE = "privacy:manage"
RUN_JOB = "privacy.erasure.run"
SWEEP_JOB = "privacy.erasure.sweep"
#: Mail templates (``platform/mail_templates``).
SCHEDULED_MAIL = "erasure_scheduled"
REMINDER_MAIL = "erasure_reminder"
COMPLETED_MAIL = "erasure_completed"
CONFIRM_MISMATCH = "Type the email address of your account exactly as shown."
LAST_OWNER = "You are the last owner of this site: make someone else an owner before deleting your account."
PAGE_SIZE = 50
#: How many requests one sweep looks at per step (the next sweep takes the rest).
SWEEP_BATCH = 500


@dataclass(frozen=True)
class Pending:
    """A request awaiting erasure, as administrators see it (``held`` when a legal hold is on)."""

    request: ErasureRequest
    email: str
    display_name: str

    @property
    def held(self) -> bool:
        return is_held(self.request)


def is_held(request: ErasureRequest) -> bool:
    """A legal hold is on while its reason is set. ``held_at``/``held_by`` keep the latest hold
    after its release, so each hold ends with a new run key (``run_key``)."""
    return request.hold_reason is not None


def run_key(request: ErasureRequest) -> str:
    """The idempotency key of the erasure job for the request as it stands: one job per due date
    and hold, so sweeps never queue it twice, yet processing now or releasing a hold queues anew."""
    held = request.held_at.isoformat() if request.held_at else "-"
    return f"{RUN_JOB}:{request.id}:{request.due_at.isoformat()}:{held}"


class ErasureService:
    """Erasure requests of users and their handling by administrators. The caller owns the
    transaction; administrator methods check ``privacy:manage`` themselves."""

    def __init__(self, runtime: Runtime, ctx: Context) -> None:
        self.runtime, self.ctx = runtime, ctx
        self.accounts = wiring.accounts(runtime, ctx)

    # -- the user's side ----------------------------------------------------------------------

    async def current(self, user_id: uuid.UUID) -> ErasureRequest | None:
        """The user's newest request, or None when they never asked."""
        found = await self.ctx.session.scalars(
            select(ErasureRequest)
            .where(ErasureRequest.user_id == user_id)
            .order_by(ErasureRequest.requested_at.desc(), ErasureRequest.id)
            .limit(1)
        )
        return found.first()

    async def request(self, principal: Principal, *, confirmation: str) -> ErasureRequest:
        """Schedule the erasure of the principal's own account and lock it now. The caller checks
        the recent sign-in. ``Invalid`` (field ``confirm``) unless ``confirmation`` is the
        account's address; ``Conflict`` for the last owner or an account not in use."""
        user = await self.accounts.get_user(principal.user_id)
        if user.status not in {UserStatus.active.value, UserStatus.pending.value}:
            raise Conflict("This account cannot be deleted now.")
        if email_key(confirmation) != user.email_key:
            raise Invalid(CONFIRM_MISMATCH, fields={"confirm": CONFIRM_MISMATCH})
        if await is_last_owner(self.ctx, user.id):
            raise Conflict(LAST_OWNER, fields={"confirm": LAST_OWNER})
        now = self.ctx.clock.now()
        before = user.status
        user.status = UserStatus.deletion_requested.value
        sessions = wiring.sessions(self.runtime, self.ctx)
        ended = await sessions.end_all(user.id, reason="account deletion requested")
        tokens = wiring.personal_tokens(self.runtime, self.ctx)
        revoked = 0
        for token in await tokens.active(user.id):
            await tokens.revoke(user.id, token.id)
            revoked += 1
        await sessions.invalidate_user(user.id)
        request = ErasureRequest(
            id=uuid.uuid4(),
            user_id=user.id,
            status=ErasureStatus.scheduled.value,
            requested_at=now,
            due_at=now + timedelta(days=self.runtime.config.privacy.erasure_grace_days),
        )
        self.ctx.session.add(request)
        await self.ctx.session.flush()
        await record(
            self.ctx,
            Action.PRIVACY_ERASURE_REQUESTED,
            target=("user", user.id),
            data={
                "request": str(request.id),
                "due_at": request.due_at.isoformat(),
                "before": {"status": before},
                "after": {"status": user.status},
                "sessions_ended": ended,
                "tokens_revoked": revoked,
            },
        )
        await self.accounts.queue_mail(
            user.email,
            SCHEDULED_MAIL,
            category=ACCOUNT_MAIL,
            user_id=user.id,
            name=user.display_name,
            due_at=request.due_at,
            requested_at=now,
            action_url=f"{self.accounts.site_url}/sign-in",
        )
        return request

    async def cancel(self, token: str) -> User:
        """Cancel the erasure an ``erasure_cancel_token`` (from the sign-in page) was issued for:
        the account is in use again and the request ``cancelled``. ``Invalid`` for a stale token."""
        user = await self.accounts.user_from_erasure_cancel_token(token)
        request = await self.current(user.id)
        now = self.ctx.clock.now()
        user.status = (UserStatus.active if user.email_verified_at else UserStatus.pending).value
        if request is not None and request.status == ErasureStatus.scheduled.value:
            request.status = ErasureStatus.cancelled.value
            request.cancelled_at = now
        await record(
            self.ctx,
            Action.PRIVACY_ERASURE_CANCELLED,
            actor=Actor.user(user.id, user.email),
            target=("user", user.id),
            data={
                "request": str(request.id) if request else None,
                "before": {"status": UserStatus.deletion_requested.value},
                "after": {"status": user.status},
            },
        )
        await self.ctx.session.flush()
        return user

    # -- administrators -----------------------------------------------------------------------

    def require_admin(self) -> Principal:
        """The acting administrator; ``PermissionDenied`` without ``privacy:manage``."""
        principal = self.ctx.principal
        if principal is None or not principal.can(MANAGE):
            raise PermissionDenied("You do not have permission to manage erasures.")
        return principal

    async def pending(self, *, page: int = 1) -> tuple[list[Pending], int]:
        """One page of scheduled requests (held ones included), soonest first, and how many
        pages there are."""
        self.require_admin()
        scheduled = ErasureRequest.status == ErasureStatus.scheduled.value
        total = int(await self.ctx.session.scalar(select(func.count()).where(scheduled)) or 0)
        rows = await self.ctx.session.execute(
            select(ErasureRequest, User.email, User.display_name)
            .join(User, User.id == ErasureRequest.user_id)
            .where(scheduled)
            .order_by(ErasureRequest.due_at, ErasureRequest.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
        found = [Pending(request, email, name) for request, email, name in rows.all()]
        return found, max(1, -(-total // PAGE_SIZE))

    async def get_pending(self, request_id: uuid.UUID) -> Pending:
        """A scheduled request (``NotFound`` for any other); checks the permission."""
        self.require_admin()
        row = (
            await self.ctx.session.execute(
                select(ErasureRequest, User.email, User.display_name)
                .join(User, User.id == ErasureRequest.user_id)
                .where(ErasureRequest.id == request_id, ErasureRequest.status == ErasureStatus.scheduled.value)
            )
        ).first()
        if row is None:
            raise NotFound("No pending erasure request with that id.")
        return Pending(row[0], row[1], row[2])

    async def hold(self, request_id: uuid.UUID, reason: str) -> ErasureRequest:
        """Place a legal hold: the erasure waits, even when due, until released."""
        principal = self.require_admin()
        reason = " ".join(reason.split())
        if not 3 <= len(reason) <= 500:
            message = "Give the reason for the hold (3 to 500 characters)."
            raise Invalid(message, fields={"reason": message})
        request = (await self.get_pending(request_id)).request
        if is_held(request):
            raise Conflict("This erasure is already on hold.")
        request.hold_reason = reason
        request.held_at = self.ctx.clock.now()
        request.held_by = principal.user_id
        await record(
            self.ctx,
            Action.PRIVACY_ERASURE_HELD,
            target=("erasure", request.id),
            data={"user": str(request.user_id), "reason": reason},
        )
        await self.ctx.session.flush()
        return request

    async def release(self, request_id: uuid.UUID) -> ErasureRequest:
        """Release the legal hold; an erasure already due is queued at once."""
        self.require_admin()
        request = (await self.get_pending(request_id)).request
        if not is_held(request):
            raise Conflict("This erasure is not on hold.")
        reason, request.hold_reason = request.hold_reason, None
        await record(
            self.ctx,
            Action.PRIVACY_ERASURE_RELEASED,
            target=("erasure", request.id),
            data={"user": str(request.user_id), "reason": reason},
        )
        if request.due_at <= self.ctx.clock.now():
            await enqueue(self.ctx, RUN_JOB, {"request": str(request.id)}, idempotency_key=run_key(request))
        await self.ctx.session.flush()
        return request

    async def process_now(self, request_id: uuid.UUID) -> ErasureRequest:
        """Erase without waiting for the end of the grace period: the request becomes due now
        and its job is queued in this transaction. ``Conflict`` while on hold."""
        self.require_admin()
        request = (await self.get_pending(request_id)).request
        if is_held(request):
            raise Conflict("This erasure is on hold: release the hold first.")
        was_due = request.due_at
        request.due_at = min(was_due, self.ctx.clock.now())
        await record(
            self.ctx,
            Action.PRIVACY_ERASURE_PROCESSED,
            target=("erasure", request.id),
            data={"user": str(request.user_id), "stage": "queued", "due_at": was_due.isoformat()},
        )
        await enqueue(self.ctx, RUN_JOB, {"request": str(request.id)}, idempotency_key=run_key(request))
        await self.ctx.session.flush()
        return request


async def lock_request(ctx: Context, request_id: uuid.UUID) -> ErasureRequest | None:
    """The request read afresh under a write lock held until the transaction ends, so a hold,
    a cancel or a second worker cannot slip between the checks and the erasure (a no-op UPDATE
    takes the row lock on PostgreSQL and the write lock on SQLite)."""
    await ctx.session.execute(
        update(ErasureRequest)
        .where(ErasureRequest.id == request_id)
        .values(status=ErasureRequest.status)
        .execution_options(synchronize_session=False)
    )
    found = await ctx.session.scalars(
        select(ErasureRequest).where(ErasureRequest.id == request_id).execution_options(populate_existing=True)
    )
    return found.first()


def is_due(request: ErasureRequest, now: datetime) -> bool:
    """Whether the erasure may run now: still scheduled, not held, its grace period over."""
    return request.status == ErasureStatus.scheduled.value and not is_held(request) and request.due_at <= now
