"""``/healthz`` (the process answers) and ``/readyz`` (its dependencies answer)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from fastapp.platform.registry import HealthCheck

CHECK_TIMEOUT_S = 3.0


async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


def readyz_endpoint(checks: dict[str, HealthCheck]):  # type: ignore[no-untyped-def]
    """An endpoint running every check concurrently; 503 naming each failing one."""

    async def run(name: str, check: HealthCheck) -> tuple[str, str | None]:
        try:
            await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_S)
        except TimeoutError:
            return name, f"no answer within {CHECK_TIMEOUT_S:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure makes the service unready
            return name, f"{type(exc).__name__}: {exc}"[:300]
        return name, None

    async def readyz(_request: Request) -> JSONResponse:
        results = await asyncio.gather(*(run(n, c) for n, c in checks.items()))
        report = {name: ("ok" if error is None else error) for name, error in results}
        failing = [name for name, error in results if error is not None]
        body: dict[str, Any] = {"status": "ok" if not failing else "unavailable", "checks": report}
        if failing:
            body["failing"] = failing
        return JSONResponse(body, status_code=503 if failing else 200, headers={"Cache-Control": "no-store"})

    return readyz
