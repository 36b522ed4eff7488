from __future__ import annotations

from pathlib import Path

import httpx

from fastapp.app import LIMITS, create_app
from fastapp.platform.cache import MemoryCache
from fastapp.platform.clock import SystemClock
from fastapp.platform.context import Backends
from fastapp.platform.db import Database
from tests.conftest import client_for, make_config, root_of


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


async def test_readyz_checks_the_backends(client: httpx.AsyncClient, backend: str) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert ("redis" in checks) is (backend == "services")


async def test_readyz_names_the_failing_check(tmp_path: Path, database_url: str) -> None:
    config = make_config(tmp_path, database_url, redis_url="redis://127.0.0.1:1/0")
    async with client_for(config) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert "onnect" in body["checks"]["redis"]


async def test_readyz_reports_a_missing_database(tmp_path: Path) -> None:
    config = make_config(tmp_path, "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    app = create_app(config)
    # The lifespan itself needs the database, so drive the endpoint with backends opened by hand.
    runtime = root_of(app).state.runtime
    db = Database.from_url(config.database_url)
    runtime.backends = Backends(db=db, cache=MemoryCache(), clock=SystemClock(), limits=runtime.services[LIMITS])
    try:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/readyz")
    finally:
        await db.dispose()
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]
