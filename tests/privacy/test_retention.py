"""The daily retention job: each rule deletes what is older than its cutoff and keeps the rest,
a failing rule does not stop the others, and one audit event records the counts."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from fastapp.accounts.models import AuthSession, User, UserStatus
from fastapp.app import build_registry
from fastapp.audit import Action, Actor, record
from fastapp.audit.chain import derive_key
from fastapp.audit.models import AuditEvent
from fastapp.audit.services import verify
from fastapp.config import Config
from fastapp.files.models import FileStatus, StoredFile
from fastapp.notifications.models import EmailEvent, EmailMessage, Notification
from fastapp.platform.context import Context, Runtime, open_context
from fastapp.platform.jobs import Job, JobState
from fastapp.platform.privacy import RetentionRule
from fastapp.platform.registry import Registry
from fastapp.platform.storage import STORAGE, Storage
from fastapp.privacy.models import ConsentRecord
from fastapp.privacy.retention import RETENTION_JOB, RETENTION_SCHEDULE, apply_retention
from tests.conftest import TEST_SECRET, make_config, root_of

DAY = timedelta(days=1)


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    # No in-process worker: the test runs the job itself, nothing else touches the data.
    return make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


class _At:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


async def _run(runtime: Runtime) -> dict[str, object]:
    """Run the job as the worker would; the data of the audit event it recorded."""
    async with open_context(runtime, request_id="job:test", ip=None) as ctx:
        await apply_retention(runtime, ctx, {})
    async with runtime.backends.db.transaction() as session:
        event = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == str(Action.PRIVACY_RETENTION_APPLIED))
                .order_by(AuditEvent.seq.desc())
            )
        ).first()
    assert event is not None and event.actor_id == RETENTION_JOB
    return {"outcome": event.outcome, **json.loads(event.data)}


def _user(email: str, *, status: str, created: datetime, verified: bool) -> User:
    return User(
        email=email,
        email_key=email,
        display_name=email.split("@")[0],
        password_hash="!",
        status=status,
        password_changed_at=created,
        created_at=created,
        email_verified_at=created if verified else None,
    )


async def _names(ctx: Context, column: object) -> set[str]:
    return set((await ctx.session.scalars(select(column))).all())  # type: ignore[call-overload]


def test_the_job_is_registered_and_scheduled_daily() -> None:
    registry = build_registry()  # the test fixture's registry leaves the schedule out
    assert registry.jobs[RETENTION_JOB] is apply_retention
    assert RETENTION_SCHEDULE in registry.schedules
    assert {
        "unverified_accounts",
        "ended_sessions",
        "read_notifications",
        "email_records",
        "finished_jobs",
        "audit",
        "visitor_consent",
    } <= set(registry.retention_rules)
    # Finished jobs and audit events are purged by this job only, not by schedules of their own.
    assert not {"jobs.purge", "audit.purge"} & {s.job for s in registry.schedules}


async def test_accounts_rules(runtime: Runtime) -> None:
    now = runtime.backends.clock.now()
    privacy = runtime.config.privacy
    old_pending = now - timedelta(days=privacy.unverified_account_days) - DAY
    storage: Storage = runtime.services[STORAGE]
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        stale = _user("stale@example.com", status=UserStatus.pending.value, created=old_pending, verified=False)
        fresh = _user("fresh@example.com", status=UserStatus.pending.value, created=now - DAY, verified=False)
        active = _user("active@example.com", status=UserStatus.active.value, created=old_pending, verified=True)
        ctx.session.add_all([stale, fresh, active])
        await ctx.session.flush()
        await storage.put_file("files/stale-object", _sample(runtime), content_type="text/plain")
        ctx.session.add(
            StoredFile(
                owner_id=stale.id,
                purpose="document",
                name="a.txt",
                content_type="text/plain",
                size=1,
                sha256="0" * 64,
                storage_key="files/stale-object",
                status=FileStatus.unscanned.value,
                created_at=old_pending,
                updated_at=old_pending,
            )
        )
        ended = now - timedelta(days=privacy.ended_session_days) - DAY
        for device, revoked, expires in (
            ("revoked long ago", ended, now + DAY),
            ("expired long ago", None, ended),
            ("revoked lately", now - DAY, now + DAY),
            ("in use", None, now + DAY),
        ):
            ctx.session.add(
                AuthSession(
                    user_id=active.id,
                    kind="browser",
                    device=device,
                    user_agent="UA",
                    ip="192.0.2.1",
                    last_seen_at=now,
                    authenticated_at=now,
                    expires_at=expires,
                    revoked_at=revoked,
                )
            )
    outcome = await _run(runtime)
    counts = outcome["counts"]
    assert isinstance(counts, dict)
    assert (counts["unverified_accounts"], counts["ended_sessions"]) == (1, 2)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        assert await _names(ctx, User.email) >= {"fresh@example.com", "active@example.com"}
        assert "stale@example.com" not in await _names(ctx, User.email)
        assert await _names(ctx, AuthSession.device) == {"revoked lately", "in use"}
        assert not await ctx.session.scalar(select(func.count()).select_from(StoredFile))
    assert not await storage.exists("files/stale-object")


def _sample(runtime: Runtime) -> Path:
    path = runtime.config.app.var_dir / "sample.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    return path


async def test_notifications_and_email_rules(runtime: Runtime) -> None:
    now = runtime.backends.clock.now()
    privacy = runtime.config.privacy
    read_cutoff = now - timedelta(days=privacy.read_notification_days)
    mail_cutoff = now - timedelta(days=privacy.email_record_days)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        user = _user("reader@example.com", status=UserStatus.active.value, created=now, verified=True)
        ctx.session.add(user)
        await ctx.session.flush()
        for title, created, read in (
            ("read long ago", read_cutoff - 2 * DAY, read_cutoff - DAY),
            ("read lately", read_cutoff - 2 * DAY, now - DAY),
            ("never read", read_cutoff - 2 * DAY, None),
        ):
            ctx.session.add(
                Notification(
                    user_id=user.id, kind="k", category="c", title=title, created_at=created, read_at=read, link=None
                )
            )
        for subject, created in (("old mail", mail_cutoff - DAY), ("new mail", now - DAY)):
            message = EmailMessage(
                to_address="reader@example.com",
                template="t",
                category="c",
                subject=subject,
                message_id=f"<{uuid.uuid4().hex}@test>",
                created_at=created,
            )
            ctx.session.add(message)
            await ctx.session.flush()
            ctx.session.add(EmailEvent(message_id=message.id, type="sent", occurred_at=created))
    counts = (await _run(runtime))["counts"]
    assert isinstance(counts, dict)
    assert (counts["read_notifications"], counts["email_records"]) == (1, 1)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        assert await _names(ctx, Notification.title) == {"read lately", "never read"}
        assert await _names(ctx, EmailMessage.subject) == {"new mail"}
        assert await ctx.session.scalar(select(func.count()).select_from(EmailEvent)) == 1


async def test_visitor_consent_rule_keeps_users_and_recent_visitors(runtime: Runtime) -> None:
    now = runtime.backends.clock.now()
    cutoff = now - timedelta(days=runtime.config.privacy.visitor_consent_days)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        user = _user("consenter@example.com", status=UserStatus.active.value, created=now, verified=True)
        ctx.session.add(user)
        await ctx.session.flush()
        for visitor, user_id, created in (
            ("old-visitor", None, cutoff - DAY),
            ("recent-visitor", None, now - DAY),
            (None, user.id, cutoff - DAY),  # a user's consent is proof kept while the account lives
        ):
            ctx.session.add(
                ConsentRecord(
                    user_id=user_id,
                    visitor_id=visitor,
                    purpose="analytics",
                    granted=True,
                    source="banner",
                    created_at=created,
                )
            )
    counts = (await _run(runtime))["counts"]
    assert isinstance(counts, dict)
    assert counts["visitor_consent"] == 1
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        left = (await ctx.session.execute(select(ConsentRecord.visitor_id, ConsentRecord.user_id))).all()
    assert {visitor for visitor, _ in left} == {"recent-visitor", None}
    assert len(left) == 2


async def test_finished_jobs_and_audit_rules(runtime: Runtime) -> None:
    now = runtime.backends.clock.now()
    job_cutoff = now - timedelta(days=runtime.config.jobs.retention_days)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        for name, state, finished in (
            ("old", JobState.succeeded.value, job_cutoff - DAY),
            ("recent", JobState.succeeded.value, now - DAY),
            ("dead", JobState.dead.value, job_cutoff - DAY),
        ):
            ctx.session.add(Job(name=name, state=state, run_at=finished, finished_at=finished))
        old = _At(now - timedelta(days=runtime.config.audit.retention_days) - DAY)
        await record(replace(ctx, clock=old), Action.TOKEN_CREATED, actor=Actor.system("then"))
        await record(ctx, Action.TOKEN_CREATED, actor=Actor.system("now"))
    counts = (await _run(runtime))["counts"]
    assert isinstance(counts, dict)
    assert (counts["finished_jobs"], counts["audit"]) == (1, 1)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        assert await _names(ctx, Job.name) == {"recent", "dead"}
        assert "then" not in await _names(ctx, AuditEvent.actor_id)
        assert (await verify(ctx.session, derive_key(TEST_SECRET))).ok


async def test_a_failing_rule_does_not_stop_the_others(registry: Registry, runtime: Runtime) -> None:
    # The registry fixture is the one the app was built from: the rule is part of this app.
    async def broken(_ctx: Context, _cutoff: datetime) -> int:
        raise RuntimeError("the disk is on fire")

    registry.add_retention_rule(RetentionRule(key="aaa_broken", label="Broken", days=lambda _c: 1, purge=broken))
    outcome = await _run(runtime)
    assert outcome["outcome"] == "failure"
    assert outcome["failed"] == ["aaa_broken"]
    counts = outcome["counts"]
    assert isinstance(counts, dict)
    assert set(counts) == set(registry.retention_rules) - {"aaa_broken"}


async def test_a_run_that_deletes_nothing_records_nothing(runtime: Runtime) -> None:
    async with open_context(runtime, request_id="job:test", ip=None) as ctx:
        await apply_retention(runtime, ctx, {})
    async with runtime.backends.db.transaction() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == str(Action.PRIVACY_RETENTION_APPLIED))
        )
    assert found == 0
