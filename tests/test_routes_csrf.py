"""Every unsafe route of the assembled app refuses a request without a valid CSRF token and
accepts one with it: routes added later are covered without anyone remembering to."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route

from fastapp.app import build_registry, create_app
from fastapp.config import Config
from fastapp.platform.csrf import SAFE_METHODS
from tests.conftest import csrf_token, root_of

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
#: The only routes that take unsafe requests without a CSRF token, each verifying something else:
#: provider webhooks (SNS signature, Basic auth) and RFC 8058 one-click unsubscribe (signed token).
#: Adding one is a security decision: it must be added here too.
EXEMPT = {"/webhooks/email/ses", "/webhooks/email/postmark", "/email/unsubscribe"}


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    for route in routes:
        if isinstance(route, Mount):
            inner = getattr(route.app, "routes", None)
            if inner is not None:
                yield from _walk(inner, prefix + route.path)
        elif isinstance(route, Route):
            yield prefix + route.path, set(route.methods or ())


def unsafe_routes(config: Config) -> list[tuple[str, str]]:
    """Every unsafe method and path of the app, but the declared CSRF exemptions."""
    registry = build_registry()
    found = []
    for path, methods in _walk(root_of(create_app(config, registry=registry)).routes):
        if path in registry.csrf_exempt:
            continue
        concrete = re.sub(r"\{[^}]+\}", "1", path)
        found.extend((method, concrete) for method in sorted(methods - SAFE_METHODS) if method in UNSAFE)
    return found


def test_the_walk_finds_the_apps_unsafe_routes(config: Config) -> None:
    routes = unsafe_routes(config)
    assert ("POST", "/preferences/theme") in routes
    assert all(method in UNSAFE for method, _ in routes)


def test_only_the_declared_routes_are_exempt() -> None:
    assert build_registry().csrf_exempt == EXEMPT


async def test_every_unsafe_route_needs_a_token(client: httpx.AsyncClient, config: Config) -> None:
    routes = unsafe_routes(config)
    assert routes, "no unsafe route found: the walk is broken"
    token = await csrf_token(client)
    for method, path in routes:
        refused = await client.request(method, path, data={"x": "1"})
        assert refused.status_code == 403, (method, path)
        assert "could not be verified" in refused.text, (method, path)
        wrong = await client.request(method, path, data={"x": "1"}, headers={"X-CSRF-Token": token[::-1]})
        assert wrong.status_code == 403, (method, path)
        accepted = await client.request(method, path, data={"x": "1"}, headers={"X-CSRF-Token": token})
        assert "could not be verified" not in accepted.text, (method, path)
        assert accepted.status_code != 403 or "csrf" not in accepted.text.lower(), (method, path)


@pytest.mark.parametrize("method", UNSAFE)
async def test_unrouted_unsafe_requests_are_refused_too(client: httpx.AsyncClient, method: str) -> None:
    await csrf_token(client)  # a browser with a session cookie
    assert (await client.request(method, "/")).status_code == 403
    assert (await client.request(method, "/api/v1/instance")).status_code == 403
