from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel

from fastapp.api.deps import ContextDep
from fastapp.app import build_registry, create_app
from fastapp.config import Config
from fastapp.platform.errors import NotFound, RateLimited
from fastapp.platform.registry import Registry
from tests.conftest import client_for, make_config, started


class Item(BaseModel):
    name: str
    size: int


@pytest.fixture
def registry(registry: Registry) -> Registry:
    router = APIRouter()

    @router.post("/items")
    async def create(item: Item) -> Item:
        return item

    @router.get("/missing")
    async def missing() -> None:
        raise NotFound("No such item.")

    @router.get("/limited")
    async def limited() -> None:
        raise RateLimited("Slow down.", resets_in=30)

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret detail")

    registry.api_routers.append(router)
    return registry


async def test_openapi_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "/api/v1"}]
    assert "/instance" in document["paths"]


async def test_swagger_ui_uses_local_assets(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/docs")
    assert response.status_code == 200
    assert 'data-openapi-url="/api/v1/openapi.json"' in response.text
    assert "/static/dist/swagger-ui-bundle." in response.text
    assert "/static/dist/swagger-init." in response.text


async def test_instance_endpoint(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/instance")).json()
    assert body["name"] == "FastApp"
    assert set(body) == {"name", "version", "instance_id", "since"}
    again = (await client.get("/api/v1/instance")).json()
    assert again["instance_id"] == body["instance_id"]


async def test_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/not-found"


async def test_validation_errors_name_the_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/items", json={"name": "x", "size": "big"}, headers={"Authorization": "Bearer t"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "/problems/invalid"
    assert [e["field"] for e in body["errors"]] == ["size"]


async def test_domain_errors_map_to_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/missing")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No such item."
    limited = await client.get("/api/v1/limited")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "30"
    assert limited.json()["type"] == "/problems/rate-limited"


async def test_unexpected_errors_hide_details(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/crash")
    assert response.status_code == 500
    assert "secret detail" not in response.text
    assert response.json()["request_id"] == response.headers["x-request-id"]


async def test_debug_mode_names_the_exception(tmp_path: Path, database_url: str, registry: Registry) -> None:
    async with client_for(make_config(tmp_path, database_url, debug=True), registry=registry) as http:
        response = await http.get("/api/v1/crash")
    assert response.json()["exception"] == "RuntimeError: secret detail"


async def test_an_api_write_commits_before_its_response_starts(config: Config) -> None:
    """Else a client could see success for a write that then fails to commit, or read ahead of
    its own write (a token refused just after it was issued)."""
    seen: dict[str, bool] = {"response_started": False}
    registry = build_registry()
    router = APIRouter()

    @router.post("/touch")
    async def touch(ctx: ContextDep) -> dict[str, bool]:
        async def committed() -> None:
            seen["committed_before_response"] = not seen["response_started"]

        ctx.on_commit(committed)
        return {"ok": True}

    registry.api_routers.append(router)
    application = create_app(config, registry=registry)

    async def watching(scope: Any, receive: Any, send: Any) -> None:
        async def tell(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen["response_started"] = True
            await send(message)

        await application(scope, receive, tell)

    async with started(watching) as running:
        transport = httpx.ASGITransport(app=running)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.post("/api/v1/touch")
    assert response.status_code == 200, response.text
    assert seen.get("committed_before_response") is True
