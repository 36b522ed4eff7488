"""Two people with data in every domain, made through the app where it is practical (sign-up,
verification mail, API sessions from their own IP, uploads, avatar) and inserted directly where
another engineer's flow is not the subject (consent records, acceptances, exports)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from fastapp.accounts.models import PersonalAccessToken, RecoveryCode, User
from fastapp.accounts.services import ROLE_GRANTED
from fastapp.config import Config
from fastapp.files.models import StoredFile
from fastapp.files.scanning import storage_of
from fastapp.notifications import notify, record_event
from fastapp.notifications.models import EmailMessage, EmailSoftBounce, EmailSuppression, MailStatus
from fastapp.platform.context import Runtime, open_context
from fastapp.platform.jobs import Job, JobState
from fastapp.privacy.models import ConsentRecord, DataExport, ErasureRequest, PolicyAcceptance, PolicyVersion
from tests.accounts.conftest import STRONG, api_tokens, as_script, bearer, delivered, last_link, token_of
from tests.conftest import SITE, make_config
from tests.files.conftest import png_bytes


@dataclass
class Person:
    email: str
    name: str
    ip: str
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    headers: dict[str, str] = field(default_factory=dict)
    #: Storage keys of everything of theirs in storage (files, thumbnails, avatar sizes, exports).
    objects: list[str] = field(default_factory=list)


def people_config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    """The test configuration, trusting the test client as a proxy so each person's requests
    come from their own address (X-Forwarded-For)."""
    return make_config(tmp_path / "var", database_url, redis_url, http={"trusted_proxies": ["127.0.0.1"]})


def ada() -> Person:
    return Person(email="Zebulon.Quartermaine@example.com", name="Zebulon Quartermaine", ip="203.0.113.77")


def bob() -> Person:
    return Person(email="bartholomew@example.org", name="Bartholomew Fairweather", ip="198.51.100.23")


@asynccontextmanager
async def client_of(app: object, person: Person) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=SITE, headers={"X-Forwarded-For": person.ip}) as http:
        yield http


async def sign_up(app: object, config: Config, person: Person) -> None:
    """Register, confirm the address from the mail, and open an API session."""
    async with client_of(app, person) as client:
        with as_script(client):
            registered = await client.post(
                "/api/v1/auth/register",
                json={"email": person.email, "password": STRONG, "display_name": f"{person.name} Jr"},
            )
            assert registered.status_code == 202, registered.text
            token = token_of(await last_link(config, person.email, "/verify-email"))
            verified = await client.post("/api/v1/auth/verify-email", json={"token": token})
            assert verified.status_code == 200, verified.text
        person.headers = bearer(await api_tokens(client, person.email))
        me = await client.get("/api/v1/me", headers=person.headers)
        person.id = uuid.UUID(me.json()["id"])
        # A name change leaves both names in the audit log (in the part erasure blanks).
        renamed = await client.patch("/api/v1/me/profile", headers=person.headers, json={"display_name": person.name})
        assert renamed.status_code == 200, renamed.text
        with as_script(client):
            upload = await client.post(
                "/api/v1/files",
                headers=person.headers,
                files={"file": ("notes.txt", f"Notes of {person.name}".encode(), "text/plain")},
            )
            assert upload.status_code == 201, upload.text
            image = await client.post(
                "/api/v1/files", headers=person.headers, files={"file": ("cat.png", png_bytes((300, 200)), "image/png")}
            )
            assert image.status_code == 201, image.text
            avatar = await client.put(
                "/api/v1/me/avatar", headers=person.headers, files={"file": ("me.png", png_bytes(), "image/png")}
            )
            assert avatar.status_code == 200, avatar.text


async def fill_in(app: object, runtime: Runtime, config: Config, person: Person, other: Person) -> None:
    """The rest of their data, in every domain, mentioning them where a record would."""
    await delivered(config)
    async with open_context(runtime, request_id="people", ip=person.ip, user_agent=f"{person.name}'s browser") as ctx:
        session = ctx.session
        now = ctx.clock.now()
        user = await session.get(User, person.id)
        assert user is not None
        user.bio = f"Hello, I am {person.name}."
        user.profile_extra = json.dumps({"nickname": person.name})
        await notify(ctx, [person.id], ROLE_GRANTED, {"role": "member", "by": "the owner"})
        for message in (await session.scalars(select(EmailMessage).where(EmailMessage.user_id == person.id))).all():
            await record_event(ctx, message, MailStatus.delivered, detail={"smtp": f"250 ok {person.email}"})
        key = person.email.lower()
        session.add(
            EmailSuppression(
                address=key, reason="manual", source="admin", detail=f"asked by {person.name}", created_at=now
            )
        )
        session.add(EmailSoftBounce(address=key, count=1, first_at=now, last_at=now))
        session.add(RecoveryCode(user_id=person.id, code_hash=uuid.uuid4().hex * 2))
        session.add(
            PersonalAccessToken(user_id=person.id, name=f"{person.name}'s laptop", token_hash=uuid.uuid4().hex * 2)
        )
        policy = PolicyVersion(
            kind="privacy",
            version=f"v-{person.id.hex[:6]}",
            title="Policy",
            body="Text",
            effective_at=now,
            published_at=now,
        )
        session.add(policy)
        await session.flush()
        session.add(PolicyAcceptance(user_id=person.id, policy_id=policy.id, source="sign-up", accepted_at=now))
        session.add(
            ConsentRecord(user_id=person.id, purpose="analytics", granted=True, source="banner", created_at=now)
        )
        export_key = f"exports/{person.id}.zip"
        await storage_of(ctx).put_stream(export_key, _one(person.email.encode()), content_type="application/zip")
        session.add(DataExport(user_id=person.id, status="ready", storage_key=export_key, requested_at=now))
        session.add(ErasureRequest(user_id=person.id, due_at=now + timedelta(days=30), requested_at=now))
        session.add(
            Job(
                name="email.feedback",
                payload=json.dumps({"user": str(person.id), "events": [{"address": person.email}]}),
                state=JobState.succeeded.value,
                run_at=now,
                finished_at=now,
            )
        )
        files = (await session.scalars(select(StoredFile).where(StoredFile.owner_id == person.id))).all()
        for file in files:
            person.objects += [key for key in (file.storage_key, file.thumbnail_key) if key]
            if file.purpose == "avatar":
                person.objects += [f"avatars/{file.id}/{size}.png" for size in (64, 128, 256)]
        person.objects.append(export_key)
    # Someone typing their address at sign-in from another place: an audit event naming them.
    async with client_of(app, other) as client:
        with as_script(client):
            refused = await client.post("/api/v1/auth/token", json={"email": person.email, "password": "wrong " * 3})
        assert refused.status_code in (400, 401), refused.text


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
