"""Provider webhooks: SES events through signed SNS messages, and Postmark's Basic-auth webhooks.

AWS cannot run here, so the tests play Amazon: they make an RSA key and a self-signed certificate
with ``cryptography``, sign real SNS payloads with it (the string to sign written out here, in
the documented order), and serve the certificate through the HTTP transport of the app's
``SnsCertificates``, which still checks every URL before it asks that transport for anything.
Reports are applied by the ``email.feedback`` job, run by a real ``Worker`` in the test.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from sqlalchemy import func, select

from fastapp.app import create_app
from fastapp.audit.models import AuditEvent
from fastapp.config import Config, EmailWebhookSettings
from fastapp.notifications import sns
from fastapp.notifications.models import EmailEvent, EmailMessage, EmailSoftBounce, EmailSuppression, MailStatus
from fastapp.notifications.webhooks import FEEDBACK_JOB, apply_feedback
from fastapp.platform.context import Runtime
from fastapp.platform.jobs import Job, JobState, Worker
from tests.conftest import SITE, make_config, root_of, started

REGION_HOST = "sns.eu-west-1.amazonaws.com"
CERT_URL = f"https://{REGION_HOST}/SimpleNotificationService-0123456789abcdef.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-events"
SES_PATH = "/webhooks/email/ses"
POSTMARK_PATH = "/webhooks/email/postmark"


# -- playing Amazon -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    key: rsa.RSAPrivateKey
    pem: bytes


def _signer(common_name: str = REGION_HOST) -> Signer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return Signer(key, cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def amazon() -> Signer:
    return _signer()


#: The documented string-to-sign order, written out independently of the code under test.
ORDER = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"],
}


def signed(signer: Signer, fields: dict[str, str], *, version: str = "1", cert_url: str = CERT_URL) -> dict[str, str]:
    text = "".join(f"{name}\n{fields[name]}\n" for name in ORDER[fields["Type"]] if name in fields)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 - SNS SignatureVersion 1 is SHA1
    signature = signer.key.sign(text.encode(), padding.PKCS1v15(), algorithm)
    return {
        **fields,
        "SignatureVersion": version,
        "Signature": base64.b64encode(signature).decode(),
        "SigningCertURL": cert_url,
        "UnsubscribeURL": f"https://{REGION_HOST}/?Action=Unsubscribe&SubscriptionArn={TOPIC}:x",
    }


def notification(
    signer: Signer, event: dict[str, Any], *, message_id: str | None = None, **extra: str
) -> dict[str, str]:
    fields = {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": TOPIC,
        "Message": json.dumps(event),
        "Timestamp": "2026-11-20T09:30:00.000Z",
    }
    return signed(signer, fields, **extra)


def ses_bounce(address: str, ses_id: str, bounce_type: str = "Permanent") -> dict[str, Any]:
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General" if bounce_type == "Permanent" else "MailboxFull",
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-11-20T09:29:58.000Z",
            "feedbackId": "0102-feedback",
        },
        "mail": {
            "timestamp": "2026-11-20T09:29:50.000Z",
            "messageId": ses_id,
            "source": "no-reply@example.com",
            "destination": [address],
            "commonHeaders": {"messageId": "<not-ours@example.com>"},
        },
    }


@dataclass
class AmazonHttp:
    """The transport behind ``SnsCertificates``: serves certificates, records every request."""

    certificates: dict[str, bytes]
    requests: list[str] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        if url in self.certificates:
            return httpx.Response(200, content=self.certificates[url])
        if "Action=ConfirmSubscription" in url:
            return httpx.Response(200, text="<ConfirmSubscriptionResponse/>")
        return httpx.Response(404)


# -- the app ------------------------------------------------------------------------------------


@dataclass
class App:
    client: httpx.AsyncClient
    runtime: Runtime
    amazon: AmazonHttp

    async def run_jobs(self) -> None:
        """Run the queued ``email.feedback`` jobs with a real worker, until none is left."""
        worker = Worker(self.runtime, {FEEDBACK_JOB: apply_feedback}, poll_interval=0.02)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            for _ in range(500):
                async with self.runtime.backends.db.transaction() as session:
                    left = await session.scalar(
                        select(func.count())
                        .select_from(Job)
                        .where(Job.name == FEEDBACK_JOB, Job.state != JobState.succeeded.value)
                    )
                if not left:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("email.feedback jobs did not finish")
        finally:
            stop.set()
            await task

    async def scalar(self, statement: Any) -> Any:
        async with self.runtime.backends.db.transaction() as session:
            return await session.scalar(statement)

    async def rows(self, statement: Any) -> list[Any]:
        async with self.runtime.backends.db.transaction() as session:
            return list((await session.scalars(statement)).all())

    async def add_message(self, to: str, provider_id: str, **values: Any) -> uuid.UUID:
        ident = uuid.uuid4()
        async with self.runtime.backends.db.transaction() as session:
            session.add(
                EmailMessage(
                    id=ident,
                    to_address=to,
                    template="notification",
                    category="account",
                    mandatory=False,
                    status=values.pop("status", MailStatus.sent.value),
                    message_id=f"<{ident.hex}@testserver>",
                    provider_message_id=provider_id,
                    created_at=datetime.now(UTC),
                    sent_at=datetime.now(UTC),
                    **values,
                )
            )
        return ident


def _config(tmp_path: Path, database_url: str, redis_url: str, **webhooks: Any) -> Config:
    config = make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})
    settings = EmailWebhookSettings.model_construct(**dict(EmailWebhookSettings.model_validate(webhooks)))
    return config.model_copy(update={"email_webhooks": settings})


@pytest.fixture
def webhooks() -> dict[str, Any]:
    """Webhook settings of the test's app; a test changes them before asking for ``app``."""
    return {"postmark_webhook_user": "postmark", "postmark_webhook_password": "s3cret-postmark-password"}


@pytest.fixture
async def app(
    tmp_path: Path, database_url: str, redis_url: str, amazon: Signer, webhooks: dict[str, Any]
) -> AsyncIterator[App]:
    config = _config(tmp_path, database_url, redis_url, **webhooks)
    application = create_app(config)
    runtime: Runtime = root_of(application).state.runtime
    http = AmazonHttp({CERT_URL: amazon.pem})
    runtime.services[sns.CERTIFICATES] = sns.SnsCertificates(
        host_pattern=config.email_webhooks.sns_cert_host_pattern, transport=httpx.MockTransport(http.handler)
    )
    async with started(application) as running:
        transport = httpx.ASGITransport(app=running, client=("203.0.113.10", 1234))
        async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
            yield App(client, runtime, http)


async def _post_sns(app: App, message: dict[str, str]) -> httpx.Response:
    # SNS posts JSON with Content-Type text/plain and no cookie.
    return await app.client.post(
        SES_PATH, content=json.dumps(message), headers={"Content-Type": "text/plain; charset=UTF-8"}
    )


async def _suppression(app: App, address: str) -> EmailSuppression | None:
    return await app.scalar(select(EmailSuppression).where(EmailSuppression.address == address))


# -- SES through SNS ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_signed_ses_hard_bounce_suppresses_the_address_and_marks_the_message(
    app: App, amazon: Signer, version: str
) -> None:
    ident = await app.add_message("Gone@Example.com", "ses-0001")
    response = await _post_sns(app, notification(amazon, ses_bounce("Gone@Example.com", "ses-0001"), version=version))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "accepted", "events": 1}
    await app.run_jobs()

    message = await app.scalar(select(EmailMessage).where(EmailMessage.id == ident))
    assert message.status == "bounced" and message.bounced_at is not None
    events = await app.rows(select(EmailEvent).where(EmailEvent.message_id == ident))
    assert [e.type for e in events] == ["bounced"]
    detail = json.loads(events[0].detail)
    assert detail["bounce"] == "hard" and detail["source"] == "ses" and "user unknown" in detail["diagnostic"]
    assert events[0].occurred_at == datetime(2026, 11, 20, 9, 29, 58, tzinfo=UTC)
    suppressed = await _suppression(app, "gone@example.com")
    assert suppressed is not None and (suppressed.reason, suppressed.source) == ("hard_bounce", "ses")
    assert app.amazon.requests == [CERT_URL]


async def test_the_certificate_is_fetched_once(app: App, amazon: Signer) -> None:
    for n in range(3):
        response = await _post_sns(app, notification(amazon, ses_bounce(f"u{n}@example.com", f"ses-{n}")))
        assert response.status_code == 200
    assert app.amazon.requests == [CERT_URL]


async def test_a_bounce_for_an_unknown_message_still_suppresses_the_address(app: App, amazon: Signer) -> None:
    await _post_sns(app, notification(amazon, ses_bounce("nobody@example.com", "ses-unknown")))
    await app.run_jobs()
    assert await _suppression(app, "nobody@example.com") is not None
    assert await app.scalar(select(func.count()).select_from(EmailEvent)) == 0


async def test_a_message_is_found_by_our_message_id_when_ses_echoes_it(app: App, amazon: Signer) -> None:
    ident = await app.add_message("x@example.com", "<ours-1@testserver>")
    event = ses_bounce("x@example.com", "ses-other-id")
    event["mail"]["commonHeaders"]["messageId"] = "<ours-1@testserver>"
    await _post_sns(app, notification(amazon, event))
    await app.run_jobs()
    assert (await app.scalar(select(EmailMessage.status).where(EmailMessage.id == ident))) == "bounced"


async def test_a_repeated_delivery_of_the_same_sns_message_is_applied_once(app: App, amazon: Signer) -> None:
    ident = await app.add_message("full@example.com", "ses-soft")
    message = notification(amazon, ses_bounce("full@example.com", "ses-soft", "Transient"))
    first = await _post_sns(app, message)
    again = await _post_sns(app, message)
    assert first.json()["status"] == "accepted" and again.json()["status"] == "duplicate"
    await app.run_jobs()
    assert await app.scalar(select(func.count()).select_from(EmailEvent).where(EmailEvent.message_id == ident)) == 1
    soft = await app.scalar(select(EmailSoftBounce).where(EmailSoftBounce.address == "full@example.com"))
    assert soft is not None and soft.count == 1
    assert await _suppression(app, "full@example.com") is None  # one soft bounce is not enough


async def test_complaints_suppress_and_deliveries_reset_soft_bounces(app: App, amazon: Signer) -> None:
    ident = await app.add_message("angry@example.com", "ses-c")
    complaint = {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "angry@example.com"}],
            "timestamp": "2026-11-20T10:00:00Z",
            "complaintFeedbackType": "abuse",
        },
        "mail": {"messageId": "ses-c", "destination": ["angry@example.com"]},
    }
    await _post_sns(app, notification(amazon, complaint))
    await _post_sns(app, notification(amazon, ses_bounce("fine@example.com", "ses-d", "Undetermined")))
    delivered_id = await app.add_message("fine@example.com", "ses-d2")
    delivery = {
        "eventType": "Delivery",
        "delivery": {"timestamp": "2026-11-20T11:00:00Z", "recipients": ["fine@example.com"], "smtpResponse": "250 ok"},
        "mail": {"messageId": "ses-d2", "destination": ["fine@example.com"]},
    }
    await app.run_jobs()
    assert (await app.scalar(select(EmailSoftBounce.count).where(EmailSoftBounce.address == "fine@example.com"))) == 1
    await _post_sns(app, notification(amazon, delivery))
    await app.run_jobs()

    assert (await app.scalar(select(EmailMessage.status).where(EmailMessage.id == ident))) == "complained"
    suppressed = await _suppression(app, "angry@example.com")
    assert suppressed is not None and suppressed.reason == "complaint"
    assert (await app.scalar(select(EmailMessage.status).where(EmailMessage.id == delivered_id))) == "delivered"
    assert await app.scalar(select(EmailSoftBounce).where(EmailSoftBounce.address == "fine@example.com")) is None
    assert await _suppression(app, "fine@example.com") is None


async def test_delays_opens_and_clicks_are_recorded(app: App, amazon: Signer) -> None:
    ident = await app.add_message("r@example.com", "ses-o")
    mail = {"messageId": "ses-o", "destination": ["r@example.com"]}
    events = [
        {
            "eventType": "DeliveryDelay",
            "mail": mail,
            "deliveryDelay": {
                "delayType": "MailboxFull",
                "delayedRecipients": [{"emailAddress": "r@example.com"}],
                "timestamp": "2026-11-20T10:00:00Z",
            },
        },
        {"eventType": "Open", "mail": mail, "open": {"timestamp": "2026-11-20T12:00:00Z", "userAgent": "Mail/1.0"}},
        {
            "eventType": "Click",
            "mail": mail,
            "click": {"timestamp": "2026-11-20T12:01:00Z", "link": "https://example.com/a"},
        },
    ]
    for event in events:
        assert (await _post_sns(app, notification(amazon, event))).status_code == 200
    await app.run_jobs()
    message = await app.scalar(select(EmailMessage).where(EmailMessage.id == ident))
    assert (message.status, message.open_count, message.click_count) == ("clicked", 1, 1)
    assert message.deferred_at is not None and message.opened_at is not None
    types = sorted(e.type for e in await app.rows(select(EmailEvent).where(EmailEvent.message_id == ident)))
    assert types == ["clicked", "deferred", "opened"]


async def test_a_forged_message_is_refused_and_nothing_is_recorded(app: App, amazon: Signer) -> None:
    await app.add_message("victim@example.com", "ses-f")
    tampered = notification(amazon, ses_bounce("someone@example.com", "ses-f"))
    tampered["Message"] = json.dumps(ses_bounce("victim@example.com", "ses-f"))
    other_key = notification(_signer(), ses_bounce("victim@example.com", "ses-f"))
    unsigned = {
        k: v for k, v in notification(amazon, ses_bounce("victim@example.com", "ses-f")).items() if k != "Signature"
    }
    bad_version = notification(amazon, ses_bounce("victim@example.com", "ses-f")) | {"SignatureVersion": "3"}
    for forged in (tampered, other_key, unsigned, bad_version):
        response = await _post_sns(app, forged)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert (await app.client.post(SES_PATH, content=b"not json")).status_code == 403
    assert await app.scalar(select(func.count()).select_from(Job).where(Job.name == FEEDBACK_JOB)) == 0
    assert await app.scalar(select(func.count()).select_from(EmailSuppression)) == 0


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem",
        "http://sns.eu-west-1.amazonaws.com/cert.pem",
        "https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem",
        "https://user@sns.eu-west-1.amazonaws.com/cert.pem",
        "https://sns.eu-west-1.amazonaws.com:8443/cert.pem",
        "https://sns.eu-west-1.amazonaws.com/cert.txt",
        "https://s3.amazonaws.com/cert.pem",
    ],
)
async def test_a_certificate_off_amazon_sns_is_refused_before_fetching(app: App, amazon: Signer, url: str) -> None:
    app.amazon.certificates[url] = amazon.pem  # were it fetched, it would verify
    response = await _post_sns(app, notification(amazon, ses_bounce("a@example.com", "ses-h"), cert_url=url))
    assert response.status_code == 403
    assert "Amazon SNS" in response.json()["detail"] or ".pem" in response.json()["detail"]
    assert app.amazon.requests == []


def _confirmation(signer: Signer, subscribe_url: str) -> dict[str, str]:
    return signed(
        signer,
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": str(uuid.uuid4()),
            "Token": "2336412f37fb687f5d51e6e2425a8a58",
            "TopicArn": TOPIC,
            "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
            "SubscribeURL": subscribe_url,
            "Timestamp": "2026-11-20T09:00:00.000Z",
        },
    )


async def test_a_subscription_confirmation_is_confirmed_through_the_fetcher(app: App, amazon: Signer) -> None:
    subscribe = f"https://{REGION_HOST}/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=2336412f"
    response = await _post_sns(app, _confirmation(amazon, subscribe))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "confirmed"}
    assert app.amazon.requests == [CERT_URL, subscribe]
    actions = await app.rows(select(AuditEvent.action))
    assert "email.sns.subscription_confirmed" in actions


async def test_a_subscribe_url_off_amazon_is_not_visited(app: App, amazon: Signer) -> None:
    response = await _post_sns(app, _confirmation(amazon, "https://evil.example/?Action=ConfirmSubscription"))
    assert response.status_code == 502
    assert app.amazon.requests == [CERT_URL]  # the signature was checked; the foreign URL never asked


@pytest.mark.parametrize("webhooks", [{"ses_topic_arns": "arn:aws:sns:eu-west-1:123456789012:other"}])
async def test_a_topic_off_the_allow_list_is_refused_before_fetching(app: App, amazon: Signer) -> None:
    response = await _post_sns(app, notification(amazon, ses_bounce("a@example.com", "ses-t")))
    assert response.status_code == 403
    assert "topic" in response.json()["detail"]
    assert app.amazon.requests == []


async def test_a_verified_notification_that_is_not_an_ses_event_is_ignored(app: App, amazon: Signer) -> None:
    fields = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": TOPIC,
        "Subject": "Test",
        "Message": "Successfully validated SNS topic for Amazon SES event publishing.",
        "Timestamp": "2026-11-20T09:30:00.000Z",
    }
    response = await _post_sns(app, signed(amazon, fields))
    assert response.status_code == 200 and response.json() == {"status": "ignored"}


# -- Postmark -----------------------------------------------------------------------------------


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


AUTH = _basic("postmark", "s3cret-postmark-password")


def postmark_bounce(address: str, message_id: str, bounce_type: str = "HardBounce", **extra: Any) -> dict[str, Any]:
    return {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": bounce_type,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": message_id,
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": address,
        "From": "no-reply@example.com",
        "BouncedAt": "2026-11-20T16:33:54.9070259Z",
        "Inactive": bounce_type == "HardBounce",
        "CanActivate": True,
        "Subject": "Hello",
        **extra,
    }


@pytest.mark.parametrize("webhooks", [{}])
async def test_postmark_answers_404_until_configured(app: App) -> None:
    response = await app.client.post(POSTMARK_PATH, json=postmark_bounce("a@example.com", "pm-1"), headers=AUTH)
    assert response.status_code == 404


async def test_postmark_needs_its_credentials(app: App) -> None:
    body = postmark_bounce("a@example.com", "pm-1")
    for headers in (
        {},
        _basic("postmark", "wrong"),
        _basic("other", "s3cret-postmark-password"),
        {"Authorization": "Basic !!"},
        {"Authorization": "Bearer x"},
    ):
        response = await app.client.post(POSTMARK_PATH, json=body, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"].startswith("Basic realm=")
    assert await app.scalar(select(func.count()).select_from(Job)) == 0


async def test_postmark_bounces_and_complaints(app: App) -> None:
    hard = await app.add_message("hard@example.com", "pm-hard")
    soft = await app.add_message("soft@example.com", "pm-soft")
    spam = await app.add_message("spam@example.com", "pm-spam")
    records = [
        postmark_bounce("hard@example.com", "pm-hard"),
        postmark_bounce("soft@example.com", "pm-soft", "SoftBounce"),
        postmark_bounce("spam@example.com", "pm-spam", "SpamComplaint") | {"RecordType": "SpamComplaint"},
        postmark_bounce("away@example.com", "pm-auto", "AutoResponder"),
    ]
    for record in records:
        response = await app.client.post(POSTMARK_PATH, json=record, headers=AUTH)
        assert response.status_code == 200, response.text
    repeat = await app.client.post(POSTMARK_PATH, json=records[1], headers=AUTH)
    assert repeat.json()["status"] == "duplicate"
    await app.run_jobs()

    statuses = {
        i: await app.scalar(select(EmailMessage.status).where(EmailMessage.id == i)) for i in (hard, soft, spam)
    }
    assert statuses == {hard: "bounced", soft: "bounced", spam: "complained"}
    assert (await _suppression(app, "hard@example.com")).reason == "hard_bounce"
    assert (await _suppression(app, "spam@example.com")).reason == "complaint"
    assert await _suppression(app, "soft@example.com") is None
    assert (await app.scalar(select(EmailSoftBounce.count).where(EmailSoftBounce.address == "soft@example.com"))) == 1
    assert await _suppression(app, "away@example.com") is None  # an auto-reply is no bounce


async def test_postmark_deliveries_opens_and_clicks(app: App) -> None:
    ident = await app.add_message("r@example.com", "pm-r")
    base = {"MessageID": "pm-r", "Recipient": "r@example.com", "MessageStream": "outbound"}
    records = [
        base | {"RecordType": "Delivery", "DeliveredAt": "2026-11-20T10:00:00Z", "Details": "250 ok"},
        base | {"RecordType": "Open", "ReceivedAt": "2026-11-20T11:00:00Z", "FirstOpen": True, "UserAgent": "Mail"},
        base | {"RecordType": "Click", "ReceivedAt": "2026-11-20T11:01:00Z", "OriginalLink": "https://example.com/x"},
    ]
    for record in records:
        assert (await app.client.post(POSTMARK_PATH, json=record, headers=AUTH)).status_code == 200
    await app.run_jobs()
    message = await app.scalar(select(EmailMessage).where(EmailMessage.id == ident))
    assert (message.status, message.open_count, message.click_count) == ("clicked", 1, 1)
    assert message.delivered_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


async def test_postmark_rejects_what_is_not_a_record(app: App) -> None:
    for body in (b"not json", b"[1, 2]", json.dumps({"RecordType": "Bounce"}).encode()):
        response = await app.client.post(
            POSTMARK_PATH, content=body, headers=AUTH | {"Content-Type": "application/json"}
        )
        assert response.status_code == 400, body
    ignored = await app.client.post(POSTMARK_PATH, json={"RecordType": "Inbound"}, headers=AUTH)
    assert ignored.json() == {"status": "ignored"}


# -- the pieces on their own --------------------------------------------------------------------


def test_the_string_to_sign_follows_the_documented_order() -> None:
    base = {"Type": "Notification", "MessageId": "i", "TopicArn": "t", "Message": "m", "Timestamp": "ts"}
    assert sns.string_to_sign(base) == b"Message\nm\nMessageId\ni\nTimestamp\nts\nTopicArn\nt\nType\nNotification\n"
    assert sns.string_to_sign(base | {"Subject": "s"}).startswith(b"Message\nm\nMessageId\ni\nSubject\ns\nTimestamp")
    confirmation = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "i",
        "TopicArn": "t",
        "Message": "m",
        "Timestamp": "ts",
        "Token": "k",
        "SubscribeURL": "u",
        "Subject": "ignored",
    }
    assert sns.string_to_sign(confirmation) == (
        b"Message\nm\nMessageId\ni\nSubscribeURL\nu\nTimestamp\nts\nToken\nk\nTopicArn\nt\nType\nSubscriptionConfirmation\n"
    )


def test_only_sns_hosts_over_https_are_trusted() -> None:
    store = sns.SnsCertificates(host_pattern=EmailWebhookSettings.model_fields["sns_cert_host_pattern"].default)
    assert store.check_url("https://sns.us-east-1.amazonaws.com/x.pem")
    assert store.check_url("https://sns.cn-north-1.amazonaws.com.cn/x.pem")
    for url in (
        "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
        "https://SNS.evil.com/",
        "ftp://sns.us-east-1.amazonaws.com/",
        "https://sns..amazonaws.com/",
    ):
        with pytest.raises(sns.UntrustedUrl):
            store.check_url(url)


async def test_the_postmark_credentials_are_secrets(tmp_path: Path, database_url: str, redis_url: str) -> None:
    config = _config(
        tmp_path, database_url, redis_url, postmark_webhook_user="u", postmark_webhook_password=SecretStr("p" * 20)
    )
    assert config.redacted()["email_webhooks"]["postmark_webhook_password"] == "***"


def test_production_wants_both_postmark_credentials_and_a_long_password() -> None:
    def problems(**values: str) -> list[str]:
        config = Config(app={"env": "production"}, email_webhooks=EmailWebhookSettings.model_construct(**values))
        return [p for p in config.production_problems() if "POSTMARK" in p]

    assert problems() == []
    assert problems(postmark_webhook_user=SecretStr("pm")) == [
        "FASTAPP_POSTMARK_WEBHOOK_USER and FASTAPP_POSTMARK_WEBHOOK_PASSWORD: set both or neither"
    ]
    short = problems(postmark_webhook_user=SecretStr("pm"), postmark_webhook_password=SecretStr("short"))
    assert short == ["FASTAPP_POSTMARK_WEBHOOK_PASSWORD: use at least 16 random characters"]
    assert problems(postmark_webhook_user=SecretStr("pm"), postmark_webhook_password=SecretStr("p" * 24)) == []
