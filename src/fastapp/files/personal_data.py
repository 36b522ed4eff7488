"""What the files domain keeps about a user, for exports and erasure (``platform.privacy``).

The user's files (metadata rows and their stored bytes), their usage counters and any quota an
administrator set for them. An export references every stored file that may be served (clean, or
unscanned where no scanner runs): quarantined and not-yet-scanned bytes are never handed out,
not even to their owner. Erasure deletes the rows in the caller's transaction and the stored
objects (with thumbnails) once it commits, as the purge job does.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from fastapp.files.models import FileQuota, FileStatus, FileUsage, StoredFile
from fastapp.files.scanning import delete_after_commit
from fastapp.platform.context import Context
from fastapp.platform.privacy import ErasureSubject, ExportedData, ExportedFile, PersonalData, delete_user_rows
from fastapp.platform.registry import Registry

#: After the profile eraser, which looks up the avatar's file row.
ERASE_ORDER = 60
SERVABLE = (FileStatus.clean.value, FileStatus.unscanned.value)


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_name(file: StoredFile) -> str:
    """The file's path in the export: its id keeps two files of one name apart."""
    return f"{file.id}/{file.name}"


async def export_files(ctx: Context, user_id: uuid.UUID) -> ExportedData:
    rows = (
        await ctx.session.scalars(
            select(StoredFile).where(StoredFile.owner_id == user_id).order_by(StoredFile.created_at)
        )
    ).all()
    usage = await ctx.session.get(FileUsage, user_id)
    quota = await ctx.session.get(FileQuota, user_id)
    return ExportedData(
        records={
            "files": [
                {
                    "id": str(f.id),
                    "name": f.name,
                    "purpose": f.purpose,
                    "content_type": f.content_type,
                    "size": f.size,
                    "sha256": f.sha256,
                    "status": f.status,
                    "created_at": _when(f.created_at),
                    "updated_at": _when(f.updated_at),
                    "deleted_at": _when(f.deleted_at),
                    "exported_as": f"files/{export_name(f)}" if f.status in SERVABLE else None,
                }
                for f in rows
            ],
            "usage": [{"bytes": usage.bytes, "files": usage.files}] if usage else [],
            "quota": [
                {"max_bytes": quota.max_bytes, "max_files": quota.max_files, "updated_at": _when(quota.updated_at)}
            ]
            if quota
            else [],
        },
        files=[ExportedFile(name=export_name(f), storage_key=f.storage_key) for f in rows if f.status in SERVABLE],
    )


async def erase_files(ctx: Context, subject: ErasureSubject) -> int:
    """Delete the user's file rows, usage and quota; their stored objects after the commit."""
    keys = [
        key
        for storage_key, thumbnail_key in (
            await ctx.session.execute(
                select(StoredFile.storage_key, StoredFile.thumbnail_key).where(StoredFile.owner_id == subject.user_id)
            )
        ).all()
        for key in (storage_key, thumbnail_key)
        if key
    ]
    changed = await delete_user_rows(ctx, subject.user_id, StoredFile.owner_id, FileUsage.user_id, FileQuota.user_id)
    delete_after_commit(ctx, keys)
    return changed


def register(registry: Registry) -> None:
    registry.add_personal_data(
        PersonalData(
            key="files",
            label="Files",
            description="Files you uploaded (name, type, size, checksum, scan result, dates) with their "
            "contents and thumbnails; how much space you use and any quota set for you.",
            legal_basis="Contract (Art. 6(1)(b)): storing what you upload is the service you asked for.",
            retention="Until you delete them (the trash is emptied after FASTAPP_FILES_PURGE_DAYS) or your account.",
            tables=("files", "file_usage", "file_quotas"),
            export=export_files,
            erase=erase_files,
            erase_order=ERASE_ORDER,
        )
    )
