"""The job queue's Prometheus counters, and ``GET /metrics``: bearer token when configured, else
loopback only; no session, cookie or CSRF machinery on the way; the production guard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from fastapp.app import create_app
from fastapp.config import Config, HttpSettings, load_config
from fastapp.platform.context import Context, Runtime, open_context
from fastapp.platform.jobs import Worker, dead_jobs, enqueue, enqueue_many, retry_dead
from fastapp.platform.metrics import Metrics, metrics_of
from tests.conftest import SITE, make_config, root_of, started
from tests.platform.test_jobs import _work_until, _worker

TOKEN = "metrics-token-0123456789abcdef0123456789"
EVERYWHERE = "0.0.0.0"  # noqa: S104 - a configuration value under test, nothing binds it


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    return make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


def value(metrics: Metrics, name: str, job: str, queue: str = "default") -> float:
    found = metrics.registry.get_sample_value(name, {"queue": queue, "name": job})
    return found or 0.0


async def _work(runtime: Runtime, handlers: dict[str, Any], done: Any, **kwargs: Any) -> Worker:
    worker = _worker(runtime, handlers, **kwargs)
    await _work_until(worker, done)
    return worker


async def test_enqueued_counts_what_commits(runtime: Runtime) -> None:
    metrics = metrics_of(runtime)

    async def rolled_back() -> None:
        async with open_context(runtime, request_id="t", ip=None) as ctx:
            await enqueue(ctx, "report", {})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await rolled_back()
    assert value(metrics, "fastapp_jobs_enqueued_total", "report") == 0
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await enqueue(ctx, "report", {}, idempotency_key="once")
        await enqueue(ctx, "report", {}, idempotency_key="once")  # not added: not counted
        await enqueue_many(ctx, "report", [{}, {}, {}], queue="reports")
        assert value(metrics, "fastapp_jobs_enqueued_total", "report") == 0  # not before the commit
    assert value(metrics, "fastapp_jobs_enqueued_total", "report") == 1
    assert value(metrics, "fastapp_jobs_enqueued_total", "report", "reports") == 3


async def test_attempts_are_counted_and_timed_by_outcome(runtime: Runtime) -> None:
    metrics = metrics_of(runtime)
    ran: list[str] = []

    async def ok(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
        ran.append("ok")

    async def broken(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
        ran.append("broken")
        raise ValueError("no")

    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await enqueue(ctx, "ok", {})
        await enqueue(ctx, "broken", {}, max_attempts=2)
    await _work(runtime, {"ok": ok, "broken": broken}, lambda: len(ran) == 3)
    await asyncio.sleep(0.1)  # the last failure is recorded after the handler returns
    assert value(metrics, "fastapp_jobs_succeeded_total", "ok") == 1
    assert value(metrics, "fastapp_jobs_failed_total", "broken") == 1  # the first attempt: it will retry
    assert value(metrics, "fastapp_jobs_dead_total", "broken") == 1
    assert value(metrics, "fastapp_jobs_succeeded_total", "broken") == 0
    assert value(metrics, "fastapp_job_duration_seconds_count", "ok") == 1
    assert value(metrics, "fastapp_job_duration_seconds_count", "broken") == 2

    async with open_context(runtime, request_id="t", ip=None) as ctx:
        (dead,) = await dead_jobs(ctx)
        await retry_dead(ctx, dead.id)
        assert value(metrics, "fastapp_jobs_retried_total", "broken") == 0  # not before the commit
    assert value(metrics, "fastapp_jobs_retried_total", "broken") == 1


async def test_a_lapsed_lease_counts_as_lapsed_and_failed(runtime: Runtime) -> None:
    metrics = metrics_of(runtime)
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        await enqueue(ctx, "fragile", {})
    lost = Worker(runtime, {}, lease=timedelta(seconds=0.05))
    assert len(await lost.claim(1)) == 1
    await asyncio.sleep(0.1)
    assert await Worker(runtime, {}).reclaim_lapsed() == 1
    assert value(metrics, "fastapp_jobs_lapsed_total", "fragile") == 1
    assert value(metrics, "fastapp_jobs_failed_total", "fragile") == 1
    assert value(metrics, "fastapp_jobs_dead_total", "fragile") == 0


@asynccontextmanager
async def scraper(config: Config, client_ip: str) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """A started app for ``config`` and a client calling it from ``client_ip``."""
    application = create_app(config)
    async with started(application) as running:
        transport = httpx.ASGITransport(app=running, client=(client_ip, 1234))
        async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
            yield client, root_of(application).state.runtime


async def test_metrics_answer_a_bearer_token_only(tmp_path: Path, database_url: str) -> None:
    config = make_config(tmp_path, database_url, jobs={"in_process": False}, http={"metrics_token": TOKEN})
    async with scraper(config, "203.0.113.9") as (client, runtime):
        async with open_context(runtime, request_id="t", ip=None) as ctx:
            await enqueue(ctx, "report.build", {})
        ok = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
        assert 'fastapp_jobs_enqueued_total{name="report.build",queue="default"} 1.0' in ok.text
        assert "# TYPE fastapp_job_duration_seconds histogram" in ok.text
        assert "set-cookie" not in ok.headers  # no session or CSRF cookie on the way
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401 and "fastapp_jobs" not in refused.text
            assert refused.headers["www-authenticate"].startswith("Bearer")
        head = await client.head("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert head.status_code == 200 and head.content == b""
        post = await client.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert post.status_code == 405


@pytest.mark.parametrize(
    ("client_ip", "headers", "status"),
    [
        ("127.0.0.1", {}, 200),
        ("::1", {}, 200),
        ("203.0.113.9", {}, 404),
        ("10.0.0.5", {}, 404),
        ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}, 404),  # a proxy on this host forwarded it
        ("127.0.0.1", {"Forwarded": "for=203.0.113.9"}, 404),
    ],
)
async def test_without_a_token_metrics_answer_loopback_only(
    tmp_path: Path, database_url: str, client_ip: str, headers: dict[str, str], status: int
) -> None:
    config = make_config(tmp_path, database_url, jobs={"in_process": False})
    async with scraper(config, client_ip) as (client, _runtime):
        response = await client.get("/metrics", headers=headers)
    assert response.status_code == status
    assert ("# TYPE fastapp_jobs_enqueued_total counter" in response.text) is (status == 200)


async def test_a_trusted_proxy_cannot_make_a_remote_client_local(tmp_path: Path, database_url: str) -> None:
    config = make_config(tmp_path, database_url, jobs={"in_process": False}, http={"trusted_proxies": ["10.0.0.1"]})
    async with scraper(config, "10.0.0.1") as (client, _runtime):
        spoofed = await client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert spoofed.status_code == 404


def test_production_wants_a_metrics_token_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAPP_ENV", "production")

    def problems(**http: Any) -> list[str]:
        config = load_config()
        config = config.model_copy(update={"http": HttpSettings.model_construct(**{**dict(config.http), **http})})
        return [p for p in config.production_problems() if p.startswith("FASTAPP_METRICS_TOKEN")]

    assert problems(host="127.0.0.1") == []  # scraped beside it, through loopback
    assert problems(host="::1") == []
    assert len(problems(host=EVERYWHERE)) == 1
    assert len(problems(host="app.internal")) == 1
    assert problems(host=EVERYWHERE, metrics_token=SecretStr(TOKEN)) == []
    assert "32" in problems(host="127.0.0.1", metrics_token=SecretStr("short"))[0]
