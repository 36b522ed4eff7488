"""Amazon SNS messages: are they authentic? Signature checks and the certificates behind them.

SNS signs every message it posts to an HTTPS subscription: RSA over a canonical "string to sign"
(each signed field's name and value on lines of their own, in a fixed order that differs between
notifications and (un)subscription confirmations), with SHA1 (``SignatureVersion`` 1) or SHA256
(2). The public key is the certificate at the message's ``SigningCertURL``. That URL is part of
the untrusted message, so it is checked *before* anything is fetched: https, port 443, no user
info, and a host matching ``FASTAPP_SNS_CERT_HOST_PATTERN`` (``sns.<region>.amazonaws.com``). The
certificate's authenticity then rests on TLS: it is fetched over https from Amazon's own host
(httpx verifies the server certificate), never taken from a message.

``SnsCertificates`` is the one object that goes to the network (certificates and subscription
confirmations); it lives on the runtime (``runtime.services[CERTIFICATES]``) so a test can hand
it an HTTP transport serving a certificate of its own while still going through every check.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

if TYPE_CHECKING:
    import httpx

#: The key of the runtime service (``runtime.services``) holding the ``SnsCertificates``.
CERTIFICATES = "notifications.sns-certificates"

NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"
_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
#: The signed fields of each message type, in the order the string to sign lists them.
SIGNED_FIELDS: dict[str, tuple[str, ...]] = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: _CONFIRMATION_FIELDS,
    UNSUBSCRIBE_CONFIRMATION: _CONFIRMATION_FIELDS,
}
#: Fields that may be missing from a message (and then are left out of the string to sign).
OPTIONAL_FIELDS = frozenset({"Subject"})
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
#: A signing certificate is about 1.5 KB; anything much larger is not one.
MAX_CERTIFICATE_BYTES = 64 * 1024


class SnsError(Exception):
    """The message is not an authentic SNS message we accept; the text says why (safe to show)."""


class UntrustedUrl(SnsError):
    """A URL in the message points somewhere other than Amazon SNS: nothing was fetched."""


def parse(body: bytes) -> dict[str, Any]:
    """The SNS message in an HTTP body: a JSON object whose signed fields are strings.

    Raises ``SnsError`` for anything else (not JSON, unknown ``Type``, a signed field missing).
    """
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnsError("The body is not an SNS message (JSON expected).") from exc
    if not isinstance(message, dict):
        raise SnsError("The body is not an SNS message (a JSON object expected).")
    kind = message.get("Type")
    if kind not in SIGNED_FIELDS:
        raise SnsError("The SNS message has an unknown Type.")
    for name in (*SIGNED_FIELDS[kind], "Signature", "SignatureVersion", "SigningCertURL"):
        value = message.get(name)
        if value is None and name in OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise SnsError(f"The SNS message has no {name}.")
    return message


def string_to_sign(message: dict[str, Any]) -> bytes:
    """The canonical text SNS signs: ``name\\nvalue\\n`` for each signed field present, in order."""
    lines: list[str] = []
    for name in SIGNED_FIELDS[message["Type"]]:
        value = message.get(name)
        if value is None:  # only optional fields get here: parse() insists on the others
            continue
        lines.extend((name, str(value)))
    return ("\n".join(lines) + "\n").encode()


class SnsCertificates:
    """Fetches SNS signing certificates (cached in memory) and confirms subscriptions.

    Every URL is checked by ``check_url`` before any request. ``transport`` replaces httpx's
    network transport (tests serve their own certificate through it).
    """

    def __init__(
        self,
        *,
        host_pattern: str,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_cached: int = 32,
    ) -> None:
        self.host_pattern = re.compile(host_pattern)
        self.timeout = timeout
        self.transport = transport
        self.max_cached = max_cached
        self._cache: OrderedDict[str, x509.Certificate] = OrderedDict()

    def check_url(self, url: str, *, what: str = "URL") -> str:
        """``url`` when it is an https URL on an SNS host; ``UntrustedUrl`` otherwise."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UntrustedUrl(f"The SNS {what} is not a valid URL.") from exc
        host = parts.hostname or ""
        if (
            parts.scheme != "https"
            or parts.username is not None
            or parts.password is not None
            or port not in (None, 443)
            or not self.host_pattern.fullmatch(host)
        ):
            raise UntrustedUrl(f"The SNS {what} does not point to an Amazon SNS host over https.")
        return url

    async def certificate(self, url: str) -> x509.Certificate:
        """The certificate at ``url`` (from the cache after the first time).

        Raises ``UntrustedUrl`` for a URL off SNS, ``SnsError`` when it cannot be fetched or is
        not a PEM certificate.
        """
        self.check_url(url, what="SigningCertURL")
        if not urlsplit(url).path.endswith(".pem"):
            raise UntrustedUrl("The SNS SigningCertURL does not name a .pem certificate.")
        cached = self._cache.get(url)
        if cached is not None:
            self._cache.move_to_end(url)
            return cached
        body = await self._get(url, limit=MAX_CERTIFICATE_BYTES)
        try:
            found = x509.load_pem_x509_certificate(body)
        except ValueError as exc:
            raise SnsError("The SNS signing certificate could not be read.") from exc
        self._cache[url] = found
        while len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)
        return found

    async def confirm_subscription(self, url: str) -> None:
        """Visit a subscription's ``SubscribeURL``, which confirms it; ``SnsError`` if refused."""
        self.check_url(url, what="SubscribeURL")
        await self._get(url, limit=MAX_CERTIFICATE_BYTES)

    async def _get(self, url: str, *, limit: int) -> bytes:
        import httpx  # imported on use: only instances receiving SNS messages need it

        try:
            async with (
                httpx.AsyncClient(transport=self.transport, timeout=self.timeout, follow_redirects=False) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise SnsError(f"Amazon SNS answered {response.status_code}.")
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise SnsError("Amazon SNS sent more than expected.")
                return body
        except httpx.HTTPError as exc:
            raise SnsError(f"Amazon SNS could not be reached ({type(exc).__name__}).") from exc


async def verify(message: dict[str, Any], certificates: SnsCertificates, *, now: datetime) -> None:
    """Return when ``message`` (from ``parse``) carries a valid SNS signature; ``SnsError`` if not.

    The certificate must be valid at ``now`` and hold an RSA key; the signature is PKCS#1 v1.5
    over ``string_to_sign`` with SHA1 or SHA256 as ``SignatureVersion`` says.
    """
    algorithm = _HASHES.get(message["SignatureVersion"])
    if algorithm is None:
        raise SnsError("The SNS message has an unsupported SignatureVersion.")
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SnsError("The SNS message signature is not base64.") from exc
    certificate = await certificates.certificate(message["SigningCertURL"])
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise SnsError("The SNS signing certificate is not valid now.")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsError("The SNS signing certificate does not hold an RSA key.")
    try:
        key.verify(signature, string_to_sign(message), padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise SnsError("The SNS message signature could not be verified.") from exc
