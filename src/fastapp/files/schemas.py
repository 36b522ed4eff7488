"""API input and output models of files."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from fastapp.files.models import StoredFile
from fastapp.files.services import FilePage, Usage


class FileOut(BaseModel):
    id: uuid.UUID
    name: str
    purpose: str
    #: The type sniffed from the content (never only the declared one).
    content_type: str
    size: int
    sha256: str
    #: pending_scan, clean, infected (quarantined) or unscanned.
    status: str
    width: int | None
    height: int | None
    has_thumbnail: bool
    created_at: datetime
    updated_at: datetime
    #: Set while the file is in the trash (restorable until purged).
    deleted_at: datetime | None

    @classmethod
    def of(cls, row: StoredFile) -> FileOut:
        return cls(
            id=row.id,
            name=row.name,
            purpose=row.purpose,
            content_type=row.content_type,
            size=row.size,
            sha256=row.sha256,
            status=row.status,
            width=row.width,
            height=row.height,
            has_thumbnail=row.thumbnail_key is not None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            deleted_at=row.deleted_at,
        )


class FilePageOut(BaseModel):
    items: list[FileOut]
    total: int
    page: int
    per_page: int
    pages: int

    @classmethod
    def of(cls, page: FilePage) -> FilePageOut:
        return cls(
            items=[FileOut.of(row) for row in page.items],
            total=page.total,
            page=page.page,
            per_page=page.per_page,
            pages=page.pages,
        )


class RenameIn(BaseModel):
    name: str = Field(min_length=1, max_length=255)


class DownloadUrlOut(BaseModel):
    url: str
    expires_in: int = Field(description="Seconds the URL stays valid.")


class UsageOut(BaseModel):
    bytes: int
    files: int
    max_bytes: int | None
    max_files: int | None

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        return cls(bytes=usage.bytes, files=usage.files, max_bytes=usage.max_bytes, max_files=usage.max_files)
