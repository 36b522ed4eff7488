"""Live updates: the Server-Sent Events stream relays what is published on a user's channel
(in-process memory, and Redis when FASTAPP_TEST_REDIS_URL is set), beats its heart, and ends on
disconnect or when the app stops, leaving no subscription behind. One test runs a real uvicorn:
an administrator grants a role over the API and the member's open stream says so at once."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from fastapp.app import create_app
from fastapp.config import Config
from fastapp.notifications import live, notify
from fastapp.platform.cache import Cache, MemoryCache, RedisCache
from fastapp.platform.context import Runtime, open_context
from tests.accounts.conftest import STRONG, api_tokens, bearer, sign_in
from tests.conftest import root_of, started
from tests.notifications import test_services as shared
from tests.notifications.test_services import NEWS, make_user

config, registry, runtime = shared.config, shared.registry, shared.runtime
WAIT_S = 10  # a ceiling against hanging, not a measurement


@dataclass
class Stream:
    start: dict[str, Any]
    chunks: asyncio.Queue[bytes | None]
    task: asyncio.Task[None]

    async def chunk(self) -> bytes | None:
        """The next body chunk; None once the response has ended."""
        return await asyncio.wait_for(self.chunks.get(), WAIT_S)

    async def event(self) -> tuple[str, dict[str, Any]]:
        """The next event (heartbeats skipped) as (name, data)."""
        while True:
            chunk = await self.chunk()
            assert chunk is not None, "the stream ended"
            fields = dict(line.split(": ", 1) for line in chunk.decode().splitlines() if line and ": " in line)
            if "event" in fields:
                return fields["event"], json.loads(fields["data"])

    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.start["headers"]}


@asynccontextmanager
async def open_stream(app: Any, *, cookie: str = "", path: str = "/notifications/stream") -> AsyncIterator[Stream]:
    """Call ``app`` the way a server does for one streaming GET; disconnect when the block ends.

    (httpx's ASGI transport collects a whole response before returning it, so it cannot read a
    stream that never ends.)"""
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
    started_response: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    gone = asyncio.Event()
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started_response.set_result(message)
        elif message["type"] == "http.response.body":
            if message.get("body"):
                chunks.put_nowait(message["body"])
            if not message.get("more_body"):
                chunks.put_nowait(None)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"accept", b"text/event-stream"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    task = asyncio.create_task(app(scope, receive, send))
    try:
        start = await asyncio.wait_for(asyncio.shield(started_response), WAIT_S)
        yield Stream(start, chunks, task)
    finally:
        gone.set()
        await asyncio.wait_for(task, WAIT_S)


def cookie_header(client: httpx.AsyncClient) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)


async def listeners(cache: Cache, user_id: uuid.UUID) -> int:
    """How many subscriptions a message on ``user_id``'s channel reaches (a probe streams ignore)."""
    return await cache.publish(live.channel(user_id), b"probe")


async def test_the_stream_relays_published_events(
    app: object, client: httpx.AsyncClient, runtime: Runtime, config: Config
) -> None:
    ada = await make_user(runtime, "ada@example.com")
    assert (await sign_in(client, "ada@example.com")).status_code == 303

    async with open_stream(app, cookie=cookie_header(client)) as stream:
        assert stream.start["status"] == 200
        headers = stream.headers()
        assert headers["content-type"] == "text/event-stream; charset=utf-8"
        assert headers["cache-control"] == "no-cache, no-store"
        assert headers["x-accel-buffering"] == "no"
        assert "content-length" not in headers
        # At once: the count, and how long to wait before reconnecting.
        assert await stream.chunk() == b'retry: 5000\nevent: unread\ndata: {"unread":0}\n\n'
        async with open_context(runtime, request_id="t", ip=None) as ctx:
            [made] = await notify(ctx, [ada], "news.posted", NEWS)
        name, data = await stream.event()
        assert (name, data) == (
            "notification",
            {"unread": 1, "title": "New post: Hello", "link": "/posts/hello", "id": str(made.id)},
        )
        # From another process: a cache client of its own (through the Redis server when configured).
        other = RedisCache(config.redis.url, prefix=config.redis.prefix) if config.redis.url else runtime.backends.cache
        try:
            await runtime.backends.cache.publish(live.channel(ada), b"not json")  # ignored
            await runtime.backends.cache.publish(live.channel(uuid.uuid4()), b'{"event":"unread","unread":9}')
            await live.publish(other, ada, unread=7)
            assert await stream.event() == ("unread", {"unread": 7})
        finally:
            if other is not runtime.backends.cache:
                await other.close()
    assert stream.task.done()
    assert await listeners(runtime.backends.cache, ada) == 0


async def test_a_stream_beats_its_heart_and_ends_when_told() -> None:
    cache = MemoryCache()
    closing = asyncio.Event()
    user = uuid.uuid4()

    async def initial() -> bytes:
        return live.sse("unread", {"unread": 3})

    stream_app = live.EventStream(cache, user, initial, closing=closing, heartbeat=0.01)
    async with open_stream(stream_app) as stream:
        assert await stream.chunk() == b'event: unread\ndata: {"unread":3}\n\n'
        assert await stream.chunk() == b": heartbeat\n\n"
        assert await listeners(cache, user) == 1
        await live.publish(cache, user, unread=4)  # after heartbeats, an event still gets through
        assert await stream.event() == ("unread", {"unread": 4})
        closing.set()
        while (chunk := await stream.chunk()) is not None:
            assert chunk == b": heartbeat\n\n"
        await asyncio.wait_for(stream.task, WAIT_S)
    assert await listeners(cache, user) == 0

    # A client that goes away ends its stream too, and its subscription with it.
    quiet = live.EventStream(cache, user, initial, closing=asyncio.Event())
    async with open_stream(quiet) as stream:
        assert await stream.event() == ("unread", {"unread": 3})
        assert await listeners(cache, user) == 1
    assert stream.task.done() and await listeners(cache, user) == 0


async def test_a_stream_ends_after_its_lifetime_so_the_browser_signs_in_again() -> None:
    cache = MemoryCache()
    user = uuid.uuid4()

    async def initial() -> bytes:
        return live.sse("unread", {"unread": 0})

    stream_app = live.EventStream(cache, user, initial, closing=asyncio.Event(), lifetime=0.05)
    async with open_stream(stream_app) as stream:
        assert await stream.event() == ("unread", {"unread": 0})
        while (chunk := await stream.chunk()) is not None:
            assert chunk == b": heartbeat\n\n"
    assert await listeners(cache, user) == 0


async def test_stopping_the_app_ends_open_streams(config: Config) -> None:
    application = create_app(config)
    async with started(application) as running:
        stream_runtime: Runtime = root_of(application).state.runtime
        await make_user(stream_runtime, "ada@example.com")
        transport = httpx.ASGITransport(app=running)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            await sign_in(client, "ada@example.com")
            cookie = cookie_header(client)
        context = open_stream(running, cookie=cookie)
        stream = await context.__aenter__()
        assert await stream.event() == ("unread", {"unread": 0})
    # The lifespan has run its shutdown: the stream said goodbye and finished on its own.
    while (chunk := await stream.chunk()) is not None:
        assert chunk.startswith(b":")
    assert stream.task.done()
    await context.__aexit__(None, None, None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def uvicorn_server(config: Config) -> AsyncIterator[str]:
    """The app served by a real uvicorn in a thread of its own (its own event loop)."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        for _ in range(WAIT_S * 50):
            if server.started:
                break
            await asyncio.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, WAIT_S)
        assert not thread.is_alive()


async def test_a_role_granted_over_the_api_reaches_the_open_page_live(config: Config) -> None:
    application = create_app(config)
    async with started(application):  # the accounts, made before serving
        made_runtime: Runtime = root_of(application).state.runtime
        await make_user(made_runtime, "root@example.com", "Root")
        ada = await make_user(made_runtime, "ada@example.com")
        async with open_context(made_runtime, request_id="t", ip=None) as ctx:
            from fastapp.accounts import wiring

            service = wiring.accounts(made_runtime, ctx)
            await service.set_role(await service.get_user(ada), "member", granter=None)

    async with uvicorn_server(config) as url, httpx.AsyncClient(base_url=url, timeout=WAIT_S) as member:
        assert (await sign_in(member, "ada@example.com")).status_code == 303
        async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as admin:
            auth = bearer(await api_tokens(admin, "root@example.com", STRONG))
            async with member.stream("GET", "/notifications/stream") as response:
                assert response.status_code == 200
                assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
                lines = response.aiter_lines()

                async def next_event() -> tuple[str, dict[str, Any]]:
                    name = ""
                    while True:
                        line = await asyncio.wait_for(anext(lines), WAIT_S)
                        if line.startswith("event: "):
                            name = line[7:]
                        elif line.startswith("data: ") and name:
                            return name, json.loads(line[6:])

                assert await next_event() == ("unread", {"unread": 1})  # the member role, earlier
                granted = await admin.put(f"/api/v1/users/{ada}/role", json={"role": "admin"}, headers=auth)
                assert granted.status_code == 200, granted.text
                name, data = await next_event()
                assert name == "notification"
                assert data["title"] == "You now have the admin role" and data["unread"] == 2
                assert data["link"] == "/account/security"


def test_exit_signals_end_streams_before_the_server_waits_for_them() -> None:
    """uvicorn waits for open responses before the lifespan shutdown: the streams learn of the
    exit from the signal itself, and the server's own handler still runs."""
    seen: list[str] = []
    original = signal.signal(signal.SIGTERM, lambda _sig, _frame: seen.append("server"))
    try:
        restore = live.chain_exit_signals(lambda: seen.append("streams"))
        signal.raise_signal(signal.SIGTERM)
        assert seen == ["streams", "server"]
        restore()
        signal.raise_signal(signal.SIGTERM)
        assert seen == ["streams", "server", "server"]  # put back as it was
    finally:
        signal.signal(signal.SIGTERM, original)
