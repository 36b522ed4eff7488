"""Delivery reports from email providers: Amazon SES (through SNS) and Postmark webhooks.

``POST /webhooks/email/ses`` and ``POST /webhooks/email/postmark`` are ``csrf_exempt``: a
provider's server calls them with no session, and each proves itself another way. SNS messages
carry an RSA signature checked against Amazon's certificate (``sns.py``); Postmark sends HTTP
Basic credentials that must equal ``FASTAPP_POSTMARK_WEBHOOK_USER`` / ``..._PASSWORD`` (compared in
constant time; without them configured the endpoint does not exist, 404). Anything unproven is
refused with a problem (403 or 401) and leaves no trace but a log line.

An accepted report is turned into ``Feedback`` items (one per recipient) and handed to the
``email.feedback`` job in the request's transaction. The job's idempotency key is the SNS
``MessageId`` or a digest of the Postmark body, so a provider's retry of a report already
accepted changes nothing. The job then, for each item, appends an event to the message the
provider's message id names (``delivery.record_event``: bounced, complained, delivered, deferred,
opened, clicked) and updates the suppression list for the address (``suppression``), which
happens even when no message matches: the address is what bounced.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from fasthtml.common import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from fastapp.audit import Action, Actor, record
from fastapp.notifications import sns, suppression
from fastapp.notifications.delivery import lock_message, message_by_provider_id, record_event
from fastapp.notifications.models import MailStatus
from fastapp.platform.auth import request_context_args
from fastapp.platform.context import Context, Runtime, open_context
from fastapp.platform.jobs import enqueue

log = structlog.get_logger("fastapp.notifications.webhooks")
rt = APIRouter()
FEEDBACK_JOB = "email.feedback"
PROBLEM_JSON = "application/problem+json"
_DETAIL_CHARS = 500

#: What each kind of report does to the message it names (None: nothing to the message).
STATUS: dict[str, MailStatus | None] = {
    "sent": MailStatus.sent,
    "delivery": MailStatus.delivered,
    "deferred": MailStatus.deferred,
    "bounce": MailStatus.bounced,
    "complaint": MailStatus.complained,
    "open": MailStatus.opened,
    "click": MailStatus.clicked,
    "failed": MailStatus.failed,
    "suppress": None,
}


@dataclass(frozen=True)
class Feedback:
    """One provider report about one recipient of one message."""

    #: A key of ``STATUS``.
    kind: str
    address: str
    #: Ids the provider knows the message by (its own, and our Message-ID when it echoes it).
    message_ids: tuple[str, ...] = ()
    #: When it happened, ISO 8601 as the provider wrote it ("" when it did not say).
    at: str = ""
    #: For bounces: permanent (suppress now) rather than transient (count towards the limit).
    hard: bool = False
    #: For ``suppress``: the suppression reason (``hard_bounce``, ``complaint``, ``manual``).
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Feedback:
        return cls(**{**data, "message_ids": tuple(data.get("message_ids", ()))})


# -- the routes ---------------------------------------------------------------------------------


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"type": f"/problems/{title.lower().replace(' ', '-')}", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def certificates(runtime: Runtime) -> sns.SnsCertificates:
    """The process's ``SnsCertificates`` (made on first use; tests put their own in first)."""
    found = runtime.services.get(sns.CERTIFICATES)
    if found is None:
        found = runtime.services[sns.CERTIFICATES] = sns.SnsCertificates(
            host_pattern=runtime.config.email_webhooks.sns_cert_host_pattern
        )
    return found


@rt("/webhooks/email/ses", methods=["post"])
async def ses_webhook(request: Request) -> JSONResponse:
    """An SNS message: a subscription confirmation (confirmed) or an SES event notification."""
    runtime: Runtime = request.app.state.runtime
    store = certificates(runtime)
    try:
        message = sns.parse(await request.body())
        topics = runtime.config.email_webhooks.ses_topic_arns
        if topics and message["TopicArn"] not in topics:
            raise sns.SnsError("The SNS topic is not one this site accepts.")
        await sns.verify(message, store, now=runtime.backends.clock.now())
    except sns.SnsError as exc:
        log.warning("sns message refused", reason=str(exc))
        return _problem(403, "Forbidden", f"The message could not be verified: {exc}")
    kind, topic = message["Type"], message["TopicArn"]
    if kind == sns.SUBSCRIPTION_CONFIRMATION:
        try:
            await store.confirm_subscription(message["SubscribeURL"])
        except sns.SnsError as exc:
            log.warning("sns subscription not confirmed", topic=topic, reason=str(exc))
            return _problem(502, "Bad Gateway", f"The subscription could not be confirmed: {exc}")
        async with open_context(runtime, **request_context_args(request.scope)) as ctx:
            await record(ctx, Action.EMAIL_SNS_SUBSCRIBED, actor=Actor.system("sns"), data={"topic": topic})
        log.info("sns subscription confirmed", topic=topic)
        return JSONResponse({"status": "confirmed"})
    if kind == sns.UNSUBSCRIBE_CONFIRMATION:
        log.warning("sns subscription ended", topic=topic)
        return JSONResponse({"status": "noted"})
    try:
        events = ses_feedback(json.loads(message["Message"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        # SES posts a plain-text test message when a topic is set up; nothing to record.
        log.info("sns notification without an SES event", topic=topic)
        return JSONResponse({"status": "ignored"})
    return await _accept(request, "ses", f"sns:{message['MessageId']}", events)


def _credentials_match(header: str | None, user: str, password: str) -> bool:
    """Whether an ``Authorization: Basic`` header carries ``user``:``password`` (constant time)."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given_user, _, given_password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError):
        return False
    # Both compared every time, so the time taken does not tell which one was wrong.
    user_ok = hmac.compare_digest(given_user.encode(), user.encode())
    password_ok = hmac.compare_digest(given_password.encode(), password.encode())
    return user_ok & password_ok


@rt("/webhooks/email/postmark", methods=["post"])
async def postmark_webhook(request: Request) -> JSONResponse:
    """One Postmark webhook record: Bounce, SpamComplaint, Delivery, Open, Click, SubscriptionChange."""
    settings = request.app.state.runtime.config.email_webhooks
    user = settings.postmark_webhook_user.get_secret_value()
    password = settings.postmark_webhook_password.get_secret_value()
    if not (user and password):
        return _problem(404, "Not Found", "There is nothing at this address.")
    if not _credentials_match(request.headers.get("authorization"), user, password):
        log.warning("postmark webhook refused: wrong credentials")
        return _problem(
            401,
            "Unauthorized",
            "The webhook credentials are missing or wrong.",
            headers={"WWW-Authenticate": 'Basic realm="postmark-webhooks", charset="UTF-8"'},
        )
    body = await request.body()
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise TypeError("a JSON object is expected")
        events = postmark_feedback(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return _problem(400, "Bad Request", f"The body is not a Postmark webhook record ({exc}).")
    return await _accept(request, "postmark", f"postmark:{hashlib.sha256(body).hexdigest()}", events)


async def _accept(request: Request, source: str, key: str, events: list[Feedback]) -> JSONResponse:
    if not events:
        return JSONResponse({"status": "ignored"})
    runtime: Runtime = request.app.state.runtime
    async with open_context(runtime, **request_context_args(request.scope)) as ctx:
        added = await enqueue(
            ctx, FEEDBACK_JOB, {"source": source, "events": [e.to_json() for e in events]}, idempotency_key=key
        )
    return JSONResponse({"status": "accepted" if added else "duplicate", "events": len(events)})


# -- what the providers say, as Feedback --------------------------------------------------------


def _short(value: Any) -> Any:
    return value[:_DETAIL_CHARS] if isinstance(value, str) else value


def _details(**values: Any) -> dict[str, Any]:
    return {k: _short(v) for k, v in values.items() if v not in (None, "")}


def ses_feedback(event: dict[str, Any]) -> list[Feedback]:
    """The items of an SES notification (``notificationType``) or event (``eventType``).

    Bounces with ``bounceType`` Permanent are hard; Transient and Undetermined are soft.
    """
    kind = event.get("notificationType") or event.get("eventType")
    mail = event.get("mail") or {}
    ids = tuple(str(i) for i in (mail.get("messageId"), (mail.get("commonHeaders") or {}).get("messageId")) if i)
    destination = [str(a) for a in mail.get("destination") or []]

    def each(addresses: list[str], kind: str, at: str | None, **extra: Any) -> list[Feedback]:
        return [Feedback(kind=kind, address=a, message_ids=ids, at=at or "", **extra) for a in addresses]

    if kind == "Bounce":
        bounce = event["bounce"]
        hard = bounce.get("bounceType") == "Permanent"
        return [
            Feedback(
                kind="bounce",
                address=str(r["emailAddress"]),
                message_ids=ids,
                at=bounce.get("timestamp") or "",
                hard=hard,
                detail=_details(
                    bounce="hard" if hard else "soft",
                    type=bounce.get("bounceType"),
                    subtype=bounce.get("bounceSubType"),
                    status=r.get("status"),
                    diagnostic=r.get("diagnosticCode"),
                    source="ses",
                ),
            )
            for r in bounce.get("bouncedRecipients") or []
        ]
    if kind == "Complaint":
        complaint = event["complaint"]
        addresses = [str(r["emailAddress"]) for r in complaint.get("complainedRecipients") or []]
        detail = _details(type=complaint.get("complaintFeedbackType"), source="ses")
        return each(addresses, "complaint", complaint.get("timestamp"), detail=detail)
    if kind == "Delivery":
        delivery = event["delivery"]
        detail = _details(smtp=delivery.get("smtpResponse"), mta=delivery.get("reportingMTA"), source="ses")
        return each(
            [str(a) for a in delivery.get("recipients") or []], "delivery", delivery.get("timestamp"), detail=detail
        )
    if kind == "DeliveryDelay":
        delay = event["deliveryDelay"]
        return [
            Feedback(
                kind="deferred",
                address=str(r["emailAddress"]),
                message_ids=ids,
                at=delay.get("timestamp") or "",
                detail=_details(type=delay.get("delayType"), diagnostic=r.get("diagnosticCode"), source="ses"),
            )
            for r in delay.get("delayedRecipients") or []
        ]
    if kind == "Send":
        return each(destination, "sent", mail.get("timestamp"), detail={"source": "ses"})
    if kind == "Open":
        opened = event["open"]
        return each(destination, "open", opened.get("timestamp"), detail=_details(agent=opened.get("userAgent")))
    if kind == "Click":
        click = event["click"]
        return each(destination, "click", click.get("timestamp"), detail=_details(url=click.get("link")))
    if kind in {"Reject", "Rendering Failure"}:
        reason = (event.get("reject") or {}).get("reason") or (event.get("failure") or {}).get("errorMessage")
        return each(destination, "failed", mail.get("timestamp"), detail=_details(reason=reason, source="ses"))
    return []


#: Postmark bounce types (``Type``) by what they mean for the address.
POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress", "SpamNotification", "ManuallyDeactivated"})
POSTMARK_SOFT = frozenset(
    {"SoftBounce", "Transient", "DnsError", "Unknown", "Blocked", "VirusNotification", "DMARCPolicy"}
)
#: Failures on the sending side: the message failed, the address is not to blame.
POSTMARK_FAILED = frozenset({"SMTPApiError", "TemplateRenderingFailed"})
POSTMARK_REASONS = {"HardBounce": "hard_bounce", "SpamComplaint": "complaint", "ManualSuppression": "manual"}


def postmark_feedback(data: dict[str, Any]) -> list[Feedback]:
    """The item of one Postmark webhook record (none for records that change nothing here).

    A bounce is hard when its type is permanent or Postmark deactivated the address
    (``Inactive``); auto-replies, address-change notices and the like are not failures at all.
    """
    kind = data.get("RecordType")
    ids = (str(data["MessageID"]),) if data.get("MessageID") else ()
    if kind in {"Bounce", "SpamComplaint"}:
        bounce_type = str(data.get("Type") or "")
        address = str(data["Email"])
        detail = _details(
            type=bounce_type,
            name=data.get("Name"),
            description=data.get("Details") or data.get("Description"),
            source="postmark",
        )
        at = str(data.get("BouncedAt") or "")
        if kind == "SpamComplaint" or bounce_type == "SpamComplaint":
            return [Feedback(kind="complaint", address=address, message_ids=ids, at=at, detail=detail)]
        if bounce_type in POSTMARK_FAILED:
            return [Feedback(kind="failed", address=address, message_ids=ids, at=at, detail=detail)]
        hard = bounce_type in POSTMARK_HARD or data.get("Inactive") is True
        if not hard and bounce_type not in POSTMARK_SOFT:
            return []
        detail["bounce"] = "hard" if hard else "soft"
        return [Feedback(kind="bounce", address=address, message_ids=ids, at=at, hard=hard, detail=detail)]
    if kind == "Delivery":
        detail = _details(smtp=data.get("Details"), source="postmark")
        return [
            Feedback(
                kind="delivery",
                address=str(data["Recipient"]),
                message_ids=ids,
                at=str(data.get("DeliveredAt") or ""),
                detail=detail,
            )
        ]
    if kind == "Open":
        detail = _details(agent=data.get("UserAgent"), source="postmark")
        return [
            Feedback(
                kind="open",
                address=str(data["Recipient"]),
                message_ids=ids,
                at=str(data.get("ReceivedAt") or ""),
                detail=detail,
            )
        ]
    if kind == "Click":
        detail = _details(url=data.get("OriginalLink"), source="postmark")
        return [
            Feedback(
                kind="click",
                address=str(data["Recipient"]),
                message_ids=ids,
                at=str(data.get("ReceivedAt") or ""),
                detail=detail,
            )
        ]
    if kind == "SubscriptionChange" and data.get("SuppressSending") is True:
        reason = POSTMARK_REASONS.get(str(data.get("SuppressionReason")), "manual")
        detail = _details(reason=data.get("SuppressionReason"), origin=data.get("Origin"), source="postmark")
        return [
            Feedback(
                kind="suppress",
                address=str(data["Recipient"]),
                message_ids=ids,
                at=str(data.get("ChangedAt") or ""),
                reason=reason,
                detail=detail,
            )
        ]
    return []


# -- the job ------------------------------------------------------------------------------------


def _when(value: str) -> datetime | None:
    """A provider's timestamp as an aware datetime (naive ones are UTC); None if unreadable."""
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


async def apply(ctx: Context, source: str, item: Feedback) -> None:
    """Record one report: an event on its message (when one matches) and the address's standing."""
    if "@" not in suppression.address_key(item.address):
        log.warning("provider report without an address ignored", kind=item.kind, source=source)
        return
    status = STATUS[item.kind]
    for provider_id in item.message_ids:
        message = await message_by_provider_id(ctx, provider_id) if status is not None else None
        if message is not None and status is not None:
            message = await lock_message(ctx, message.id) or message
            await record_event(ctx, message, status, at=_when(item.at), detail={"source": source, **item.detail})
            break
    summary = "; ".join(f"{k}={v}" for k, v in item.detail.items() if k != "source")
    if item.kind == "bounce":
        await suppression.record_bounce(ctx, item.address, hard=item.hard, source=source, detail=summary)
    elif item.kind == "complaint":
        await suppression.record_complaint(ctx, item.address, source=source, detail=summary)
    elif item.kind == "delivery":
        await suppression.record_delivery(ctx, item.address)
    elif item.kind == "suppress":
        await suppression.suppress(ctx, item.address, reason=item.reason, source=source, detail=summary)


async def apply_feedback(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
    """The ``email.feedback`` job: apply each item of one accepted report, in one transaction."""
    for data in payload["events"]:
        await apply(ctx, str(payload["source"]), Feedback.from_json(data))
