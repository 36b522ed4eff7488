"""Every API error as ``application/problem+json`` (RFC 9457), mapped once here."""

from __future__ import annotations

from typing import Any, cast

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from fastapp.platform.errors import DomainError, RateLimited, Unauthenticated
from fastapp.platform.ratelimit import rate_limit_headers

PROBLEM_JSON = "application/problem+json"
_HTTP_TYPES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def domain_problem(scope: Scope, exc: DomainError) -> Response:
    headers = rate_limit_headers(exc) if isinstance(exc, RateLimited) else None
    if isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": 'Bearer realm="api"'}
    extra: dict[str, Any] = dict(exc.extra)
    if exc.fields:
        extra["errors"] = [{"field": k, "message": v} for k, v in exc.fields.items()]
    request_id = scope.get("state", {}).get("request_id")
    return problem(
        exc.status,
        exc.problem_type,
        exc.title,
        exc.detail,
        instance=scope["path"],
        headers=headers,
        request_id=request_id,
        **extra,
    )


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    return domain_problem(request.scope, cast(DomainError, exc))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    exc = cast(HTTPException, exc)
    slug = _HTTP_TYPES.get(exc.status_code, "http-error")
    title = slug.replace("-", " ").capitalize()
    return problem(
        exc.status_code, slug, title, str(exc.detail), instance=request.url.path, headers=dict(exc.headers or {})
    )


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    exc = cast(RequestValidationError, exc)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), "message": e["msg"]} for e in exc.errors()
    ]
    return problem(
        422,
        "invalid",
        "Invalid input",
        "The request body or parameters are not valid.",
        instance=request.url.path,
        errors=errors,
    )


async def _on_server_error(request: Request, exc: Exception) -> Response:
    extra: dict[str, Any] = {}
    if request.app.state.runtime.config.app.debug:  # development only: production refuses debug
        extra["exception"] = f"{type(exc).__name__}: {exc}"
    return problem(
        500,
        "server-error",
        "Internal server error",
        "An unexpected error happened. It has been logged; please try again.",
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        **extra,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_server_error)
