"""Prometheus metrics of one process, and the guarded ``/metrics`` endpoint that serves them.

Each runtime (one per process) owns one ``Metrics``: a ``CollectorRegistry`` of its own rather
than prometheus_client's global default, because tests build many apps in one process and each
must count from zero, and because the global registry also collects whatever any imported library
registers there. ``metrics_of(runtime)`` finds it; the job queue counts into ``metrics.jobs``.

Counters are per process, as Prometheus expects: scrape each process (every web process's
``/metrics``, every ``fastapp worker --metrics-port``) and sum in queries. Jobs are enqueued
where the change happens (web processes) and run in workers, so their counters live in
different processes.

``MetricsEndpoint`` answers ``GET /metrics`` in front of the app's CSRF, session and
authentication layers (a scrape needs none of them). With a token configured it requires
``Authorization: Bearer <token>``; without one it answers only a request whose peer is loopback
and that no proxy forwarded, and is a 404 to everyone else.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, GCCollector, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from starlette.types import ASGIApp, Receive, Scope, Send

from fastapp.platform.scope import bearer_token, header

if TYPE_CHECKING:
    from fastapp.platform.context import Runtime

SERVICE_KEY = "platform.metrics"
PATH = "/metrics"
#: Handler durations: mail sends take a fraction of a second, reports and backups minutes.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
#: A request carrying any of these came through a proxy, whatever its peer address says.
FORWARDING_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"x-real-ip")
# "job" would clash with the label Prometheus gives every scraped series (the scrape job), so a
# job's name is labelled "name".
JOB_LABELS = ("queue", "name")


class JobMetrics:
    """The job queue's counters, labelled by queue and job name (both declared in code, so the
    number of series stays small)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.enqueued = Counter(
            "fastapp_jobs_enqueued", "Jobs committed to the queue by this process.", JOB_LABELS, registry=registry
        )
        self.succeeded = Counter(
            "fastapp_jobs_succeeded", "Job attempts that succeeded (the job is done).", JOB_LABELS, registry=registry
        )
        self.failed = Counter(
            "fastapp_jobs_failed",
            "Job attempts that failed and will be retried (including lapsed leases).",
            JOB_LABELS,
            registry=registry,
        )
        self.dead = Counter(
            "fastapp_jobs_dead", "Jobs that failed their last attempt and are now dead.", JOB_LABELS, registry=registry
        )
        self.lapsed = Counter(
            "fastapp_jobs_lapsed",
            "Attempts whose worker went silent until its lease lapsed (also counted as failed or dead).",
            JOB_LABELS,
            registry=registry,
        )
        self.retried = Counter(
            "fastapp_jobs_retried", "Dead jobs an administrator queued again.", JOB_LABELS, registry=registry
        )
        self.duration = Histogram(
            "fastapp_job_duration_seconds",
            "Seconds from a handler's start to its transaction's commit or rollback, per attempt.",
            JOB_LABELS,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )


class Metrics:
    """All metrics of one process, in one registry (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.jobs = JobMetrics(self.registry)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The current values in the format ``accept`` asks for (Prometheus text by default, or
        OpenMetrics), and its content type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


def metrics_of(runtime: Runtime) -> Metrics:
    """The process's metrics, made on first use (``new_runtime`` makes them up front)."""
    found = runtime.services.get(SERVICE_KEY)
    if not isinstance(found, Metrics):
        found = runtime.services[SERVICE_KEY] = Metrics()
    return found


def is_local_scrape(scope: Scope) -> bool:
    """True when the peer is a loopback address and no proxy forwarded the request.

    The peer alone is not enough: a reverse proxy on the same host connects from loopback on
    behalf of anyone, but it adds forwarding headers (FASTAPP_TRUSTED_PROXIES rewrites the peer
    too, and leaves the headers in place).
    """
    client = scope.get("client")
    if not client:
        return False
    try:
        if not ipaddress.ip_address(client[0]).is_loopback:
            return False
    except ValueError:
        return False
    names = {name for name, _value in scope["headers"]}
    return not names.intersection(FORWARDING_HEADERS)


class MetricsEndpoint:
    """Pure ASGI: ``GET``/``HEAD /metrics`` answered here, everything else passed to ``app``.

    ``token`` empty means loopback-only (404 to others, so the endpoint is not advertised);
    otherwise the bearer token must match (compared in constant time), else 401.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics, token: str = "") -> None:
        self.app = app
        self.metrics = metrics
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        status, headers, body = self._answer(scope)
        headers = [*headers, (b"cache-control", b"no-store"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    def _answer(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        text = [(b"content-type", b"text/plain; charset=utf-8")]
        if self._token:
            given = (bearer_token(scope) or "").encode()
            if not hmac.compare_digest(given, self._token):
                challenge = (b"www-authenticate", b'Bearer realm="metrics"')
                return 401, [*text, challenge], b"A valid bearer token is required.\n"
        elif not is_local_scrape(scope):
            return 404, text, b"Not Found\n"
        if scope["method"] not in {"GET", "HEAD"}:
            return 405, [*text, (b"allow", b"GET, HEAD")], b"Method Not Allowed\n"
        body, content_type = self.metrics.exposition(header(scope, b"accept") or "")
        return 200, [(b"content-type", content_type.encode())], body
