"""The ``email.send`` job against a real SMTP server (aiosmtpd): retries, refusals, suppression,
transactions, headers, inlined CSS and tracking. The queue runs in the test (a ``Worker`` that
retries at once), so a retry is a real second attempt through the job queue."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage as MimeMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from pydantic import SecretStr
from sqlalchemy import func, select

from fastapp.accounts import wiring
from fastapp.app import create_app
from fastapp.config import Config
from fastapp.notifications import queue_email
from fastapp.notifications.delivery import EMAIL_QUEUE, SEND_JOB, send_job_key
from fastapp.notifications.email import kit
from fastapp.notifications.models import EmailEvent, EmailMessage, EmailSuppression, MailStatus
from fastapp.notifications.suppression import suppress
from fastapp.platform.context import Runtime, open_context
from fastapp.platform.jobs import Job, Worker, enqueue
from fastapp.platform.mail import MAILER, OutboxMailer, SmtpMailer
from fastapp.platform.registry import Registry
from tests.accounts.conftest import STRONG, register
from tests.conftest import SITE, root_of, started
from tests.platform.test_mail import Recorder, parse, smtp_server

NOTE = {"title": "Bo commented on your post", "body": "Nice work & more", "user_name": "Ada"}
LINKED = NOTE | {"link": "https://docs.example.org/guide?a=1&b=2"}


@dataclass
class Greylisting(Recorder):
    """Answers 4xx to the first ``refusals`` messages, then accepts like ``Recorder``."""

    refusals: int = 1

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.refusals > 0:
            self.refusals -= 1
            return "451 4.7.1 Greylisted: try again later"
        return await super().handle_DATA(server, session, envelope)


@asynccontextmanager
async def email_app(
    config: Config, *, smtp_port: int | None = None, tracking: bool = False, registry: Registry | None = None
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The app with its mail going to ``smtp_port`` (the outbox without one) and no in-process
    worker: tests run the email queue themselves with ``run_email_jobs``."""
    mail: dict[str, Any] = {"email_tracking": tracking}
    if smtp_port is not None:
        mail["smtp_url"] = SecretStr(f"smtp://127.0.0.1:{smtp_port}?timeout=5")
    configured = config.model_copy(
        update={
            "mail": config.mail.model_copy(update=mail),
            "jobs": config.jobs.model_copy(update={"in_process": False}),
        }
    )
    application = create_app(configured, registry=registry)
    runtime: Runtime = root_of(application).state.runtime
    async with started(application) as running:
        transport = httpx.ASGITransport(app=running)
        async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
            yield client, runtime


async def add_user(runtime: Runtime, address: str = "ada@example.com", name: str = "Ada") -> uuid.UUID:
    async with open_context(runtime, request_id="test", ip=None) as ctx:
        user = await wiring.accounts(runtime, ctx).create_owner(email=address, password=STRONG, display_name=name)
    return user.id


async def queue(
    runtime: Runtime,
    *,
    to: str = "ada@example.com",
    template: str = "notification",
    category: str = "comments",
    mandatory: bool = False,
    user_id: uuid.UUID | None = None,
    context: Mapping[str, Any] = NOTE,
) -> uuid.UUID:
    async with open_context(runtime, request_id="test", ip=None) as ctx:
        message = await queue_email(
            ctx,
            to=to,
            template=template,
            category=category,
            mandatory=mandatory,
            context=context,
            user_id=user_id,
            message_domain="testserver",
        )
    return message.id


async def email_jobs_pending(runtime: Runtime) -> int:
    async with runtime.backends.db.transaction() as session:
        count = await session.scalar(
            select(func.count()).select_from(Job).where(Job.queue == EMAIL_QUEUE, Job.state.in_(("ready", "running")))
        )
    return int(count or 0)


async def run_email_jobs(runtime: Runtime) -> None:
    """Run the email queue until no job of it is waiting or running; retries come at once."""
    worker = Worker(
        runtime, runtime.registry.jobs, queues=(EMAIL_QUEUE,), poll_interval=0.02, retry_delay=lambda _n: 0.0
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(1000):
            await asyncio.sleep(0.02)
            if not await email_jobs_pending(runtime):
                return
        raise AssertionError("the email queue did not drain within 20 s")
    finally:
        stop.set()
        await task


async def load(runtime: Runtime, message_id: uuid.UUID) -> tuple[EmailMessage, list[str]]:
    """The message and its event types, oldest first."""
    async with runtime.backends.db.transaction() as session:
        message = await session.get(EmailMessage, message_id)
        assert message is not None
        events = await session.scalars(
            select(EmailEvent.type).where(EmailEvent.message_id == message_id).order_by(EmailEvent.occurred_at)
        )
        return message, list(events.all())


async def send_job(runtime: Runtime, message_id: uuid.UUID) -> Job:
    async with runtime.backends.db.transaction() as session:
        job = await session.scalar(select(Job).where(Job.idempotency_key == send_job_key(message_id)))
        assert job is not None
        return job


def received(handler: Recorder) -> list[MimeMessage]:
    return [parse(bytes(envelope.original_content or b"")) for envelope in handler.received]


def html_of(mail: MimeMessage) -> str:
    part = mail.get_body(("html",))
    assert isinstance(part, MimeMessage)
    return str(part.get_content())


def text_of(mail: MimeMessage) -> str:
    part = mail.get_body(("plain",))
    assert isinstance(part, MimeMessage)
    return str(part.get_content())


# --- Delivery outcomes ----------------------------------------------------------------------------


async def test_a_temporary_refusal_is_retried_by_the_queue_and_delivered_once(config: Config) -> None:
    handler = Greylisting(refusals=1)
    with smtp_server(handler) as port:
        async with email_app(config, smtp_port=port) as (_client, runtime):
            assert isinstance(runtime.services[MAILER], SmtpMailer)
            message_id = await queue(runtime)
            await run_email_jobs(runtime)
            message, events = await load(runtime, message_id)
            job = await send_job(runtime, message_id)
    assert len(handler.received) == 1
    assert events == ["deferred", "sent"]
    assert message.status == MailStatus.sent.value
    assert message.attempts == 2
    assert message.provider_message_id == message.message_id
    assert message.context is None  # blanked once final
    assert message.subject == NOTE["title"]
    assert (job.state, job.attempts) == ("succeeded", 2)
    [mail] = received(handler)
    assert mail["Message-ID"] == message.message_id
    assert mail["X-FastApp-Category"] == "comments"


async def test_a_refused_recipient_fails_at_once_and_is_suppressed(config: Config) -> None:
    handler = Recorder(rcpt_reply="550 5.1.1 No such user here")
    with smtp_server(handler) as port:
        async with email_app(config, smtp_port=port) as (_client, runtime):
            message_id = await queue(runtime, to="Gone <Gone@Example.com>")
            await run_email_jobs(runtime)
            message, events = await load(runtime, message_id)
            job = await send_job(runtime, message_id)
            async with runtime.backends.db.transaction() as session:
                suppression = await session.get(EmailSuppression, "gone@example.com")
    assert handler.received == []
    assert events == ["failed"]
    assert message.status == MailStatus.failed.value
    assert message.attempts == 1
    assert "550" in (message.last_error or "")
    assert message.context is None
    assert (job.state, job.attempts) == ("succeeded", 1)  # handled: the queue does not retry it
    assert suppression is not None
    assert (suppression.reason, suppression.source) == ("hard_bounce", "smtp")


async def test_refused_content_fails_but_keeps_the_address(config: Config) -> None:
    handler = Recorder(data_reply="554 5.7.1 Message content rejected")
    with smtp_server(handler) as port:
        async with email_app(config, smtp_port=port) as (_client, runtime):
            message_id = await queue(runtime)
            await run_email_jobs(runtime)
            message, events = await load(runtime, message_id)
            async with runtime.backends.db.transaction() as session:
                suppressed = await session.scalar(select(func.count()).select_from(EmailSuppression))
    assert (message.status, events) == (MailStatus.failed.value, ["failed"])
    assert suppressed == 0


async def test_the_last_temporary_failure_marks_the_message_failed(config: Config) -> None:
    handler = Greylisting(refusals=100)
    with smtp_server(handler) as port:
        async with email_app(config, smtp_port=port) as (_client, runtime):
            message_id = await queue(runtime)
            async with runtime.backends.db.transaction() as session:
                job = await session.scalar(select(Job).where(Job.idempotency_key == send_job_key(message_id)))
                assert job is not None
                job.max_attempts = 3
            await run_email_jobs(runtime)
            message, events = await load(runtime, message_id)
            job = await send_job(runtime, message_id)
    assert handler.received == []
    assert Counter(events) == {"deferred": 3, "failed": 1}
    assert message.status == MailStatus.failed.value
    assert message.attempts == 3
    assert message.context is None
    assert (job.state, job.attempts) == ("dead", 3)


async def test_a_suppressed_address_gets_nothing(config: Config) -> None:
    handler = Recorder()
    with smtp_server(handler) as port:
        async with email_app(config, smtp_port=port) as (_client, runtime):
            async with open_context(runtime, request_id="test", ip=None) as ctx:
                await suppress(ctx, "ada@example.com", reason="complaint", source="test")
            message_id = await queue(runtime, to="Ada <ADA@example.com>")
            await run_email_jobs(runtime)
            message, events = await load(runtime, message_id)
    assert handler.received == []
    assert (message.status, events) == (MailStatus.suppressed.value, ["suppressed"])
    assert message.context is None


async def test_a_sent_message_is_never_sent_again(config: Config) -> None:
    handler = Recorder()
    with smtp_server(handler) as port:
        async with email_app(config, smtp_port=port) as (_client, runtime):
            message_id = await queue(runtime)
            await run_email_jobs(runtime)
            async with open_context(runtime, request_id="test", ip=None) as ctx:  # a duplicate delivery
                await enqueue(ctx, SEND_JOB, {"message": str(message_id)}, queue=EMAIL_QUEUE)
            await run_email_jobs(runtime)
            message, events = await load(runtime, message_id)
    assert len(handler.received) == 1
    assert (message.status, events) == (MailStatus.sent.value, ["sent"])


async def test_a_template_that_cannot_render_fails_without_retrying(config: Config) -> None:
    async with email_app(config) as (_client, runtime):
        message_id = await queue(runtime, context={"title": "Missing the name"})
        await run_email_jobs(runtime)
        message, events = await load(runtime, message_id)
        job = await send_job(runtime, message_id)
    assert (message.status, events) == (MailStatus.failed.value, ["failed"])
    assert "user_name" in (message.last_error or "")
    assert (job.state, job.attempts) == ("succeeded", 1)


# --- Transactions ---------------------------------------------------------------------------------


async def _counts(runtime: Runtime) -> tuple[int, int]:
    async with runtime.backends.db.transaction() as session:
        messages = await session.scalar(select(func.count()).select_from(EmailMessage))
        jobs = await session.scalar(select(func.count()).select_from(Job).where(Job.name == SEND_JOB))
    return int(messages or 0), int(jobs or 0)


@pytest.mark.parametrize("keep_on_rollback", [False, True])
async def test_a_rolled_back_transaction_queues_nothing_unless_asked(config: Config, keep_on_rollback: bool) -> None:
    async with email_app(config) as (_client, runtime):

        async def failing_change() -> None:
            async with open_context(runtime, request_id="test", ip=None) as ctx:
                await queue_email(
                    ctx,
                    to="ada@example.com",
                    template="notification",
                    category="security",
                    mandatory=True,
                    context=NOTE,
                    keep_on_rollback=keep_on_rollback,
                )
                raise RuntimeError("the change failed")

        with pytest.raises(RuntimeError, match="the change failed"):
            await failing_change()
        assert await _counts(runtime) == ((1, 1) if keep_on_rollback else (0, 0))


# --- Headers, CSS and tracking --------------------------------------------------------------------


async def test_list_unsubscribe_only_on_non_mandatory_mail(config: Config) -> None:
    handler = Recorder()
    with smtp_server(handler) as port:
        async with email_app(config, smtp_port=port) as (_client, runtime):
            user_id = await add_user(runtime)
            await queue(runtime, user_id=user_id, category="comments")
            await queue(runtime, user_id=user_id, category="security", mandatory=True)
            await run_email_jobs(runtime)
    by_category = {mail["X-FastApp-Category"]: mail for mail in received(handler)}
    notice, security = by_category["comments"], by_category["security"]
    header = str(notice["List-Unsubscribe"])
    assert re.fullmatch(r"<http://testserver/email/unsubscribe\?token=[\w.%-]+>", header), header
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert header[1:-1] in text_of(notice)  # the footer offers the same link
    assert security["List-Unsubscribe"] is None
    assert security["List-Unsubscribe-Post"] is None
    assert "nsubscribe" not in text_of(security)


async def test_the_html_part_carries_its_css_inline(config: Config) -> None:
    handler = Recorder()
    with smtp_server(handler) as port:
        async with email_app(config, smtp_port=port) as (_client, runtime):
            await queue(runtime, context=LINKED)
            await run_email_jobs(runtime)
    [mail] = received(handler)
    html = html_of(mail)
    assert "<style" not in html
    button = re.search(r'<a class="button" href="[^"]*" style="([^"]*)"', html)
    assert button, html
    assert "background-color: #18181b" in button.group(1)
    assert not re.search(r"""(src|href)=["']https?://(?!docs\.example\.org)""", html)  # nothing remote


async def test_tracking_is_off_by_default(config: Config) -> None:
    handler = Recorder()
    with smtp_server(handler) as port:
        async with email_app(config, smtp_port=port) as (_client, runtime):
            await queue(runtime, context=LINKED)
            await run_email_jobs(runtime)
    html = html_of(received(handler)[0])
    assert 'href="https://docs.example.org/guide?a=1&amp;b=2"' in html
    assert "/email/click/" not in html
    assert "/email/open/" not in html


async def test_tracking_rewrites_links_and_adds_a_pixel_to_non_mandatory_mail(config: Config) -> None:
    handler = Recorder()
    with smtp_server(handler) as port:
        async with email_app(config, smtp_port=port, tracking=True) as (_client, runtime):
            user_id = await add_user(runtime)
            tracked = await queue(runtime, user_id=user_id, context=LINKED)
            await queue(runtime, user_id=user_id, category="security", mandatory=True, context=LINKED)
            await run_email_jobs(runtime)
            tokens = kit(runtime).tokens
            by_category = {mail["X-FastApp-Category"]: html_of(mail) for mail in received(handler)}
            html, mandatory = by_category["comments"], by_category["security"]
            clicks = re.findall(r'href="http://testserver/email/click/([^"]+)"', html)
            assert clicks
            assert {tokens.read_click(token) for token in clicks} == {(tracked, LINKED["link"])}
            assert 'href="https://docs.example.org' not in html  # every web link goes through the redirect
            assert 'href="http://testserver/email/unsubscribe?token=' in html  # the mail's own links stay
            [pixel] = re.findall(r'<img src="http://testserver/email/open/([^"]+)" width="1" height="1"', html)
            assert tokens.read_open(pixel) == tracked
            assert html.index("/email/open/") < html.index("</body>")
    assert "/email/" not in mandatory
    assert 'href="https://docs.example.org/guide?a=1&amp;b=2"' in mandatory


# --- Identity mail --------------------------------------------------------------------------------


async def test_identity_mail_is_mandatory_and_goes_through_the_outbox(config: Config) -> None:
    async with email_app(config) as (client, runtime):
        assert isinstance(runtime.services[MAILER], OutboxMailer)
        await register(client, "new@example.com")
        await run_email_jobs(runtime)
        async with runtime.backends.db.transaction() as session:
            message = await session.scalar(select(EmailMessage).where(EmailMessage.to_address == "new@example.com"))
            assert message is not None
    assert (message.template, message.category, message.mandatory) == ("verify_email", "account", True)
    assert message.status == MailStatus.sent.value
    assert message.user_id is not None
    assert message.message_id.endswith("@testserver>")
    assert message.context is None  # the verification link is not kept
    assert len(list((config.app.var_dir / "mail").glob("*.eml"))) == 1
