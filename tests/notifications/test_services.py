"""``notify`` and its preferences, the inbox services and the daily digest, on a real database:
what is written, what email is queued, what open pages are told, and what a rollback leaves."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from fastapp.accounts import wiring
from fastapp.app import build_registry
from fastapp.audit.models import AuditEvent
from fastapp.config import Config
from fastapp.notifications import Category, Channel, NotificationKind, live, notify, services, tasks
from fastapp.notifications.delivery import SEND_JOB
from fastapp.notifications.kinds import Frequency
from fastapp.notifications.models import EmailMessage, Notification, NotificationPreference
from fastapp.notifications.services import PreferenceChange
from fastapp.platform.context import Runtime, open_context
from fastapp.platform.errors import Invalid, NotFound
from fastapp.platform.jobs import Job, Worker
from fastapp.platform.registry import Registry
from tests.accounts.conftest import STRONG
from tests.conftest import acting, make_config, root_of

NEWS = {"title": "Hello", "author": "Ada", "slug": "hello"}


def add_test_kinds(registry: Registry) -> None:
    """A plain category (news), an urgent one (alerts), and a kind in the mandatory one."""
    registry.add_notification_category(Category(key="news", label="News", description="Posts and replies."))
    registry.add_notification_category(Category(key="alerts", label="Alerts", urgent=True))
    registry.add_notification_kind(
        NotificationKind(
            key="news.posted",
            category="news",
            title="New post: {title}",
            body="{author} wrote {title}.",
            link="/posts/{slug}",
        )
    )
    registry.add_notification_kind(NotificationKind(key="alerts.raised", category="alerts", title="Alert: {what}"))
    registry.add_notification_kind(NotificationKind(key="security.test", category="security", title="Security: {what}"))
    registry.add_notification_kind(NotificationKind(key="news.elsewhere", category="news", title="Away", link="{url}"))


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    # No in-process worker: the queued jobs stay where the tests can look at them.
    return make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})


@pytest.fixture
def registry() -> Registry:
    registry = build_registry()
    add_test_kinds(registry)
    return registry


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def make_user(runtime: Runtime, address: str, name: str = "Ada") -> uuid.UUID:
    """An active, verified account."""
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        user = await wiring.accounts(runtime, ctx).create_owner(email=address, password=STRONG, display_name=name)
        return user.id


async def send(
    runtime: Runtime, user_ids: list[uuid.UUID], kind: str = "news.posted", **data: str
) -> list[Notification]:
    async with acting(runtime) as ctx:
        return await notify(ctx, user_ids, kind, data or NEWS)


async def count(runtime: Runtime, model: type, *where: object) -> int:
    async with runtime.backends.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def set_preference(runtime: Runtime, user_id: uuid.UUID, category: str, **values: object) -> None:
    """A preference row written directly (as old data or another writer might have left it)."""
    async with runtime.backends.db.transaction() as session:
        session.add(NotificationPreference(user_id=user_id, category=category, updated_at=datetime.now(UTC), **values))


# -- notify ---------------------------------------------------------------------------------------


async def test_notify_writes_the_notification_and_queues_its_email(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    [made] = await send(runtime, [ada, ada])  # a repeated id is told once
    assert (made.title, made.body, made.link, made.category) == (
        "New post: Hello",
        "Ada wrote Hello.",
        "/posts/hello",
        "news",
    )
    assert made.in_app and made.email_state == "queued" and made.read_at is None
    assert json.loads(made.data) == NEWS
    async with runtime.backends.db.transaction() as session:
        mail = await session.scalar(select(EmailMessage))
        job = await session.scalar(select(Job).where(Job.name == SEND_JOB))
    assert mail is not None and job is not None
    assert (mail.to_address, mail.template, mail.category, mail.mandatory, mail.user_id) == (
        "ada@example.com",
        "notification",
        "news",
        False,
        ada,
    )
    assert json.loads(mail.context or "{}") == {
        "title": "New post: Hello",
        "body": "Ada wrote Hello.",
        "link": "http://testserver/posts/hello",
        "user_name": "Ada",
    }
    assert json.loads(job.payload) == {"message": str(mail.id)}


async def test_a_kind_names_what_its_data_lacks(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    async with acting(runtime) as ctx:
        with pytest.raises(ValueError, match=r"news.posted.*body needs 'author'"):
            await notify(ctx, [ada], "news.posted", {"title": "Hi", "slug": "hi"})
        with pytest.raises(ValueError, match=r"unknown notification kind 'news\.nope'"):
            await notify(ctx, [ada], "news.nope", NEWS)
        with pytest.raises(ValueError, match="link must be a path on this site"):
            await notify(ctx, [ada], "news.elsewhere", {"url": "https://evil.example/"})
        with pytest.raises(ValueError, match="link must be a path on this site"):
            await notify(ctx, [ada], "news.elsewhere", {"url": "//evil.example/"})
    assert await count(runtime, Notification) == 0


async def test_inactive_and_unknown_users_get_nothing(runtime: Runtime) -> None:
    async with acting(runtime) as ctx:
        pending = await wiring.accounts(runtime, ctx).register(
            email="new@example.com", password=STRONG, display_name="New"
        )
    assert pending is not None
    assert await send(runtime, [pending.id, uuid.uuid4()]) == []
    assert await count(runtime, Notification) == 0
    assert await count(runtime, EmailMessage, EmailMessage.category == "news") == 0


@pytest.mark.parametrize(
    ("stored", "in_app", "email_state"),
    [
        ({"email": False}, True, None),
        ({"in_app": False}, False, "queued"),
        ({"email_frequency": "daily"}, True, "digest"),
        ({"in_app": True, "email": None}, True, "queued"),  # None is the category's default
    ],
    ids=["email-off", "in-app-off", "daily-digest", "defaults"],
)
async def test_preferences_choose_the_channels(
    runtime: Runtime, stored: dict[str, object], in_app: bool, email_state: str | None
) -> None:
    ada = await make_user(runtime, "ada@example.com")
    await set_preference(runtime, ada, "news", **stored)
    [made] = await send(runtime, [ada])
    assert (made.in_app, made.email_state) == (in_app, email_state)
    assert await count(runtime, EmailMessage, EmailMessage.category == "news") == (email_state == "queued")
    async with acting(runtime, ada) as ctx:
        assert [n.id for n in (await services.inbox(ctx)).items] == ([made.id] if in_app else [])


async def test_every_channel_off_means_no_notification(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    await set_preference(runtime, ada, "news", in_app=False, email=False)
    assert await send(runtime, [ada]) == []
    assert await count(runtime, Notification) == 0


async def test_mandatory_and_urgent_categories_ignore_what_they_must(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    # Rows no current code path writes: a mandatory category turned off, an urgent one as a digest.
    await set_preference(runtime, ada, "security", in_app=False, email=False)
    await set_preference(runtime, ada, "alerts", email_frequency="daily")
    [security] = await send(runtime, [ada], "security.test", what="new sign-in")
    [alert] = await send(runtime, [ada], "alerts.raised", what="disk full")
    assert (security.in_app, security.email_state) == (True, "queued")
    assert (alert.in_app, alert.email_state) == (True, "queued")
    async with runtime.backends.db.transaction() as session:
        mandatory = await session.scalar(select(EmailMessage.mandatory).where(EmailMessage.category == "security"))
    assert mandatory is True


async def test_a_kind_limits_its_channels(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    async with acting(runtime) as ctx:
        # the accounts domain's own in-app-only security notice
        [made] = await notify(ctx, [ada], "security.password_changed", {})
    assert (made.in_app, made.email_state) == (True, None)
    kind = runtime.registry.notification_kinds["security.password_changed"]
    assert kind.channels == frozenset({Channel.in_app})


async def test_a_rollback_leaves_no_notification_email_job_or_event(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    cache = runtime.backends.cache
    async with cache.subscribe(live.channel(ada)) as subscription:
        messages = aiter(subscription)

        async def failing_change() -> None:
            async with acting(runtime) as ctx:
                assert len(await notify(ctx, [ada], "news.posted", NEWS)) == 1
                raise RuntimeError("the change failed")

        with pytest.raises(RuntimeError, match="the change failed"):
            await failing_change()
        assert await count(runtime, Notification) == 0
        assert await count(runtime, EmailMessage, EmailMessage.category == "news") == 0
        assert await count(runtime, Job, Job.name == SEND_JOB) == 0
        await cache.publish(live.channel(ada), b"sentinel")
        _channel, first = await asyncio.wait_for(anext(messages), 10)
        assert first == b"sentinel"  # nothing was published for the rolled-back notification

        [made] = await send(runtime, [ada])
        _channel, event = await asyncio.wait_for(anext(messages), 10)
    assert json.loads(event) == {
        "event": "notification",
        "unread": 1,
        "title": "New post: Hello",
        "link": "/posts/hello",
        "id": str(made.id),
    }


# -- preferences ----------------------------------------------------------------------------------


async def test_preferences_default_then_follow_changes(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    async with acting(runtime, ada) as ctx:
        before = {p.category.key: p for p in await services.preferences(ctx, ada)}
    ours = {"security", "account", "news", "alerts"}  # other domains' categories (files) are not this test's
    assert {k: (p.in_app, p.email, p.email_frequency, p.locked) for k, p in before.items() if k in ours} == {
        "security": (True, True, Frequency.immediately, True),
        "account": (True, True, Frequency.immediately, False),
        "news": (True, True, Frequency.immediately, False),
        "alerts": (True, True, Frequency.immediately, False),
    }
    assert list(before) == list(runtime.registry.notification_categories)
    async with acting(runtime, ada) as ctx:
        after = {
            p.category.key: p
            for p in await services.update_preferences(
                ctx,
                ada,
                {"news": PreferenceChange(email_frequency=Frequency.daily), "account": PreferenceChange(in_app=False)},
            )
        }
    assert (after["news"].in_app, after["news"].email, after["news"].email_frequency) == (True, True, Frequency.daily)
    assert (after["account"].in_app, after["account"].email) == (False, True)
    async with acting(runtime, ada) as ctx:  # a second change keeps what it does not name
        again = {
            p.category.key: p
            for p in await services.update_preferences(ctx, ada, {"news": PreferenceChange(email=False)})
        }
    assert (again["news"].email, again["news"].email_frequency) == (False, Frequency.daily)
    async with runtime.backends.db.transaction() as session:
        events = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "notifications.preferences.changed")
                .order_by(AuditEvent.seq)
            )
        ).all()
    assert len(events) == 2
    assert json.loads(events[1].data)["after"] == {"news": {"in_app": True, "email": False, "email_frequency": "daily"}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"security": PreferenceChange(email=False)}, "Security notifications are mandatory"),
        ({"security": PreferenceChange(email_frequency=Frequency.daily)}, "Security notifications are mandatory"),
        ({"alerts": PreferenceChange(email_frequency=Frequency.daily)}, "Alerts notifications are urgent"),
        ({"gossip": PreferenceChange(email=False)}, "Unknown category 'gossip'"),
    ],
    ids=["mandatory-off", "mandatory-digest", "urgent-digest", "unknown"],
)
async def test_refused_preference_changes_change_nothing(
    runtime: Runtime, changes: dict[str, PreferenceChange], message: str
) -> None:
    ada = await make_user(runtime, "ada@example.com")
    with pytest.raises(Invalid, match=message) as refused:
        async with acting(runtime, ada) as ctx:
            await services.update_preferences(ctx, ada, {"news": PreferenceChange(email=False), **changes})
    assert set(refused.value.fields) == set(changes)
    assert await count(runtime, NotificationPreference) == 0


async def test_restating_a_mandatory_category_is_accepted(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    async with acting(runtime, ada) as ctx:
        result = await services.update_preferences(ctx, ada, {"security": PreferenceChange(in_app=True, email=True)})
    assert {p.category.key: p.email for p in result}["security"] is True
    assert await count(runtime, NotificationPreference) == 0


# -- the inbox ------------------------------------------------------------------------------------


async def test_inbox_pages_by_keyset_even_within_one_instant(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    made = [n for i in range(7) for n in await send(runtime, [ada], title=f"n{i}", author="A", slug=str(i))]
    same = datetime(2030, 1, 1, 12, tzinfo=UTC)
    async with runtime.backends.db.transaction() as session:  # four share one timestamp: the id decides
        await session.execute(
            update(Notification).where(Notification.id.in_([n.id for n in made[2:6]])).values(created_at=same)
        )
    seen: list[uuid.UUID] = []
    cursor = None
    async with acting(runtime, ada) as ctx:
        for _ in range(5):
            page = await services.inbox(ctx, cursor=cursor, limit=3)
            seen.extend(n.id for n in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    assert sorted(seen) == sorted(n.id for n in made) and len(seen) == 7
    assert set(seen[:4]) == {n.id for n in made[2:6]}  # the latest instant first
    assert seen[:4] == sorted(seen[:4], reverse=True)


async def test_inbox_filters_and_actions_are_the_principals_own(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    bo = await make_user(runtime, "bo@example.com", "Bo")
    [news, _] = await send(runtime, [ada, bo])
    [alert] = await send(runtime, [ada], "alerts.raised", what="disk")
    [bos] = [n for n in await send(runtime, [bo]) if n.user_id == bo]
    async with acting(runtime, ada) as ctx:
        assert await services.unread_count(ctx) == 2
        assert [n.id for n in (await services.inbox(ctx, services.InboxFilter(category="alerts"))).items] == [alert.id]
        with pytest.raises(Invalid, match="Unknown category"):
            await services.inbox(ctx, services.InboxFilter(category="gossip"))
        with pytest.raises(Invalid, match="cursor is not valid"):
            await services.inbox(ctx, cursor="not-a-cursor")
        for action in (services.mark_read, services.archive, services.unarchive, services.get_notification):
            with pytest.raises(NotFound):
                await action(ctx, bos.id)
        assert (await services.mark_read(ctx, news.id)).read_at is not None
        unread = await services.inbox(ctx, services.InboxFilter(unread_only=True))
        assert [n.id for n in unread.items] == [alert.id]
        await services.archive(ctx, alert.id)
        assert await services.unread_count(ctx) == 0
        assert [n.id for n in (await services.inbox(ctx)).items] == [news.id]
        archived = services.InboxFilter(archived=services.Archived.only)
        assert [n.id for n in (await services.inbox(ctx, archived)).items] == [alert.id]
        everything = services.InboxFilter(archived=services.Archived.include)
        assert len((await services.inbox(ctx, everything)).items) == 2
        await services.unarchive(ctx, alert.id)
        assert await services.unread_count(ctx) == 1
        assert await services.mark_all_read(ctx) == 1
        assert await services.mark_all_read(ctx) == 0
    async with acting(runtime, bo) as ctx:
        assert await services.unread_count(ctx) == 2  # Bo's are untouched


# -- the digest -----------------------------------------------------------------------------------


async def test_the_daily_digest_sends_one_mail_per_user_and_day(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    bo = await make_user(runtime, "bo@example.com", "Bo")
    await set_preference(runtime, ada, "news", email_frequency="daily")
    first = await send(runtime, [ada, bo])
    await send(runtime, [ada], title="Again", author="Bo", slug="again")
    assert {n.user_id: n.email_state for n in first} == {ada: "digest", bo: "queued"}

    async def run_digest_jobs() -> None:
        async with acting(runtime) as ctx:
            await tasks.fan_out_digests(runtime, ctx, {})
        worker = Worker(runtime, runtime.registry.jobs, queues=("default",), poll_interval=0.02)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        for _ in range(500):
            if not await count(runtime, Job, Job.name == tasks.USER_DIGEST_JOB, Job.state.in_(("ready", "running"))):
                break
            await asyncio.sleep(0.02)
        stop.set()
        await running

    await run_digest_jobs()
    await send(runtime, [ada], title="Late", author="Cy", slug="late")  # waits for tomorrow's digest
    await run_digest_jobs()  # the same day again: no second digest
    async with runtime.backends.db.transaction() as session:
        digests = (await session.scalars(select(EmailMessage).where(EmailMessage.template == "digest"))).all()
        states = dict(
            (
                await session.execute(
                    select(Notification.title, Notification.email_state).where(Notification.user_id == ada)
                )
            ).all()
        )
        jobs = (await session.scalars(select(Job).where(Job.name == tasks.USER_DIGEST_JOB))).all()
    assert len(digests) == 1 and len(jobs) == 1
    assert jobs[0].state == "succeeded"
    assert jobs[0].idempotency_key == tasks.digest_key(ada, datetime.now(UTC).date().isoformat())
    digest = digests[0]
    assert (digest.to_address, digest.category, digest.mandatory) == ("ada@example.com", "news", False)
    context = json.loads(digest.context or "{}")
    assert context["user_name"] == "Ada"
    assert [(i["title"], i["link"]) for i in context["items"]] == [
        ("New post: Hello", "http://testserver/posts/hello"),
        ("New post: Again", "http://testserver/posts/again"),
    ]
    assert states == {"New post: Hello": "digested", "New post: Again": "digested", "New post: Late": "digest"}


async def test_a_digest_skips_what_the_user_has_since_turned_off(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com")
    await set_preference(runtime, ada, "news", email_frequency="daily")
    [made] = await send(runtime, [ada])
    async with acting(runtime, ada) as ctx:
        await services.update_preferences(ctx, ada, {"news": PreferenceChange(email=False)})
    async with acting(runtime) as ctx:
        assert await services.send_digest(ctx, ada) == 0
        assert await services.send_digest(ctx, ada) == 0
    assert await count(runtime, EmailMessage, EmailMessage.template == "digest") == 0
    async with runtime.backends.db.transaction() as session:
        assert await session.scalar(select(Notification.email_state).where(Notification.id == made.id)) is None
