"""API output of data exports."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from fastapp.privacy.exports.services import status_of
from fastapp.privacy.models import DataExport, ExportStatus


class ExportOut(BaseModel):
    id: uuid.UUID
    #: pending, running, ready, expired or failed.
    status: ExportStatus
    progress: int = Field(ge=0, le=100)
    #: What the job is doing now ("Collecting Files", "Packing"), for a progress display.
    stage: str
    requested_at: datetime
    finished_at: datetime | None
    #: When a ready export stops being downloadable.
    expires_at: datetime | None
    #: Where to download the ZIP (with the same bearer token) while it is ready.
    download_url: str | None
    size_bytes: int | None
    #: Why it failed, in words meant for the user.
    error: str | None

    @classmethod
    def of(cls, export: DataExport, *, now: datetime, download_url: str) -> ExportOut:
        status = status_of(export, now)
        return cls(
            id=export.id,
            status=status,
            progress=export.progress,
            stage=export.stage,
            requested_at=export.requested_at,
            finished_at=export.finished_at,
            expires_at=export.expires_at,
            download_url=download_url if status is ExportStatus.ready else None,
            size_bytes=export.size_bytes,
            error=export.error if status is ExportStatus.failed else None,
        )
