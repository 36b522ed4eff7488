"""Data exports through the services and the real job worker: the ZIP holds every registered
source, the user's files and a README, and nothing of another user; progress is visible while
the job runs; limits, failure and retry, expiry and the retention rule."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from fastapp.accounts import wiring
from fastapp.app import create_app
from fastapp.audit.actions import Action
from fastapp.audit.models import AuditEvent
from fastapp.config import Config, PrivacySettings
from fastapp.notifications.models import Notification
from fastapp.platform.context import Context, Runtime, open_context
from fastapp.platform.errors import Conflict, NotFound, RateLimited
from fastapp.platform.jobs import Job, Worker
from fastapp.platform.privacy import ErasureSubject, ExportedData, ExportedFile, PersonalData
from fastapp.platform.registry import Registry
from fastapp.platform.storage import STORAGE, Storage
from fastapp.privacy.exports import services, tasks
from fastapp.privacy.exports.archive import safe_name
from fastapp.privacy.models import DataExport, ExportStatus
from tests.accounts.conftest import STRONG, outbox, text_of
from tests.conftest import make_config, root_of, section_values, started

NOTES_KEY = "zz_notes"
#: ``runtime.services`` keys the test source reads: an event its exporter waits for, and how
#: many of its next calls fail.
GATE = "tests.exports.gate"
FAILURES = "tests.exports.failures"


def notes_file(user_id: uuid.UUID) -> str:
    return f"tests/notes/{user_id}.txt"


async def export_notes(ctx: Context, user_id: uuid.UUID) -> ExportedData:
    """A source of the test's own: records and files of one user (and a file that is gone)."""
    assert ctx.runtime is not None
    gate: asyncio.Event | None = ctx.runtime.services.get(GATE)
    if gate is not None:
        await gate.wait()
    failures = ctx.runtime.services.get(FAILURES, 0)
    if failures:
        ctx.runtime.services[FAILURES] = failures - 1
        raise RuntimeError("the notes store is away")
    return ExportedData(
        records={"notes": [{"user_id": str(user_id), "text": "Remember the milk"}]},
        files=[
            ExportedFile("notes.txt", notes_file(user_id)),
            ExportedFile("../notes.txt", notes_file(user_id)),  # unsafe, and the same name again
            ExportedFile("gone.txt", f"tests/gone/{user_id}.txt"),
            ExportedFile("empty.txt", f"tests/empty/{user_id}.txt"),
        ],
    )


async def erase_nothing(_ctx: Context, _subject: ErasureSubject) -> int:
    return 0


NOTES = PersonalData(
    key=NOTES_KEY,
    label="Test notes",
    description="Notes the test keeps about you.",
    legal_basis="Testing (no article).",
    retention="Until the test ends.",
    tables=(),
    export=export_notes,
    erase=erase_nothing,
)


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    return make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})


@pytest.fixture
def registry(registry: Registry) -> Registry:
    registry.add_personal_data(NOTES)
    return registry


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


def storage(runtime: Runtime) -> Storage:
    found: Storage = runtime.services[STORAGE]
    return found


def datetime_ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


async def make_user(runtime: Runtime, address: str, name: str) -> uuid.UUID:
    """An active member (an owner is made first: the last owner cannot become a member)."""
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        accounts = wiring.accounts(runtime, ctx)
        if "tests.exports.owner" not in runtime.services:
            runtime.services["tests.exports.owner"] = await accounts.create_owner(
                email="keeper@example.com", password=STRONG, display_name="Keeper"
            )
        user = await accounts.create_owner(email=address, password=STRONG, display_name=name)
        await accounts.set_role(user, "member", granter=None)
        return user.id


async def put_note(runtime: Runtime, user_id: uuid.UUID, text: bytes, key: str | None = None) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield text

    await storage(runtime).put_stream(key or notes_file(user_id), chunks(), content_type="text/plain")


async def request(runtime: Runtime, user_id: uuid.UUID) -> uuid.UUID:
    async with open_context(runtime, request_id="t", ip="203.0.113.9") as ctx:
        return (await services.request_export(ctx, user_id)).id


async def load(runtime: Runtime, export_id: uuid.UUID) -> DataExport:
    async with runtime.backends.db.transaction() as session:
        found = await session.get(DataExport, export_id)
        assert found is not None
        return found


async def idle(runtime: Runtime) -> bool:
    async with runtime.backends.db.transaction() as session:
        busy = await session.scalar(select(func.count()).select_from(Job).where(Job.state.in_(("ready", "running"))))
    return not busy


def worker_for(runtime: Runtime) -> Worker:
    return Worker(
        runtime,
        runtime.registry.jobs,
        queues=tuple(runtime.registry.queues),
        poll_interval=0.02,
        retry_delay=lambda _n: 0.0,
    )


async def work_until(runtime: Runtime, done: Callable[[], Awaitable[bool]]) -> None:
    """Run a worker for every registered job until ``done()`` holds (at most 20 s)."""
    worker = worker_for(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(1000):
            if await done():
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the worker did not get there in 20 s")
    finally:
        stop.set()
        await task


async def run_jobs(runtime: Runtime) -> None:
    await work_until(runtime, lambda: idle(runtime))


async def zip_of(runtime: Runtime, export: DataExport) -> zipfile.ZipFile:
    assert export.storage_key is not None
    data = b"".join([chunk async for chunk in storage(runtime).read(export.storage_key)])
    return zipfile.ZipFile(io.BytesIO(data))


async def actions(runtime: Runtime, action: Action) -> list[AuditEvent]:
    async with runtime.backends.db.transaction() as session:
        return list((await session.scalars(select(AuditEvent).where(AuditEvent.action == str(action)))).all())


async def test_an_export_holds_every_source_and_the_files_of_its_user_only(runtime: Runtime, config: Config) -> None:
    ada = await make_user(runtime, "ada@example.com", "Ada Lovelace")
    bob = await make_user(runtime, "bob@example.com", "Bobby Tables")
    long_note = b"Ada's own note\n" * 10_000  # read back from the storage in several chunks
    await put_note(runtime, ada, long_note)
    await put_note(runtime, ada, b"", key=f"tests/empty/{ada}.txt")
    await put_note(runtime, bob, b"Bobby's secret\n")
    await request(runtime, bob)
    export_id = await request(runtime, ada)
    assert (await load(runtime, export_id)).status == ExportStatus.pending.value

    await run_jobs(runtime)
    export = await load(runtime, export_id)
    assert export.status == ExportStatus.ready.value
    assert (export.progress, export.stage, export.error) == (100, "Ready", None)
    assert export.started_at is not None and export.finished_at is not None and export.expires_at is not None
    assert export.expires_at - export.finished_at == timedelta(days=config.privacy.export_link_days)
    assert export.storage_key == f"privacy-exports/{export_id}.zip"
    assert export.size_bytes == await storage(runtime).size(export.storage_key)

    archive = await zip_of(runtime, export)
    names = set(archive.namelist())
    keys = set(runtime.registry.personal_data)
    assert {"accounts", NOTES_KEY} <= keys
    assert {f"{key}.json" for key in keys} | {"README.md"} <= names
    assert archive.read("files/zz_notes/notes.txt") == long_note
    assert archive.read("files/zz_notes/notes (2).txt") == long_note
    assert archive.read("files/zz_notes/empty.txt") == b""
    assert not any("gone" in name for name in names)
    notes = json.loads(archive.read(f"{NOTES_KEY}.json").decode("utf-8"))
    assert notes["records"] == {"notes": [{"user_id": str(ada), "text": "Remember the milk"}]}
    assert notes["files"] == ["files/zz_notes/notes.txt", "files/zz_notes/notes (2).txt", "files/zz_notes/empty.txt"]
    assert archive.read(f"{NOTES_KEY}.json").decode().startswith('{\n  "source"')  # pretty-printed
    readme = archive.read("README.md").decode("utf-8")
    for source in runtime.registry.personal_data.values():
        assert f"`{source.key}.json`: **{source.label}**" in readme
        assert source.legal_basis in readme and source.retention in readme
    assert "`files/zz_notes/gone.txt`: its content was no longer in storage" in readme
    assert "ada@example.com" in archive.read("accounts.json").decode("utf-8")
    everything = b"".join(archive.read(name) for name in names).decode("utf-8", errors="replace").lower()
    for trace in ("bob@example.com", "bobby tables", str(bob), "bobby's secret"):
        assert trace not in everything, trace

    async with runtime.backends.db.transaction() as session:
        notified = (
            await session.scalars(
                select(Notification).where(Notification.user_id == ada, Notification.kind == services.READY_KIND)
            )
        ).all()
    assert [n.link for n in notified] == ["/privacy#data-export"]
    mails = [m for m in outbox(config) if "ada@example.com" in str(m["To"]) and "export" in str(m["Subject"])]
    assert [str(m["Subject"]) for m in mails] == ["Your data export is ready"]
    assert "http://testserver/privacy#data-export" in text_of(mails[0])
    assert not any(part.get_content_type() == "application/zip" for part in mails[0].walk())
    requested = await actions(runtime, Action.PRIVACY_EXPORT_REQUESTED)
    assert {event.target_id for event in requested} >= {str(export_id)}
    assert next(e for e in requested if e.target_id == str(export_id)).ip == "203.0.113.9"


async def test_progress_is_committed_while_the_job_runs(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com", "Ada Lovelace")
    export_id = await request(runtime, ada)
    gate = runtime.services[GATE] = asyncio.Event()

    async def waiting_on_notes() -> bool:
        export = await load(runtime, export_id)
        return export.status == ExportStatus.running.value and export.stage == "Collecting Test notes"

    worker = worker_for(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(500):
            if await waiting_on_notes():
                break
            await asyncio.sleep(0.02)
        running = await load(runtime, export_id)
        assert running.stage == "Collecting Test notes"
        assert tasks.COLLECTING[0] <= running.progress < tasks.COLLECTING[1]
        assert running.started_at is not None and running.finished_at is None
        gate.set()
        for _ in range(500):
            if (await load(runtime, export_id)).status == ExportStatus.ready.value:
                break
            await asyncio.sleep(0.02)
    finally:
        gate.set()
        stop.set()
        await task
    assert (await load(runtime, export_id)).progress == 100


async def test_one_export_at_a_time_and_one_per_interval(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com", "Ada Lovelace")
    first = await request(runtime, ada)
    with pytest.raises(Conflict, match="still being prepared"):
        await request(runtime, ada)
    await run_jobs(runtime)
    with pytest.raises(RateLimited) as refused:
        await request(runtime, ada)
    allowed = (await load(runtime, first)).requested_at + timedelta(hours=24)
    assert refused.value.extra["available_at"] == allowed.isoformat()
    assert 23 * 3600 < refused.value.resets_in <= 24 * 3600 + 1
    assert f"from {allowed:%Y-%m-%d %H:%M} UTC" in refused.value.detail

    # A failed export does not count against the interval; an old one no longer does.
    async with runtime.backends.db.transaction() as session:
        await session.execute(update(DataExport).values(status=ExportStatus.failed.value))
    second = await request(runtime, ada)
    async with runtime.backends.db.transaction() as session:
        old = datetime_ago(hours=25)
        await session.execute(
            update(DataExport).where(DataExport.id == second).values(status="ready", requested_at=old)
        )
    assert await request(runtime, ada)
    assert len(await actions(runtime, Action.PRIVACY_EXPORT_REQUESTED)) == 3


async def test_without_an_interval_a_new_export_may_follow_at_once(tmp_path: Path, database_url: str) -> None:
    base = make_config(tmp_path / "var", database_url, jobs={"in_process": False})
    privacy = PrivacySettings.model_construct(**section_values(PrivacySettings, {"export_interval_hours": 0}))
    config = base.model_copy(update={"privacy": privacy})
    application = create_app(config)
    async with started(application):
        runtime: Runtime = root_of(application).state.runtime
        ada = await make_user(runtime, "ada@example.com", "Ada Lovelace")
        await request(runtime, ada)
        await run_jobs(runtime)
        async with open_context(runtime, request_id="t", ip=None) as ctx:
            assert await services.next_allowed_at(ctx, ada) is None
        assert await request(runtime, ada)


async def test_a_failed_attempt_is_shown_and_a_retry_rebuilds_it(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com", "Ada Lovelace")
    export_id = await request(runtime, ada)
    payload = {"export_id": str(export_id)}
    runtime.services[FAILURES] = 1
    with pytest.raises(RuntimeError):
        async with open_context(runtime, request_id="job:1", ip=None) as ctx:
            await tasks.build(runtime, ctx, payload)
    failed = await load(runtime, export_id)
    assert (failed.status, failed.error, failed.storage_key) == ("failed", tasks.FAILED_MESSAGE, None)
    assert not await storage(runtime).exists(services.storage_key(export_id))
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        assert services.status_of(await services.get_latest(ctx, ada), ctx.clock.now()) is ExportStatus.failed
        assert await services.next_allowed_at(ctx, ada) is None  # a failed export does not count

    async with open_context(runtime, request_id="job:2", ip=None) as ctx:
        await tasks.build(runtime, ctx, payload)
    ready = await load(runtime, export_id)
    assert (ready.status, ready.error) == ("ready", None)
    size = ready.size_bytes

    async with open_context(runtime, request_id="job:3", ip=None) as ctx:  # delivered again: nothing to do
        await tasks.build(runtime, ctx, payload)
    again = await load(runtime, export_id)
    assert (again.finished_at, again.size_bytes) == (ready.finished_at, size)
    async with runtime.backends.db.transaction() as session:
        notices = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.kind == services.READY_KIND)
        )
    assert notices == 1


async def test_a_failed_export_replaced_by_a_newer_one_is_left_alone(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com", "Ada Lovelace")
    first = await request(runtime, ada)
    async with runtime.backends.db.transaction() as session:
        await session.execute(update(DataExport).values(status="failed", requested_at=datetime_ago(minutes=5)))
    await request(runtime, ada)
    async with open_context(runtime, request_id="job:1", ip=None) as ctx:
        await tasks.build(runtime, ctx, {"export_id": str(first)})
        await tasks.build(runtime, ctx, {"export_id": str(uuid.uuid4())})  # gone: nothing to do
    assert (await load(runtime, first)).status == "failed"


async def test_expiry_and_the_retention_rule(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com", "Ada Lovelace")
    export_id = await request(runtime, ada)
    await run_jobs(runtime)
    key = services.storage_key(export_id)
    assert await storage(runtime).exists(key)
    rule = runtime.registry.retention_rules["exports"]
    assert rule.days(runtime.config) == 7 and rule.setting == "FASTAPP_PRIVACY_EXPORT_LINK_DAYS"
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        assert await rule.purge(ctx, ctx.clock.now() - timedelta(days=7)) == 0  # not expired yet
        await services.start_download(ctx, ada, export_id)

    async with runtime.backends.db.transaction() as session:
        await session.execute(update(DataExport).values(expires_at=datetime_ago(seconds=1)))
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        export = await services.get_latest(ctx, ada)
        assert services.status_of(export, ctx.clock.now()) is ExportStatus.expired
        assert export.status == "ready"  # the rule has not run yet: it reads as expired all the same
        with pytest.raises(NotFound, match="expired"):
            await services.start_download(ctx, ada, export_id)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        assert await rule.purge(ctx, ctx.clock.now() - timedelta(days=7)) == 1
    expired = await load(runtime, export_id)
    assert (expired.status, expired.storage_key) == ("expired", None)
    assert not await storage(runtime).exists(key)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        assert await rule.purge(ctx, ctx.clock.now()) == 0


async def test_downloads_are_the_owners_only_and_counted(runtime: Runtime) -> None:
    ada = await make_user(runtime, "ada@example.com", "Ada Lovelace")
    bob = await make_user(runtime, "bob@example.com", "Bobby Tables")
    export_id = await request(runtime, ada)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        with pytest.raises(NotFound, match="not ready"):
            await services.start_download(ctx, ada, export_id)
        with pytest.raises(NotFound, match="not requested"):
            await services.get_latest(ctx, bob)
    await run_jobs(runtime)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        with pytest.raises(NotFound, match="no such export"):
            await services.start_download(ctx, bob, export_id)
        await services.start_download(ctx, ada, export_id)
        await services.start_download(ctx, ada, export_id)
    assert (await load(runtime, export_id)).download_count == 2
    downloads = await actions(runtime, Action.PRIVACY_EXPORT_DOWNLOADED)
    assert [json.loads(event.data)["count"] for event in downloads] == [1, 2]


def test_archive_names_stay_inside_their_folder() -> None:
    assert safe_name("../../etc/passwd") == "etc/passwd"
    assert safe_name("/abs/./x.txt") == "abs/x.txt"
    assert safe_name("a\\b\x00c.txt") == "a_b_c.txt"
    assert safe_name("..") == "file"
