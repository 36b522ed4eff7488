"""``/api/v1/files``: upload, list, metadata, download URLs, rename, trash and restore (the same
services as the pages), and the signed download route local storage's URLs point at."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from fastapp.api.deps import ContextDep, VerifiedPrincipalDep
from fastapp.files import downloads, services
from fastapp.files.models import StoredFile
from fastapp.files.scanning import runtime_of
from fastapp.files.schemas import DownloadUrlOut, FileOut, FilePageOut, RenameIn, UsageOut
from fastapp.files.upload import receive_request
from fastapp.platform.context import Context

router = APIRouter(prefix="/files", tags=["files"])

_MULTIPART: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "purpose": {"type": "string", "enum": ["document", "avatar"], "default": "document"},
                    },
                }
            }
        },
    }
}


async def upload_from(request: Request, ctx: Context) -> StoredFile:
    """Stream the request's file to a temporary file, then run the upload service on it."""
    config = runtime_of(ctx).config
    received = await receive_request(
        request, max_bytes=config.files.max_upload_bytes, tmp_dir=config.app.var_dir / "tmp" / "uploads"
    )
    try:
        return await services.upload(ctx, received)
    finally:
        received.discard()


@router.post("", status_code=201, response_model=FileOut, openapi_extra=_MULTIPART)
async def upload(request: Request, _principal: VerifiedPrincipalDep, ctx: ContextDep) -> FileOut:
    """Upload one file (multipart field ``file``, optional ``purpose``: ``document`` or
    ``avatar``). 413 past the size limit, 415 for a type the purpose does not accept, 422 when
    the content contradicts its declared type or extension, 409 past the quota."""
    return FileOut.of(await upload_from(request, ctx))


@router.get("", response_model=FilePageOut)
async def list_files(
    _principal: VerifiedPrincipalDep,
    ctx: ContextDep,
    q: Annotated[str, Query(max_length=200, description="part of the name")] = "",
    sort: services.FileSort = services.FileSort.date,
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    type: Annotated[str | None, Query(description="image, pdf, text or office")] = None,
    deleted: Annotated[bool, Query(description="list the trash instead")] = False,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=services.MAX_PAGE)] = services.PAGE_SIZE,
) -> FilePageOut:
    """Your files, newest first by default."""
    query = services.FileQuery(
        search=q, sort=sort, descending=order == "desc", type=type, deleted=deleted, page=page, per_page=per_page
    )
    return FilePageOut.of(await services.list_files(ctx, query))


@router.get("/usage", response_model=UsageOut)
async def usage(_principal: VerifiedPrincipalDep, ctx: ContextDep) -> UsageOut:
    """What your files take and your quota (soft-deleted files count until purged)."""
    return UsageOut.of(await services.usage(ctx))


@router.get("/download/{token}", include_in_schema=False)
async def signed_download(token: str, request: Request, ctx: ContextDep) -> Response:
    """The bytes a signed download URL grants (local storage); no sign-in needed: the token is
    the credential."""
    return await _ranged(downloads.serve_signed(ctx, token, range_header=request.headers.get("range")))


@router.get("/{file_id}", response_model=FileOut)
async def get_file(file_id: uuid.UUID, _principal: VerifiedPrincipalDep, ctx: ContextDep) -> FileOut:
    return FileOut.of(await services.get_file(ctx, file_id))


@router.get("/{file_id}/download-url", response_model=DownloadUrlOut)
async def download_url(
    file_id: uuid.UUID,
    _principal: VerifiedPrincipalDep,
    ctx: ContextDep,
    inline: Annotated[bool, Query(description="display an image in the browser")] = False,
    thumbnail: bool = False,
) -> DownloadUrlOut:
    """A short-lived URL for the file's bytes; 403 while it waits for its scan or when it was
    quarantined."""
    url = await downloads.download_url(ctx, file_id, inline=inline, thumbnail=thumbnail)
    minutes = services.settings_of(ctx).download_url_minutes
    return DownloadUrlOut(url=url, expires_in=minutes * 60)


@router.patch("/{file_id}", response_model=FileOut)
async def rename(file_id: uuid.UUID, body: RenameIn, _principal: VerifiedPrincipalDep, ctx: ContextDep) -> FileOut:
    """Rename the file; its extension is kept."""
    return FileOut.of(await services.rename(ctx, file_id, body.name))


@router.delete("/{file_id}", response_model=FileOut)
async def delete(file_id: uuid.UUID, _principal: VerifiedPrincipalDep, ctx: ContextDep) -> FileOut:
    """Move the file to the trash; restorable until it is purged."""
    return FileOut.of(await services.delete(ctx, file_id))


@router.post("/{file_id}/restore", response_model=FileOut)
async def restore(file_id: uuid.UUID, _principal: VerifiedPrincipalDep, ctx: ContextDep) -> FileOut:
    return FileOut.of(await services.restore(ctx, file_id))


async def _ranged(pending: Any) -> Response:
    """Await a download response; an unsatisfiable range answers 416 with ``Content-Range``."""
    try:
        response: Response = await pending
    except downloads.RangeNotSatisfiable as exc:
        return Response(
            status_code=416,
            headers={**downloads.SAFE_HEADERS, "content-range": str(exc.extra.get("content_range", ""))},
        )
    return response
