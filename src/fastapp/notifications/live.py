"""Live updates: a Server-Sent Events stream per signed-in browser, fed by cache pub/sub.

Services publish after their transaction commits (``publish``) on the user's channel
``notifications:<user_id>``: the in-process memory cache delivers inside one process (the
embedded default), Redis delivers across every web process. ``EventStream`` is a pure-ASGI
response that subscribes to one user's channel and relays its events as they come, with a
comment line every ``HEARTBEAT_S`` seconds so proxies keep the connection open and a vanished
client is noticed. It holds no database connection while it waits: the first event's count is
read in a short transaction of its own, and later events carry their count.

A stream ends when the client disconnects, when its subscription breaks or after
``LIFETIME_S`` (the browser's EventSource reconnects by itself, authenticating again), or when
the app stops. uvicorn waits for open responses to finish before it runs the lifespan
shutdown, so a stream cannot wait for that: the background task ``watch_for_shutdown`` also
chains onto the process's exit signals and ends every stream as soon as one arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
import uuid
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

import structlog
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from fastapp.platform.cache import Cache, Subscription
from fastapp.platform.context import Runtime

log = structlog.get_logger("fastapp.notifications.live")

HEARTBEAT_S = 15.0
#: A stream ends after this long and the browser reconnects, which signs it in afresh: a session
#: that ended (signed out elsewhere, revoked) stops receiving within this time.
LIFETIME_S = 300.0
#: Events a slow client may fall behind by before the oldest are dropped (the next one carries
#: the current count anyway).
BACKLOG = 100
#: How long a browser waits before reconnecting after the stream ends.
RETRY_MS = 5000
CLOSING_KEY = "notifications.live-closing"
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache, no-store"),
    # nginx and similar proxies buffer responses unless told not to.
    (b"x-accel-buffering", b"no"),
]


def channel(user_id: uuid.UUID) -> str:
    """The pub/sub channel of one user's notifications."""
    return f"notifications:{user_id}"


async def publish(
    cache: Cache,
    user_id: uuid.UUID,
    *,
    unread: int,
    title: str | None = None,
    link: str | None = None,
    notification_id: uuid.UUID | None = None,
) -> None:
    """Tell ``user_id``'s open pages their unread count, and the title of a new notification
    when there is one. Call it after the change committed; a failure is the caller's to log."""
    event: dict[str, Any] = {"event": "notification" if title is not None else "unread", "unread": unread}
    if title is not None:
        event.update(title=title, link=link, id=str(notification_id) if notification_id else None)
    await cache.publish(channel(user_id), json.dumps(event, separators=(",", ":")).encode())


def sse(event: str, data: dict[str, Any], *, retry_ms: int | None = None) -> bytes:
    """One Server-Sent Events message: ``event`` with ``data`` as one line of JSON."""
    retry = f"retry: {retry_ms}\n" if retry_ms is not None else ""
    return f"{retry}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _relayed(message: bytes) -> bytes | None:
    """The SSE message for a published event, or None for one that is not ours."""
    try:
        event = json.loads(message)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("event") not in {"notification", "unread"}:
        return None
    name = event.pop("event")
    return sse(name, event)


def closing_event(runtime: Runtime) -> asyncio.Event:
    """Set when the app is stopping: every open stream ends."""
    event: asyncio.Event | None = runtime.services.get(CLOSING_KEY)
    if event is None:
        event = runtime.services[CLOSING_KEY] = asyncio.Event()
    return event


class EventStream(Response):
    """The ``text/event-stream`` response of one user's notifications.

    ``initial`` returns the first event (the unread count); it runs after the subscription is in
    place, so nothing published meanwhile is lost.
    """

    def __init__(
        self,
        cache: Cache,
        user_id: uuid.UUID,
        initial: Callable[[], Awaitable[bytes]],
        *,
        closing: asyncio.Event,
        heartbeat: float = HEARTBEAT_S,
        lifetime: float = LIFETIME_S,
    ) -> None:
        super().__init__(media_type="text/event-stream")
        self.raw_headers = list(HEADERS)  # no Content-Length: the body is streamed
        self.cache = cache
        self.channel = channel(user_id)
        self.initial = initial
        self.closing = closing
        self.heartbeat = heartbeat
        self.lifetime = lifetime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with self.cache.subscribe(self.channel) as subscription:
            first = await self.initial()
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            try:
                await self._relay(subscription, first, receive, send)
            except OSError:
                return  # the client went away while we wrote (ASGI 2.4 servers say so this way)

    async def _relay(self, subscription: Subscription, first: bytes, receive: Receive, send: Send) -> None:
        backlog: asyncio.Queue[bytes] = asyncio.Queue(maxsize=BACKLOG)

        async def listen() -> None:
            async for _channel, message in subscription:
                chunk = _relayed(message)
                if chunk is None:
                    continue
                if backlog.full():
                    backlog.get_nowait()
                backlog.put_nowait(chunk)

        async def disconnected() -> None:
            message: Message = await receive()
            while message["type"] != "http.disconnect":
                message = await receive()

        listener = asyncio.create_task(listen())
        gone = asyncio.create_task(disconnected())
        stopping = asyncio.create_task(self.closing.wait())
        waiting: asyncio.Task[bytes] | None = None
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + self.lifetime
        try:
            await send({"type": "http.response.body", "body": first, "more_body": True})
            while (left := ends_at - loop.time()) > 0:
                if waiting is None:  # a getter outlives heartbeats: a second one could swallow an event
                    waiting = asyncio.create_task(backlog.get())
                done, _ = await asyncio.wait(
                    {waiting, listener, gone, stopping},
                    timeout=min(self.heartbeat, left),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if waiting in done:
                    chunk, waiting = waiting.result(), None
                elif gone in done:
                    return  # nobody to tell
                elif listener in done or stopping in done:
                    break  # the subscription broke, or the app stops: the browser reconnects
                elif ends_at - loop.time() <= 0:
                    break  # time to reconnect (and authenticate again)
                else:
                    chunk = b": heartbeat\n\n"
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            tasks = [t for t in (listener, gone, stopping, waiting) if t is not None]
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            broken = [r for r in results[:1] if isinstance(r, Exception)]
            if broken:
                log.warning("notification stream subscription failed", error=str(broken[0]))


ExitHandler = Callable[[int, FrameType | None], Any]


def chain_exit_signals(on_exit: Callable[[], None]) -> Callable[[], None]:
    """Call ``on_exit`` too when SIGINT or SIGTERM arrives, before the handler already installed
    (the server's); returns a function that puts the previous handlers back.

    Only a Python-level handler is chained: a default or ignored disposition is left alone, so
    this never changes whether a signal stops the process. Signals are handled in the main
    thread only; elsewhere (a server run in a thread by a test) nothing is chained.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, ExitHandler] = {}
    installed: dict[int, ExitHandler] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(sig)
        if not callable(handler):
            continue

        def chained(signum: int, frame: FrameType | None, _then: ExitHandler = handler) -> Any:
            on_exit()
            return _then(signum, frame)

        previous[sig] = handler
        installed[sig] = chained
        signal.signal(sig, chained)

    def restore() -> None:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is installed[sig]:  # nobody replaced ours meanwhile
                signal.signal(sig, handler)

    return restore


async def watch_for_shutdown(runtime: Runtime) -> None:
    """Background task of each process: end every open stream when the app stops.

    Set on an exit signal (before the server waits for open responses) and when the lifespan
    cancels background tasks (servers that stop their app first, and tests).
    """
    closing = closing_event(runtime)
    if closing.is_set():  # left over from an earlier start of this runtime
        closing = runtime.services[CLOSING_KEY] = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_exit() -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nothing left to end
            loop.call_soon_threadsafe(closing.set)

    restore = chain_exit_signals(on_exit)
    try:
        await asyncio.Event().wait()  # until the app cancels its background tasks
    finally:
        closing.set()
        with contextlib.suppress(ValueError):  # not the main thread any more (interpreter exit)
            restore()
