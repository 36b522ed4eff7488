"""Serving an export's ZIP to its owner: counted, audited, streamed from the storage."""

from __future__ import annotations

import uuid

from starlette.responses import Response, StreamingResponse

from fastapp.files.downloads import SAFE_HEADERS
from fastapp.files.scanning import storage_of
from fastapp.platform.context import Context
from fastapp.platform.errors import NotFound
from fastapp.platform.storage import StoredObjectMissing, content_disposition
from fastapp.privacy.exports import services

CONTENT_TYPE = "application/zip"


async def serve(ctx: Context, user_id: uuid.UUID, export_id: uuid.UUID) -> Response:
    """The ZIP of ``user_id``'s ready export as an attachment; ``NotFound`` otherwise (see
    ``services.start_download``) or when its content is gone from the storage."""
    export = await services.start_download(ctx, user_id, export_id)
    storage = storage_of(ctx)
    key = export.storage_key or ""
    try:
        size = await storage.size(key)
    except StoredObjectMissing as exc:
        raise NotFound("This export's file is missing: request a new one.") from exc
    name = services.file_name(export, services.runtime_of(ctx).config.app.name)
    headers = {
        **SAFE_HEADERS,
        "content-disposition": content_disposition(name, inline=False),
        "content-length": str(size),
    }
    return StreamingResponse(storage.read(key), media_type=CONTENT_TYPE, headers=headers)
