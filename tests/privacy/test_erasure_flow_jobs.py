"""The erasure's schedule and its administration: the reminder once, the erasure when due (the
last mail sent before the address goes, a failure retried), a legal hold pausing it until
released, processing now, and /admin/privacy behind ``privacy:manage``."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from fastapp.accounts import wiring
from fastapp.audit.models import AuditEvent
from fastapp.config import Config
from fastapp.notifications.models import EmailMessage
from fastapp.platform.context import Runtime, open_context
from fastapp.platform.jobs import Job
from fastapp.platform.mail import MAILER, MailDeliveryError, Message
from fastapp.privacy.erasure import tasks
from fastapp.privacy.erasure.services import RUN_JOB
from fastapp.privacy.models import ErasureRequest
from tests.accounts.conftest import STRONG, api_tokens, as_script, bearer, outbox, sign_in, text_of
from tests.conftest import csrf_token, make_config, root_of
from tests.privacy.test_erasure_flow import ADA, make_owner, move_clock, user_named

OWNER = "olive@example.com"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    """No worker in the web process: each test runs the erasure jobs itself, at its own time."""
    return make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def scheduled(client: httpx.AsyncClient, config: Config) -> ErasureRequest:
    """Ada, a member, asks for her erasure through the API; her request."""
    await make_member(root_of(client._transport.app).state.runtime, ADA)  # type: ignore[attr-defined]
    tokens = await api_tokens(client, ADA)
    with as_script(client):
        assert (
            await client.post("/api/v1/me/erasure", json={"confirm": ADA}, headers=bearer(tokens))
        ).status_code == 202
    return await request_of(root_of(client._transport.app).state.runtime)  # type: ignore[attr-defined]


async def make_member(runtime: Runtime, address: str) -> None:
    """A verified member, made directly (sign-up's mail would need the worker these tests stop)."""
    async with open_context(runtime, request_id="test", ip=None) as ctx:
        user = await wiring.accounts(runtime, ctx).register(email=address, password=STRONG, display_name="Ada")
        assert user is not None
        user.email_verified_at, user.status = ctx.clock.now(), "active"


async def request_of(runtime: Runtime) -> ErasureRequest:
    async with runtime.backends.db.transaction() as session:
        found = await session.scalar(select(ErasureRequest))
        assert found is not None
        return found


async def sweep(runtime: Runtime) -> None:
    async with open_context(runtime, request_id="sweep", ip=None) as ctx:
        await tasks.sweep(runtime, ctx, {})


async def run_jobs(runtime: Runtime) -> list[str]:
    """Run every queued erasure job once (as the worker would); the request ids they named."""
    async with runtime.backends.db.transaction() as session:
        jobs = list(await session.scalars(select(Job).where(Job.name == RUN_JOB, Job.state == "ready")))
    for job in jobs:
        async with open_context(runtime, request_id=f"job:{job.id}", ip=None) as ctx:
            await tasks.run(runtime, ctx, {"request": job.payload.split('"')[3]})
        async with runtime.backends.db.transaction() as session:
            row = await session.get(Job, job.id)
            assert row is not None
            row.state = "succeeded"
    return [job.payload for job in jobs]


async def reminders(runtime: Runtime) -> list[EmailMessage]:
    async with runtime.backends.db.transaction() as session:
        return list(await session.scalars(select(EmailMessage).where(EmailMessage.template == "erasure_reminder")))


async def audit(runtime: Runtime, action: str) -> list[AuditEvent]:
    async with runtime.backends.db.transaction() as session:
        return list(await session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


async def test_the_reminder_goes_once_at_seven_days_before(
    runtime: Runtime, client: httpx.AsyncClient, config: Config
) -> None:
    request = await scheduled(client, config)
    ahead = timedelta(days=config.privacy.erasure_reminder_days)
    move_clock(runtime, request.due_at - ahead - timedelta(hours=1) - request.requested_at)
    await sweep(runtime)
    assert await reminders(runtime) == []
    move_clock(runtime, request.due_at - ahead + timedelta(minutes=1) - request.requested_at)
    await sweep(runtime)
    await sweep(runtime)
    [mail] = await reminders(runtime)
    assert mail.to_address == ADA and mail.mandatory
    assert (await request_of(runtime)).reminder_sent_at is not None
    assert await run_jobs(runtime) == []  # not due yet


async def test_a_due_erasure_sends_the_last_mail_then_erases(
    runtime: Runtime, client: httpx.AsyncClient, config: Config
) -> None:
    request = await scheduled(client, config)
    user_id = request.user_id
    move_clock(runtime, request.due_at + timedelta(minutes=1) - request.requested_at)

    # The mailer refuses for now: nothing is erased, the request notes why, the job retries.
    real = runtime.services[MAILER]

    class Refusing:
        async def send(self, message: Message) -> str:
            raise MailDeliveryError("try later", permanent=False, code=451)

    runtime.services[MAILER] = Refusing()
    await sweep(runtime)
    with pytest.raises(MailDeliveryError):
        await run_jobs(runtime)
    failed = await request_of(runtime)
    assert failed.status == "scheduled" and "try later" in (failed.error or "")
    assert (await user_named(runtime, ADA)).status == "deletion_requested"

    runtime.services[MAILER] = real
    async with open_context(runtime, request_id="retry", ip=None) as ctx:
        await tasks.run(runtime, ctx, {"request": str(request.id)})
    done = await request_of(runtime)
    assert done.status == "completed" and done.completed_at is not None and done.error is None
    async with runtime.backends.db.transaction() as session:
        from fastapp.accounts.models import User

        user = await session.get(User, user_id)
        assert user is not None
        assert user.status == "erased" and ADA not in user.email and user.display_name != "Ada"
    [last] = [m for m in outbox(config) if "has been deleted" in str(m["Subject"])]
    assert str(last["To"]) == ADA and "This is the last message" in text_of(last)
    [event] = await audit(runtime, "privacy.erasure.processed")
    assert event.actor_id == "privacy.erasure" and ADA not in str(event.data)

    # Running it again changes nothing.
    async with open_context(runtime, request_id="again", ip=None) as ctx:
        assert await tasks.erase(runtime, ctx, request.id) is False


async def test_a_legal_hold_pauses_the_erasure_until_released(
    runtime: Runtime, client: httpx.AsyncClient, config: Config
) -> None:
    request = await scheduled(client, config)
    await make_owner(runtime, OWNER)
    await make_owner(runtime, "otto@example.com")
    assert (await sign_in(client, OWNER)).status_code == 303
    listed = await client.get("/admin/privacy")
    assert listed.status_code == 200 and ADA in listed.text and "Place legal hold" in listed.text
    hold_url = f"/admin/privacy/erasures/{request.id}/hold"
    form = await client.get(hold_url)
    assert form.status_code == 200 and "Reason for the hold" in form.text
    token = await csrf_token(client, hold_url)
    empty = await client.post(hold_url, data={"reason": " ", "csrf_token": token})
    assert empty.status_code == 422 and "Give the reason for the hold" in empty.text
    assert (await request_of(runtime)).hold_reason is None
    held = await client.post(hold_url, data={"reason": "Litigation hold, case 42", "csrf_token": token})
    assert held.status_code == 303 and held.headers["location"] == "/admin/privacy?done=hold"
    shown = await client.get(held.headers["location"])
    assert "On legal hold" in shown.text and "Litigation hold, case 42" in shown.text
    twice = await client.post(hold_url, data={"reason": "again", "csrf_token": token})
    assert twice.status_code == 409

    # Due, but held: no reminder, no job, and the erasure itself refuses to run.
    move_clock(runtime, request.due_at + timedelta(days=2) - request.requested_at)
    await sweep(runtime)
    assert await run_jobs(runtime) == [] and await reminders(runtime) == []
    async with open_context(runtime, request_id="held", ip=None) as ctx:
        assert await tasks.erase(runtime, ctx, request.id) is False
    assert (await user_named(runtime, ADA)).status == "deletion_requested"

    # Released: the erasure runs.
    assert (await sign_in(client, OWNER)).status_code == 303
    token = await csrf_token(client, "/admin/privacy")
    process_refused = await client.post(f"/admin/privacy/erasures/{request.id}/process", data={"csrf_token": token})
    assert process_refused.status_code == 409 and "release the hold first" in process_refused.text
    released = await client.post(f"/admin/privacy/erasures/{request.id}/release", data={"csrf_token": token})
    assert released.status_code == 303 and released.headers["location"] == "/admin/privacy?done=release"
    assert len(await run_jobs(runtime)) == 1
    assert (await request_of(runtime)).status == "completed"
    assert await user_named_status(runtime, request.user_id) == "erased"
    assert [e.action for e in await audit(runtime, "privacy.erasure.held")] == ["privacy.erasure.held"]
    assert len(await audit(runtime, "privacy.erasure.released")) == 1
    nothing = await client.get("/admin/privacy")
    assert "No pending erasures" in nothing.text


async def test_process_now_is_confirmed_audited_and_runs(
    runtime: Runtime, client: httpx.AsyncClient, config: Config
) -> None:
    request = await scheduled(client, config)
    await make_owner(runtime, OWNER)
    assert (await sign_in(client, OWNER)).status_code == 303
    url = f"/admin/privacy/erasures/{request.id}/process"
    review = await client.get(url)
    assert review.status_code == 200 and "Erase this account now?" in review.text and ADA in review.text
    assert await run_jobs(runtime) == []  # the review changes nothing
    token = await csrf_token(client, url)
    done = await client.post(url, data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == "/admin/privacy?done=process"
    [queued] = await audit(runtime, "privacy.erasure.processed")
    owner = await user_named(runtime, OWNER)
    assert queued.actor_id == str(owner.id) and json.loads(queued.data)["stage"] == "queued"
    assert len(await run_jobs(runtime)) == 1
    assert (await request_of(runtime)).status == "completed"
    assert (await user_named_status(runtime, request.user_id)) == "erased"
    missing = await client.get(f"/admin/privacy/erasures/{uuid.uuid4()}/process")
    assert missing.status_code == 404
    assert (await client.get("/admin/privacy/erasures/not-an-id/hold")).status_code == 404


async def user_named_status(runtime: Runtime, user_id: uuid.UUID) -> str:
    from fastapp.accounts.models import User

    async with runtime.backends.db.transaction() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user.status


async def test_the_admin_pages_and_api_need_the_permission(
    runtime: Runtime, client: httpx.AsyncClient, config: Config
) -> None:
    request = await scheduled(client, config)
    await make_member(runtime, "mo@example.com")
    assert (await sign_in(client, "mo@example.com")).status_code == 303
    assert (await client.get("/admin/privacy")).status_code == 403
    token = await csrf_token(client, "/privacy")
    refused = await client.post(f"/admin/privacy/erasures/{request.id}/process", data={"csrf_token": token})
    assert refused.status_code == 403
    member = await api_tokens(client, "mo@example.com")
    await make_owner(runtime, OWNER)
    owner = await api_tokens(client, OWNER)
    with as_script(client):
        assert (await client.get("/api/v1/admin/erasures", headers=bearer(member))).status_code == 403
        listed = await client.get("/api/v1/admin/erasures", headers=bearer(owner))
        assert listed.status_code == 200
        [item] = listed.json()["items"]
        assert item["email"] == ADA and item["held"] is False
        base = f"/api/v1/admin/erasures/{request.id}"
        bad = await client.post(f"{base}/hold", json={"reason": ""}, headers=bearer(owner))
        assert bad.status_code == 422
        held = await client.post(f"{base}/hold", json={"reason": "Tax audit"}, headers=bearer(owner))
        assert held.status_code == 200 and held.json()["held"] is True
        assert (await client.post(f"{base}/process", headers=bearer(owner))).status_code == 409
        released = await client.post(f"{base}/release", headers=bearer(owner))
        assert released.status_code == 200 and released.json()["held"] is False
        assert (await client.post(f"{base}/release", headers=bearer(owner))).status_code == 409
        processed = await client.post(f"{base}/process", headers=bearer(owner))
        assert processed.status_code == 200
    assert len(await run_jobs(runtime)) == 1
    assert (await request_of(runtime)).status == "completed"
