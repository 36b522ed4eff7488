"""Virus scanning with a real clamd (EICAR is its only signature): infected uploads are
quarantined (bytes moved, never served, owner notified, audited), clean ones pass, and a
stopped clamd leaves uploads pending until the retrying job finds it back."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from fastapp.audit.models import AuditEvent
from fastapp.files import services
from fastapp.files.models import FileStatus, StoredFile
from fastapp.files.scanning import QUARANTINE_PREFIX, QUARANTINED_KIND
from fastapp.notifications.models import Notification
from fastapp.platform.context import Runtime
from fastapp.platform.jobs import Job, Worker
from fastapp.platform.scanner import SCANNER, create_scanner
from fastapp.platform.storage import STORAGE
from tests.accounts.conftest import api_tokens, bearer
from tests.clamd import Clamd, clamd, eicar, start_clamd
from tests.files.conftest import make_user
from tests.files.test_services import received

__all__ = ["clamd"]

URL = "/api/v1/files"


@pytest.fixture
def scanning(runtime: Runtime, clamd: Clamd) -> Runtime:
    runtime.services[SCANNER] = create_scanner(clamd.tcp_url, timeout=10)
    return runtime


async def upload(client: httpx.AsyncClient, runtime: Runtime, content: bytes, name: str) -> httpx.Response:
    await make_user(runtime, "ada@example.com")
    headers = bearer(await api_tokens(client, "ada@example.com"))
    response = await client.post(URL, headers=headers, files={"file": (name, content, "text/plain")})
    client.headers.update(headers)
    return response


async def row(runtime: Runtime, file_id: str | uuid.UUID) -> StoredFile:
    async with runtime.backends.db.transaction() as session:
        found = await session.get(StoredFile, uuid.UUID(str(file_id)))
        assert found is not None
        return found


async def test_eicar_is_quarantined_and_its_owner_told(client: httpx.AsyncClient, scanning: Runtime) -> None:
    runtime = scanning
    content = eicar()  # the test database matches the exact file (its MD5)
    created = await upload(client, runtime, content, "report.txt")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "infected"
    file = await row(runtime, body["id"])
    assert file.storage_key.startswith(QUARANTINE_PREFIX)
    assert file.scan_detail and "Eicar" in file.scan_detail
    storage = runtime.services[STORAGE]
    assert await storage.exists(file.storage_key)
    assert not await storage.exists(f"files/{file.id.hex[:2]}/{file.id}")
    refused = await client.get(f"{URL}/{body['id']}/download-url")
    assert refused.status_code == 403 and "quarantined" in refused.json()["detail"]
    async with runtime.backends.db.transaction() as session:
        told = (await session.scalars(select(Notification).where(Notification.kind == QUARANTINED_KIND))).one()
        assert told.user_id == file.owner_id and "report.txt" in told.body
        event = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "file.quarantined"))).one()
        assert "Eicar" in (event.data or "")


async def test_a_clean_file_passes(client: httpx.AsyncClient, scanning: Runtime) -> None:
    created = await upload(client, scanning, b"just words\n", "clean.txt")
    assert created.json()["status"] == "clean"
    link = (await client.get(f"{URL}/{created.json()['id']}/download-url")).json()["url"]
    assert (await client.get(link)).content == b"just words\n"


async def test_a_stopped_clamd_leaves_uploads_pending_until_it_is_back(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    with start_clamd() as gone:
        url = gone.tcp_url
    runtime.services[SCANNER] = create_scanner(url, timeout=2)  # nothing listens there any more
    created = await upload(client, runtime, b"later\n", "later.txt")
    assert created.json()["status"] == "pending_scan"
    file_id = created.json()["id"]
    assert (await client.get(f"{URL}/{file_id}/download-url")).status_code == 403

    worker = Worker(runtime, runtime.registry.jobs, poll_interval=0.02, retry_delay=lambda _n: 0.2)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        job = await _wait_for_job(runtime, lambda j: j.attempts >= 2)
        assert job.state != "dead"
        assert job.last_error  # the scanner's refusal, recorded for the next try
        assert (await row(runtime, file_id)).status == FileStatus.pending_scan.value
        with start_clamd() as back:
            runtime.services[SCANNER] = create_scanner(back.tcp_url, timeout=10)
            await _wait_for_job(runtime, lambda j: j.state == "succeeded")
    finally:
        stop.set()
        await running
    assert (await row(runtime, file_id)).status == FileStatus.clean.value
    assert (await client.get(f"{URL}/{file_id}/download-url")).status_code == 200


async def test_the_scan_job_is_idempotent(scanning: Runtime, tmp_path: Path) -> None:
    from tests.files.conftest import acting

    ada = await make_user(scanning, "ada@example.com")
    async with acting(scanning, ada) as ctx:
        file = await services.upload(ctx, received(tmp_path, b"ok\n", "ok.txt"))
    async with acting(scanning) as ctx:
        assert await services.scan_pending(ctx, file.id) is FileStatus.clean


async def _wait_for_job(runtime: Runtime, done: object) -> Job:
    for _ in range(1500):
        async with runtime.backends.db.transaction() as session:
            job = (await session.scalars(select(Job).where(Job.name == services.SCAN_JOB))).one()
        if done(job):  # type: ignore[operator]
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"the scan job did not get there: {job.state}, {job.attempts} attempts")


async def test_the_scan_job_quarantines_a_pending_infected_file(runtime: Runtime, clamd: Clamd, tmp_path: Path) -> None:
    from tests.files.conftest import acting

    with start_clamd() as gone:
        url = gone.tcp_url
    runtime.services[SCANNER] = create_scanner(url, timeout=2)
    ada = await make_user(runtime, "ada@example.com")
    async with acting(runtime, ada) as ctx:
        file = await services.upload(ctx, received(tmp_path, eicar(), "eicar.txt"))
    assert file.status == FileStatus.pending_scan.value
    original = file.storage_key
    runtime.services[SCANNER] = create_scanner(clamd.tcp_url, timeout=10)
    async with acting(runtime) as ctx:
        assert await services.scan_pending(ctx, file.id) is FileStatus.infected
    after = await row(runtime, file.id)
    storage = runtime.services[STORAGE]
    assert after.storage_key.startswith(QUARANTINE_PREFIX) and await storage.exists(after.storage_key)
    assert not await storage.exists(original)
