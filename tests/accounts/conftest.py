"""Helpers for account flows: read the mail outbox, follow its links, make verified users."""

from __future__ import annotations

import asyncio
import email
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from fastapp.config import Config
from fastapp.notifications.delivery import SEND_JOB
from fastapp.platform.db import Database
from fastapp.platform.jobs import Job
from tests.conftest import csrf_token

STRONG = "correct horse battery staple 42"
LINK = re.compile(r"https?://[^\s\"'<>]+")


def outbox(config: Config) -> list[EmailMessage]:
    folder = config.app.var_dir / "mail"
    if not folder.exists():
        return []
    messages = []
    for path in sorted(folder.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def delivered(config: Config) -> None:
    """Wait until the queued mail that is due has been sent (mail goes through the job queue:
    ``email.send`` jobs, written to the outbox by the test configuration's mailer)."""
    db = Database.from_url(config.database_url)
    try:
        for _ in range(500):
            async with db.transaction() as session:
                due = await session.scalar(
                    select(func.count())
                    .select_from(Job)
                    .where(Job.name == SEND_JOB, Job.state.in_(("ready", "running")), Job.run_at <= utc_now())
                )
            if not due:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("queued mail was not sent within 10 s")
    finally:
        await db.dispose()


def utc_now() -> datetime:
    return datetime.now(UTC)


async def mails_to(config: Config, address: str) -> list[EmailMessage]:
    await delivered(config)
    return [m for m in outbox(config) if address.lower() in str(m["To"]).lower()]


async def last_link(config: Config, address: str, path: str) -> str:
    """The path and query of the last link to ``path`` mailed to ``address``."""
    for message in reversed(await mails_to(config, address)):
        for url in LINK.findall(text_of(message)):
            if path in url:
                return url[url.index(path) :]
    raise AssertionError(f"no mail to {address} with a link to {path}")


def token_of(link: str) -> str:
    return link.split("token=", 1)[1]


@contextmanager
def as_script(client: httpx.AsyncClient) -> Iterator[httpx.AsyncClient]:
    """The client without its browser cookies, as an API script would call (no CSRF token)."""
    saved = httpx.Cookies(client.cookies)
    client.cookies.clear()
    try:
        yield client
    finally:
        client.cookies.clear()
        client.cookies.update(saved)


async def register(client: httpx.AsyncClient, address: str, password: str = STRONG, name: str = "Ada") -> None:
    with as_script(client):
        response = await client.post(
            "/api/v1/auth/register", json={"email": address, "password": password, "display_name": name}
        )
    assert response.status_code == 202, response.text


async def verified_user(client: httpx.AsyncClient, config: Config, address: str, password: str = STRONG) -> None:
    await register(client, address, password)
    token = token_of(await last_link(config, address, "/verify-email"))
    with as_script(client):
        response = await client.post("/api/v1/auth/verify-email", json={"token": token})
    assert response.status_code == 200, response.text


async def api_tokens(client: httpx.AsyncClient, address: str, password: str = STRONG) -> dict[str, str]:
    with as_script(client):
        response = await client.post("/api/v1/auth/token", json={"email": address, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def sign_in(client: httpx.AsyncClient, address: str, password: str = STRONG, **extra: str) -> httpx.Response:
    """Sign in through the page form; the client keeps the session cookie."""
    token = await csrf_token(client, "/sign-in")
    return await client.post("/sign-in", data={"email": address, "password": password, "csrf_token": token, **extra})


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def mail_dir(config: Config) -> Path:
    return config.app.var_dir / "mail"
