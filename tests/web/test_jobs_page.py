"""``/admin/jobs``: queue counts, dead jobs with their traceback, retry and discard (audited)."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import select

from fastapp.accounts import wiring
from fastapp.audit.models import AuditEvent
from fastapp.config import Config
from fastapp.platform.context import Runtime, open_context
from fastapp.platform.jobs import Job, Worker, enqueue
from tests.accounts.conftest import STRONG, sign_in
from tests.conftest import make_config, root_of


@pytest.fixture
def config(tmp_path: object, database_url: str, redis_url: str) -> Config:
    from pathlib import Path

    return make_config(Path(str(tmp_path)) / "var", database_url, redis_url, jobs={"in_process": False})


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def _dead_job(runtime: Runtime) -> Job:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await enqueue(ctx, "report.build", {"n": 1}, max_attempts=1)
    worker = Worker(runtime, {}, poll_interval=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    for _ in range(200):
        async with runtime.backends.db.transaction() as session:
            job = await session.scalar(select(Job).where(Job.name == "report.build"))
        if job is not None and job.state == "dead":
            break
        await asyncio.sleep(0.02)
    stop.set()
    await task
    assert job is not None and job.state == "dead"
    return job


async def test_members_may_not_see_the_queue(client: httpx.AsyncClient, runtime: Runtime) -> None:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        service = wiring.accounts(runtime, ctx)
        await service.create_owner(email="owner@example.com", password=STRONG, display_name="O")
        ada = await service.create_owner(email="ada@example.com", password=STRONG, display_name="Ada")
        await service.set_role(ada, "member", granter=None)
    await sign_in(client, "ada@example.com")
    assert (await client.get("/admin/jobs")).status_code == 403
    assert 'href="/admin/jobs"' not in (await client.get("/")).text


async def test_dead_jobs_are_shown_retried_and_discarded(client: httpx.AsyncClient, runtime: Runtime) -> None:
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await wiring.accounts(runtime, ctx).create_owner(email="owner@example.com", password=STRONG, display_name="O")
    await sign_in(client, "owner@example.com")
    assert "No jobs yet" in (await client.get("/admin/jobs")).text
    job = await _dead_job(runtime)

    page = await client.get("/admin/jobs")
    assert page.status_code == 200 and 'href="/admin/jobs"' in page.text
    assert "report.build" in page.text and "no handler is registered" in page.text
    assert re.search(r"<th scope=\"row\">default</th>\s*<td>0</td>\s*<td>0</td>\s*<td>0</td>\s*<td>1</td>", page.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token

    retried = await client.post(f"/admin/jobs/{job.id}/retry", data={"csrf_token": token.group(1)})
    assert retried.status_code == 303
    assert "The job is queued again." in (await client.get(retried.headers["location"])).text
    async with runtime.backends.db.transaction() as session:
        again = await session.get(Job, job.id)
    assert again is not None and (again.state, again.attempts) == ("ready", 0)
    assert (await client.post(f"/admin/jobs/{job.id}/discard", data={"csrf_token": token.group(1)})).status_code == 404

    job = await _dead_job(runtime)
    discarded = await client.post(f"/admin/jobs/{job.id}/discard", data={"csrf_token": token.group(1)})
    assert discarded.status_code == 303
    assert (await client.post("/admin/jobs/not-an-id/retry", data={"csrf_token": token.group(1)})).status_code == 404
    async with runtime.backends.db.transaction() as session:
        assert await session.get(Job, job.id) is None
        actions = [e.action for e in await session.scalars(select(AuditEvent).where(AuditEvent.target_type == "job"))]
    assert actions == ["job.retried", "job.discarded"]
