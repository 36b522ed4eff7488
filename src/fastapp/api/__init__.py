"""The JSON API: one FastAPI app mounted at /api/v1 holding every domain's API router."""

from __future__ import annotations

from fastapi import FastAPI

from fastapp import __version__
from fastapp.api.errors import install_error_handlers
from fastapp.platform.context import Runtime

API_PREFIX = "/api/v1"


def create_api_app(runtime: Runtime) -> FastAPI:
    config = runtime.config
    app = FastAPI(
        title=f"{config.app.name} API",
        version=__version__,
        openapi_url="/openapi.json",
        docs_url=None,  # served at /api/docs from local assets, see api/docs.py
        redoc_url=None,
        servers=[{"url": API_PREFIX}],
        description="Versioned JSON API. Errors are application/problem+json (RFC 9457).",
        # FastAPI's built-in OpenTelemetry asks the global providers on every request whether
        # anything listens (~5 us); FastApp exports no OpenTelemetry data, so it is off.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    # The domain routers' routes go straight into the app's router: FastAPI keeps an included
    # router as a nested level that every request walks route by route (~35 us per request, a
    # fifth of an authenticated API call; bench/README.md). Their paths already carry the
    # router's prefix; a router-level dependency would be lost this way, so none is allowed.
    for router in runtime.registry.api_routers:
        if router.dependencies:
            raise ValueError(f"API router {router.prefix or '/'} has router-level dependencies; declare them per route")
        app.router.routes.extend(router.routes)
    return app
