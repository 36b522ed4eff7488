"""Downloads: permission-checked streaming responses with HTTP ranges, and download URLs.

A download URL is the storage's own presigned URL when it has one (S3), else a signed,
expiring app URL (``/api/v1/files/download/<token>``) the app serves itself. The token is an
HMAC over the file id, variant, disposition and expiry under the app secret: it is the whole
credential, so it is short-lived and the file's status is checked again when it is used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from starlette.responses import Response, StreamingResponse

from fastapp.files import policy, services
from fastapp.files.images import THUMBNAIL_TYPE
from fastapp.files.models import FileStatus, StoredFile
from fastapp.files.scanning import runtime_of, storage_of
from fastapp.files.upload import IMAGE_TYPES
from fastapp.platform.context import Context
from fastapp.platform.errors import DomainError, NotFound, PermissionDenied
from fastapp.platform.storage import StoredObjectMissing, content_disposition

#: Where the app serves signed download URLs (the API router's route).
SIGNED_PATH = "/api/v1/files/download/"
#: Headers every download carries: no sniffing, no scripts, no plugins, no same-origin powers.
SAFE_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cache-control": "private, no-store",
    "cross-origin-resource-policy": "same-origin",
}
#: Types a browser may show from our origin: images, and PDFs in its own PDF viewer.
PREVIEW_TYPES = IMAGE_TYPES | {"application/pdf"}
#: An inline PDF cannot be sandboxed (browsers refuse to show PDFs in a sandboxed document); it
#: still may load nothing, be framed by no page, and its scripts run only in the viewer's sandbox.
PDF_PREVIEW_CSP = "default-src 'none'; frame-ancestors 'none'"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(DomainError):
    status = 416
    problem_type = "range-not-satisfiable"
    title = "Range not satisfiable"


@dataclass(frozen=True)
class Grant:
    """What a valid signed token allows."""

    file_id: uuid.UUID
    thumbnail: bool
    inline: bool


def _secret(ctx: Context) -> bytes:
    return runtime_of(ctx).config.app.secret_key.get_secret_value().encode()


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, b"files.download:" + payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(ctx: Context, file_id: uuid.UUID, *, thumbnail: bool, inline: bool, expires_in: timedelta) -> str:
    """A token for ``file_id`` valid for ``expires_in``."""
    expires = int((ctx.clock.now() + expires_in).timestamp())
    payload = f"{file_id.hex}.{'t' if thumbnail else 'f'}.{'i' if inline else 'a'}.{expires}"
    return f"{payload}.{_mac(_secret(ctx), payload)}"


def verify(ctx: Context, token: str) -> Grant:
    """The grant of a valid, unexpired token; ``NotFound`` otherwise (a forged or stale link
    says no more than a missing file)."""
    parts = token.split(".")
    if len(parts) != 5:
        raise NotFound("This download link is not valid.")
    payload, mac = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(mac, _mac(_secret(ctx), payload)):
        raise NotFound("This download link is not valid.")
    ident, variant, disposition, expires = parts[:4]
    if not expires.isdigit() or int(expires) < ctx.clock.now().timestamp():
        raise NotFound("This download link has expired: ask for a new one.")
    try:
        file_id = uuid.UUID(hex=ident)
    except ValueError as exc:
        raise NotFound("This download link is not valid.") from exc
    return Grant(file_id=file_id, thumbnail=variant == "t", inline=disposition == "i")


def _servable(file: StoredFile) -> bool:
    return file.deleted_at is None and file.status in {FileStatus.clean.value, FileStatus.unscanned.value}


async def download_url(ctx: Context, file_id: uuid.UUID, *, inline: bool = False, thumbnail: bool = False) -> str:
    """A short-lived URL for the file's bytes (or its thumbnail), for the principal.

    Raises ``NotFound`` when the principal cannot see the file (or it has no thumbnail) and
    ``PermissionDenied`` when its bytes may not be served (pending a scan, infected, deleted,
    or unscanned and not the principal's own). ``inline`` applies to images and PDFs only.
    """
    file = await services.get_file(ctx, file_id)
    if not policy.can_fetch(ctx.principal, file):
        raise PermissionDenied(_refusal(file))
    if thumbnail and not file.thumbnail_key:
        raise NotFound("This file has no thumbnail.")
    inline = inline and (thumbnail or file.content_type in PREVIEW_TYPES)
    expires_in = timedelta(minutes=services.settings_of(ctx).download_url_minutes)
    key = file.thumbnail_key if thumbnail and file.thumbnail_key else file.storage_key
    content_type = THUMBNAIL_TYPE if thumbnail else file.content_type
    direct = await storage_of(ctx).download_url(
        key, expires_in=expires_in, filename=file.name, content_type=content_type, inline=inline
    )
    if direct is not None:
        return direct
    return SIGNED_PATH + sign(ctx, file.id, thumbnail=thumbnail, inline=inline, expires_in=expires_in)


def _refusal(file: StoredFile) -> str:
    if file.deleted_at is not None:
        return "This file is in the trash: restore it to download it."
    if file.status == FileStatus.pending_scan.value:
        return "This file is waiting for its virus scan; try again shortly."
    if file.status == FileStatus.infected.value:
        return "This file was quarantined: a virus scan found a threat in it."
    return "Only the owner can download a file that has not been virus-scanned."


async def serve(
    ctx: Context, file_id: uuid.UUID, *, inline: bool = False, thumbnail: bool = False, range_header: str | None = None
) -> Response:
    """The file's bytes for the signed-in principal (a page's download link)."""
    file = await services.get_file(ctx, file_id)
    if not policy.can_fetch(ctx.principal, file):
        raise PermissionDenied(_refusal(file))
    return await respond(ctx, file, thumbnail=thumbnail, inline=inline, range_header=range_header)


async def serve_signed(ctx: Context, token: str, *, range_header: str | None = None) -> Response:
    """The bytes a signed download token grants; the file must still be servable."""
    grant = verify(ctx, token)
    file = await ctx.session.get(StoredFile, grant.file_id)
    if file is None or not _servable(file):
        raise NotFound("This file is not available.")
    return await respond(ctx, file, thumbnail=grant.thumbnail, inline=grant.inline, range_header=range_header)


async def respond(
    ctx: Context, file: StoredFile, *, thumbnail: bool, inline: bool, range_header: str | None
) -> Response:
    """A streaming response (200, or 206 for one satisfiable range; ``RangeNotSatisfiable``
    416 otherwise) with the safe download headers."""
    storage = storage_of(ctx)
    key = file.thumbnail_key if thumbnail else file.storage_key
    if key is None:
        raise NotFound("This file has no thumbnail.")
    try:
        size = await storage.size(key)
    except StoredObjectMissing as exc:
        raise NotFound("This file's content is missing.") from exc
    content_type = THUMBNAIL_TYPE if thumbnail else file.content_type
    inline = inline and (thumbnail or file.content_type in PREVIEW_TYPES)
    headers = {
        **SAFE_HEADERS,
        **({"content-security-policy": PDF_PREVIEW_CSP} if inline and content_type == "application/pdf" else {}),
        "content-disposition": content_disposition(file.name, inline=inline),
        "accept-ranges": "bytes",
        "etag": f'"{file.sha256}"' if not thumbnail else f'"t-{file.sha256}"',
    }
    wanted = parse_range(range_header, size)
    if wanted is None:
        headers["content-length"] = str(size)
        return StreamingResponse(storage.read(key), media_type=content_type, headers=headers)
    start, end = wanted
    headers["content-range"] = f"bytes {start}-{end}/{size}"
    headers["content-length"] = str(end - start + 1)
    return StreamingResponse(
        storage.read(key, start=start, end=end), status_code=206, media_type=content_type, headers=headers
    )


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range ``header`` asks for as ``(start, end)`` inclusive, or None to send the
    whole file (no header, a malformed one, or several ranges, which RFC 9110 lets a server
    ignore). Raises ``RangeNotSatisfiable`` when the range lies outside the file."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable(f"bytes */{size}", content_range=f"bytes */{size}")
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or (last != "" and int(last) < start):
        raise RangeNotSatisfiable(f"The file has {size} bytes.", content_range=f"bytes */{size}")
    return start, end
