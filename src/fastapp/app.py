"""Composition root: ``create_app(config)`` builds the one ASGI application.

Pages (FastHTML) are mounted at ``/``, the JSON API (FastAPI) at ``/api/v1``, Swagger UI at
``/api/docs``, static files at ``/static``, and ``/healthz`` / ``/readyz`` beside them. One
pure-ASGI middleware stack wraps them all, in request order: trusted proxy headers, request id
and log line, security headers, ``/metrics`` (answered there, guarded by token or loopback), body
size limit, authentication, request gates, CSRF. The lifespan opens and closes the database
engine and the cache. Add-on modules named in FASTAPP_ADDONS register after the built-in domains.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import cast

import structlog
from sqlalchemy import MetaData
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from fastapp.accounts.wiring import authenticator
from fastapp.api import API_PREFIX, create_api_app
from fastapp.api.docs import swagger_ui
from fastapp.api.errors import domain_problem
from fastapp.audit.chain import derive_key as derive_audit_key
from fastapp.audit.services import set_key as set_audit_key
from fastapp.config import Config, load_config
from fastapp.files.upload import MULTIPART_OVERHEAD
from fastapp.platform import jobs, jobs_data
from fastapp.platform.auth import AuthenticationMiddleware, csrf_session_key
from fastapp.platform.cache import create_cache
from fastapp.platform.clock import SystemClock
from fastapp.platform.context import Backends, Runtime
from fastapp.platform.crypto import select_keyring, set_active_keyring
from fastapp.platform.csrf import CsrfMiddleware
from fastapp.platform.db import Base, Database
from fastapp.platform.errors import DomainError
from fastapp.platform.gates import RequestGateMiddleware
from fastapp.platform.health import healthz, readyz_endpoint
from fastapp.platform.instance import ensure_instance
from fastapp.platform.jobs import Worker, run_scheduler
from fastapp.platform.logging import configure_logging
from fastapp.platform.mail import MAILER, Mailer, create_mailer
from fastapp.platform.metrics import SERVICE_KEY as METRICS
from fastapp.platform.metrics import Metrics, MetricsEndpoint, metrics_of
from fastapp.platform.middleware import (
    BodyLimitMiddleware,
    PrefixDispatch,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
    TrustedNetworks,
)
from fastapp.platform.ratelimit import RateLimits
from fastapp.platform.registry import Registry
from fastapp.platform.scanner import SCANNER, Scanner, create_scanner
from fastapp.platform.static import HashedStaticFiles
from fastapp.platform.storage import STORAGE, S3Storage, close_storage, create_storage
from fastapp.ui.assets import Assets
from fastapp.web import create_pages_app
from fastapp.web.errors import page_error_responder

#: Domain packages, in registration order (navigation follows it).
DOMAINS = (
    "fastapp.home",
    "fastapp.audit",
    "fastapp.notifications",
    "fastapp.files",
    "fastapp.accounts",
    "fastapp.privacy",
)
STATIC_DIR = Path(__file__).parent / "static"
LIMITS = "platform.rate-limits"
TASKS = "platform.background-tasks"
WORKER_STOP = "jobs.in-process-stop"
STOP_TIMEOUT_S = 2.0
#: The worker inside the web process takes every queue, so ``serve`` alone also sends mail.
log = structlog.get_logger("fastapp.app")


def load_domains() -> list[ModuleType]:
    return [importlib.import_module(name) for name in DOMAINS]


def metadata() -> MetaData:
    """All tables of all domains (importing each domain's models registers them)."""
    for name in DOMAINS:
        try:
            importlib.import_module(f"{name}.models")
        except ModuleNotFoundError as exc:
            if exc.name != f"{name}.models":
                raise
    return Base.metadata


class AddonError(Exception):
    """An add-on named in FASTAPP_ADDONS cannot be loaded; the message says which and why."""


def build_registry(addons: Sequence[str] = ()) -> Registry:
    """The registry filled by the built-in domains, then by each add-on module in ``addons``
    (FASTAPP_ADDONS): importable modules with ``register(registry)``, like a domain."""
    registry = Registry()
    # Finished jobs age out through the ``finished_jobs`` rule of the privacy retention job.
    registry.add_job(jobs.PURGE_JOB, jobs.purge_past_retention)
    jobs_data.register(registry)
    for domain in load_domains():
        domain.register(registry)
    for name in addons:
        try:
            addon = importlib.import_module(name)
        except ImportError as exc:
            raise AddonError(f"FASTAPP_ADDONS: cannot import {name!r}: {exc}") from exc
        register = getattr(addon, "register", None)
        if not callable(register):
            raise AddonError(f"FASTAPP_ADDONS: {name!r} has no register(registry) function")
        register(registry)
    return registry


def new_runtime(config: Config, registry: Registry | None = None) -> Runtime:
    """The runtime of one process: configuration, registry and the objects built from them.

    Building it validates what can be validated before anything starts (rate limit strings).
    """
    registry = registry or build_registry(config.app.addons)
    runtime = Runtime(config, registry)
    runtime.services[METRICS] = Metrics()
    runtime.services[MAILER] = mailer(config)
    runtime.services[SCANNER] = scanner(config)
    runtime.services[STORAGE] = create_storage(config.storage, var_dir=config.app.var_dir)
    runtime.services[LIMITS] = RateLimits(
        config.redis.url, config.security.rate_limits, registry.rate_limits, prefix=config.redis.prefix
    )
    return runtime


async def start(runtime: Runtime) -> None:
    """Open the backends and run the start-up hooks (seed data) of every domain."""
    config = runtime.config
    db = Database.from_url(config.database_url, pool_size=config.database.pool_size, echo=config.database.echo)
    cache = create_cache(config.redis.url, prefix=config.redis.prefix)
    runtime.backends = Backends(db=db, cache=cache, clock=SystemClock(), limits=runtime.services[LIMITS])
    setting = config.security.encryption_keys.get_secret_value()
    set_active_keyring(select_keyring(setting, var_dir=config.app.var_dir, production=config.is_production))
    set_audit_key(derive_audit_key(config.app.secret_key.get_secret_value()))
    if not setting:
        log.warning("development encryption keys in use", path=str(config.app.var_dir / "encryption.keys"))
    try:
        async with db.transaction() as session:
            await ensure_instance(session, now=runtime.backends.clock.now())
        for hook in runtime.registry.on_startup:
            async with db.transaction() as session:
                await hook(session)
        tasks = [asyncio.create_task(task(runtime)) for task in runtime.registry.background]
        if config.jobs.in_process:
            runtime.services[WORKER_STOP] = asyncio.Event()
            tasks.append(asyncio.create_task(run_in_process_worker(runtime), name="in-process worker"))
        runtime.services[TASKS] = tasks
    except BaseException:
        await stop(runtime)
        raise


async def stop(runtime: Runtime) -> None:
    tasks: list[asyncio.Task[None]] = runtime.services.pop(TASKS, [])
    worker_stop: asyncio.Event | None = runtime.services.pop(WORKER_STOP, None)
    for task in tasks:
        if worker_stop is not None and task.get_name() == "in-process worker":
            worker_stop.set()  # it stops on its own: claims nothing more, releases what it cannot finish
        else:
            task.cancel()
    if tasks:
        # A task that does not finish cancelling (a stuck network read) must not hold up shutdown.
        _done, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
        for task in stuck:
            log.warning("background task did not stop", task=task.get_name())

    backends = runtime.backends
    runtime.backends = None
    set_active_keyring(None)
    set_audit_key(None)
    await backends.limits.close()
    await backends.cache.close()
    await backends.db.dispose()
    # Closing only drops the pooled connections: the storage stays usable if the runtime restarts.
    await close_storage(runtime.services.get(STORAGE))


async def run_in_process_worker(runtime: Runtime) -> None:
    """The embedded default: the web process also runs the jobs, so ``serve`` alone delivers.

    At shutdown the app sets its stop event: running jobs get a second, then are released (the
    app's stop waits ``STOP_TIMEOUT_S`` for background tasks)."""
    settings = runtime.config.jobs
    worker = Worker(
        runtime,
        runtime.registry.jobs,
        queues=tuple(runtime.registry.queues),
        concurrency=settings.concurrency,
        lease=timedelta(seconds=settings.lease_seconds),
        grace=1.0,
    )
    stop: asyncio.Event = runtime.services[WORKER_STOP]
    await asyncio.gather(worker.run(stop), run_scheduler(runtime, stop))


def create_app(config: Config, *, registry: Registry | None = None) -> ASGIApp:
    """The whole application for ``config``; ``registry`` lets tests add routes before assembly."""
    configure_logging(level=config.app.log_level, fmt=config.app.log_format)
    runtime = new_runtime(config, registry)
    registry = runtime.registry
    registry.add_health_check("database", lambda: runtime.backends.db.ping())
    if config.redis.url:
        registry.add_health_check("redis", lambda: runtime.backends.cache.ping())
    storage = runtime.services[STORAGE]
    if isinstance(storage, S3Storage):
        registry.add_health_check("storage", storage.ping)
    assets = Assets(config.http.static_url)
    pages = create_pages_app(runtime, assets)
    api = create_api_app(runtime)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await start(runtime)
        try:
            yield
        finally:
            await stop(runtime)

    root = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz_endpoint(registry.health_checks), methods=["GET"]),
            Route(
                "/api/docs",
                swagger_ui(assets, title=api.title, openapi_url=f"{API_PREFIX}/openapi.json"),
                methods=["GET"],
            ),
            Mount(API_PREFIX, app=api),
            Mount("/static", app=HashedStaticFiles(directory=STATIC_DIR), name="static"),
            Mount("/", app=pages),
        ],
        lifespan=lifespan,
    )
    root.state.runtime = runtime

    responder = _responder(page_error_responder(pages))
    app: ASGIApp = CsrfMiddleware(
        PrefixDispatch(root, prefix=API_PREFIX, mounted=api),
        secret_key=config.app.secret_key.get_secret_value(),
        site_origin=config.app.site_url,
        secure_cookies=config.app.is_https,
        responder=responder,
        exempt_paths=registry.csrf_exempt,
        session_key=csrf_session_key,
        cookieless_prefixes=(API_PREFIX + "/",),
    )
    if registry.request_gates:  # after authentication: a gate judges the signed-in principal
        app = RequestGateMiddleware(app, runtime=runtime, gates=registry.request_gates, responder=responder)
    app = AuthenticationMiddleware(app, authenticate=authenticator(runtime))
    # Upload routes (the files API and pages) take the file size limit plus multipart framing.
    upload_limit = config.files.max_upload_bytes + MULTIPART_OVERHEAD
    app = BodyLimitMiddleware(
        app,
        max_bytes=config.http.max_body_bytes,
        responder=responder,
        limits={API_PREFIX + "/files": upload_limit, "/files": upload_limit},
    )
    # /metrics is answered here, before authentication, sessions and CSRF: a scrape needs none.
    app = MetricsEndpoint(app, metrics=metrics_of(runtime), token=config.http.metrics_token.get_secret_value())
    extra_origins = [config.http.static_url] if "://" in config.http.static_url else []
    hsts = config.http.hsts_seconds if config.app.is_https else None
    app = SecurityHeadersMiddleware(app, hsts_seconds=hsts, extra_origins=extra_origins)
    if config.http.trusted_proxies:
        app = cast(ASGIApp, ProxyHeadersMiddleware(app, trusted_hosts=config.http.trusted_proxies))  # type: ignore[arg-type]
    # Outermost, so it judges X-Request-ID by the immediate peer before proxy headers rewrite it.
    return RequestContextMiddleware(app, trusted=TrustedNetworks(config.http.trusted_proxies))


def app_from_env() -> ASGIApp:
    """Factory for ``uvicorn --factory`` (several workers, reload): configuration from the environment."""
    return create_app(load_config())


def mailer(config: Config) -> Mailer:
    """The process's mailer: SMTP when ``FASTAPP_SMTP_URL`` is set, else the ``var/mail`` outbox."""
    return create_mailer(
        config.mail.smtp_url.get_secret_value(), config.app.var_dir / "mail", sender=config.mail.mail_from
    )


def scanner(config: Config) -> Scanner | None:
    """The process's virus scanner: clamd at ``FASTAPP_CLAMD_URL``, or None when scanning is off."""
    return create_scanner(config.scanner.active_url, timeout=config.scanner.clamd_timeout_seconds)


def _responder(pages: Callable[[Scope, DomainError], Response]) -> Callable[[Scope, DomainError], Response]:
    """Errors raised before routing: problem+json under /api, an HTML page or toast elsewhere."""

    def respond(scope: Scope, exc: DomainError) -> Response:
        if scope["path"] == API_PREFIX or scope["path"].startswith(API_PREFIX + "/"):
            return domain_problem(scope, exc)
        return pages(scope, exc)

    return respond
