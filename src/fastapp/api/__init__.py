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
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    for router in runtime.registry.api_routers:
        app.include_router(router)
    return app
