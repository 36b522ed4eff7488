"""Fixtures: a fresh app per test on the embedded backends, and on PostgreSQL + Redis when
``FASTAPP_TEST_DATABASE_URL`` / ``FASTAPP_TEST_REDIS_URL`` are set (CI requires them).

Databases are cloned from a template migrated once per session: a PostgreSQL
``CREATE DATABASE ... TEMPLATE``, or a copy of a migrated SQLite file.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import make_url

from fastapp.app import build_registry, create_app, metadata
from fastapp.config import (
    AppSettings,
    AuthSettings,
    Config,
    DatabaseSettings,
    HttpSettings,
    JobsSettings,
    RedisSettings,
    SecuritySettings,
)
from fastapp.platform import migrate
from fastapp.platform.context import Context, Principal, Runtime, open_context
from fastapp.platform.db import create_engine
from fastapp.platform.registry import Registry

PG_URL = os.environ.get("FASTAPP_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("FASTAPP_TEST_REDIS_URL", "")
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"
SITE = "http://testserver"

if IN_CI and not (PG_URL and REDIS_URL):  # pragma: no cover - guards CI's configuration
    raise RuntimeError("CI must set FASTAPP_TEST_DATABASE_URL and FASTAPP_TEST_REDIS_URL")

BACKENDS = ["embedded"] + (["services"] if PG_URL and REDIS_URL else [])


def as_async_pg(url: str) -> str:
    return str(make_url(url).set(drivername="postgresql+asyncpg"))


def _pg_admin_url() -> str:
    return as_async_pg(PG_URL)


def pg_admin(sql: str) -> None:
    """Run one administrative statement (CREATE/DROP DATABASE) with psql.

    A process of its own rather than an event loop of the test's: a fixture's ``asyncio.run``
    around an async engine was seen to hang on rare occasions, and a subprocess has a timeout.
    """
    url = str(make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False))
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, timeout=60, capture_output=True)


def pg_database_url(name: str) -> str:
    return str(make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False))


@contextmanager
def fresh_pg_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (empty, or cloned from ``template``), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    pg_admin(f'CREATE DATABASE "{name}"{clause}')
    try:
        yield pg_database_url(name)
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Templates:
    sqlite_file: Path
    pg_name: str | None


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """Migrated template databases, made once for the whole run."""
    folder = tmp_path_factory.mktemp("template")
    sqlite_file = folder / "template.db"

    async def migrate_url(url: str) -> None:
        engine = create_engine(url)
        try:
            await migrate.upgrade(engine, metadata())
        finally:
            await engine.dispose()

    asyncio.run(migrate_url(f"sqlite+aiosqlite:///{sqlite_file}"))
    pg_name = None
    if PG_URL:
        pg_name = f"fastapp_tpl_{uuid.uuid4().hex[:10]}"
        pg_admin(f'CREATE DATABASE "{pg_name}"')
        asyncio.run(migrate_url(pg_database_url(pg_name)))
    yield Templates(sqlite_file, pg_name)
    if pg_name:
        pg_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, templates: Templates, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    if backend == "embedded":
        target = tmp_path / "var" / "fastapp.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(templates.sqlite_file, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    with fresh_pg_database("fastapp_t", templates.pg_name) as url:
        yield url


@pytest.fixture
def redis_url(backend: str) -> str:
    return REDIS_URL if backend == "services" else ""


def make_config(var_dir: Path, database_url: str = "", redis_url: str = "", **app: object) -> Config:
    """A test configuration; nothing is read from the environment."""
    app_values: dict[str, object] = {
        "env": "test",
        "site_url": SITE,
        "secret_key": TEST_SECRET,
        "var_dir": var_dir,
        "log_level": "WARNING",
    }
    app_values.update(app)
    http = app_values.pop("http", {})
    auth = app_values.pop("auth", {})
    security = app_values.pop("security", {})
    jobs = app_values.pop("jobs", {})
    assert isinstance(jobs, dict)
    assert isinstance(security, dict)
    assert isinstance(http, dict)
    assert isinstance(auth, dict)
    sections = {
        name: field.annotation.model_construct(**section_values(field.annotation, {}))  # type: ignore[union-attr]
        for name, field in Config.model_fields.items()
    }
    return Config(
        **{  # every section from its defaults, never from the environment (FASTAPP_CLAMD_URL, ...)
            **sections,
            "app": AppSettings.model_construct(**section_values(AppSettings, app_values)),
            "database": DatabaseSettings.model_construct(**section_values(DatabaseSettings, {"url": database_url})),
            "redis": RedisSettings.model_construct(
                **section_values(RedisSettings, {"url": redis_url, "prefix": f"t{uuid.uuid4().hex[:8]}:"})
            ),
            "http": HttpSettings.model_construct(**section_values(HttpSettings, http)),
            "auth": AuthSettings.model_construct(**section_values(AuthSettings, auth)),
            "security": SecuritySettings.model_construct(**section_values(SecuritySettings, security)),
            "jobs": JobsSettings.model_construct(**section_values(JobsSettings, jobs)),
        }
    )


def section_values(cls: type, values: dict[str, object]) -> dict[str, object]:
    """Validated section values without reading the environment or a .env file: settings
    classes read both even in ``model_validate``, so the prefix points where nothing is set."""
    model = cls(_env_prefix="FASTAPP_TEST_UNSET_", _env_file=None, **values)
    return dict(model)


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    return make_config(tmp_path / "var", database_url, redis_url)


@pytest.fixture
def registry() -> Registry:
    """The registry the app is built from; tests may add routes to it before ``app`` is made.

    Without the daily retention schedule: the in-process worker would run it at start-up (the
    day's slot is due) and delete the back-dated rows tests create while they run.
    ``tests/privacy/test_retention.py`` runs the retention job itself."""
    from fastapp.privacy.retention import RETENTION_SCHEDULE

    registry = build_registry()
    registry.schedules.remove(RETENTION_SCHEDULE)
    return registry


@asynccontextmanager
async def started(application: Any) -> AsyncIterator[Any]:
    """``application`` after its start-up, called the way a server calls it.

    asgi-lifespan hands every request the lifespan ``state`` dict itself; the ASGI spec (and
    uvicorn) give each request a copy, and per-request values live in it, so each gets one here.
    Start-up and shutdown are bounded by the app itself; the manager's 5 s default was seen to
    trip on a loaded machine while a slow close finished.
    """

    async def per_request_state(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan" and "state" in scope:
            scope["state"] = dict(scope["state"])
        await application(scope, receive, send)

    async with LifespanManager(per_request_state, startup_timeout=30, shutdown_timeout=30) as manager:
        yield manager.app


@pytest.fixture
async def app(config: Config, registry: Registry) -> AsyncIterator[object]:
    application = create_app(config, registry=registry)
    async with started(application) as running:
        running.fastapp_app = application  # for root_of()
        yield running


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as http:
        yield http


@asynccontextmanager
async def client_for(
    config: Config, registry: Registry | None = None, *, client_ip: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    """A started app for a configuration of the test's own, and a client for it."""
    async with started(create_app(config, registry=registry)) as running:
        transport = httpx.ASGITransport(app=running, client=(client_ip, 1234))
        async with httpx.AsyncClient(transport=transport, base_url=SITE) as http:
            yield http


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


async def csrf_token(client: httpx.AsyncClient, path: str = "/") -> str:
    """Load a page and return the CSRF token it carries (setting the session cookie)."""
    response = await client.get(path)
    match = CSRF_META.search(response.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def root_of(app: Any) -> Any:
    """The Starlette app inside the middleware stack."""
    app = getattr(app, "fastapp_app", app)
    while not hasattr(app, "routes"):
        app = app.app
    return app


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run browser tests last: sync Playwright keeps an event loop running in this thread while
    the browser is open, which the asyncio-based tests cannot share."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


def signed_in_as(user_id: uuid.UUID, permissions: Iterable[str] = ()) -> Principal:
    """A browser principal for ``user_id``, freshly authenticated, holding ``permissions``."""
    return Principal(
        user_id=user_id,
        session_id=uuid.uuid4(),
        permissions=frozenset(permissions),
        authenticated_at=datetime.now(UTC),
        via="cookie",
    )


@asynccontextmanager
async def acting(
    runtime: Runtime, user_id: uuid.UUID | None = None, permissions: Iterable[str] = ()
) -> AsyncIterator[Context]:
    """A committed context acting as ``user_id`` (a visitor when None), for calling services."""
    who = signed_in_as(user_id, permissions) if user_id else None
    async with open_context(runtime, request_id="t", ip=None, principal=who) as ctx:
        yield ctx
