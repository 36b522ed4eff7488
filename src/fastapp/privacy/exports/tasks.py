"""The ``privacy.export`` job: collect every domain's data about the user, write the ZIP, store
it, mark the export ready and tell the user (a notification and a mandatory email).

Progress (percent and stage) is committed in short transactions of its own while the job runs,
so the privacy page can show it; the job's own transaction writes only at the end (marking the
export ready, the notification), which keeps it from holding a lock the progress writes would
wait for. Delivery is at least once: a re-run rebuilds the ZIP under the same key. When an
attempt fails, the export shows as failed with a message safe to show; a retry that succeeds
makes it ready after all, unless the user has asked for a newer export meanwhile.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select, update

from fastapp.files.scanning import storage_of
from fastapp.notifications.services import notify
from fastapp.platform.context import Context, Runtime, separate_context
from fastapp.privacy.exports import services
from fastapp.privacy.exports.archive import write_archive
from fastapp.privacy.models import DataExport, ExportStatus
from fastapp.privacy.registry import collect_export, sources

log = structlog.get_logger("fastapp.privacy.exports")

FAILED_MESSAGE = "We could not prepare your export. Please request a new one; if it fails again, contact us."
#: Where each phase sits on the 0-100 progress bar.
COLLECTING = (5, 60)
PACKING = (60, 90)
STORING = 92


async def build(runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
    """``privacy.export``: build and store the ZIP of export ``payload["export_id"]``."""
    export_id = uuid.UUID(payload["export_id"])
    export = await ctx.session.get(DataExport, export_id)
    if export is None or not await _worth_building(ctx, export):
        return
    user_id = export.user_id
    key = services.storage_key(export_id)
    storage = storage_of(ctx)

    async def failed() -> None:
        await _mark_failed(ctx, export_id, key)

    ctx.on_rollback(failed)
    now = ctx.clock.now()
    await _progress(ctx, export_id, 0, "Starting", status=ExportStatus.running, started_at=now, error=None)

    async def collecting(label: str, done: int, total: int) -> None:
        await _progress(ctx, export_id, _between(COLLECTING, done, total), f"Collecting {label}")

    async def packing(done: int, total: int) -> None:
        await _progress(ctx, export_id, _between(PACKING, done, total), f"Packing files ({done + 1} of {total})")

    collected = await collect_export(ctx, user_id, progress=collecting)
    with tempfile.TemporaryDirectory(prefix="export-") as folder:
        path = Path(folder) / "export.zip"
        await _progress(ctx, export_id, PACKING[0], "Packing")
        missing = await write_archive(
            path,
            sources=sources(ctx),
            collected=collected,
            storage=storage,
            product=runtime.config.app.name,
            exported_at=now,
            on_file=packing,
        )
        await _progress(ctx, export_id, STORING, "Storing")
        size = await storage.put_file(key, path, content_type="application/zip")
    finished = ctx.clock.now()
    expires = finished + timedelta(days=services.settings_of(ctx).export_link_days)
    await ctx.session.execute(
        update(DataExport)
        .where(DataExport.id == export_id)
        .values(
            status=ExportStatus.ready.value,
            progress=100,
            stage="Ready",
            finished_at=finished,
            expires_at=expires,
            storage_key=key,
            size_bytes=size,
            error=None,
        )
        .execution_options(synchronize_session=False)
    )
    await notify(ctx, [user_id], services.READY_KIND, {"expires": f"{expires:%Y-%m-%d %H:%M} UTC"})
    log.info("data export ready", export=str(export_id), size=size, missing=len(missing))


async def _worth_building(ctx: Context, export: DataExport) -> bool:
    """False for an export already finished (a repeated delivery), and for a failed one the
    user has since replaced with a newer request."""
    if export.status in {ExportStatus.ready.value, ExportStatus.expired.value}:
        return False
    if export.status != ExportStatus.failed.value:
        return True
    newer = await ctx.session.scalar(
        select(DataExport.id)
        .where(DataExport.user_id == export.user_id, DataExport.requested_at > export.requested_at)
        .limit(1)
    )
    return newer is None


def _between(span: tuple[int, int], done: int, total: int) -> int:
    low, high = span
    return low + (high - low) * done // max(total, 1)


async def _progress(ctx: Context, export_id: uuid.UUID, percent: int, stage: str, **values: Any) -> None:
    """Commit the export's progress now, in a transaction of its own (the page polls it)."""
    if "status" in values:
        values["status"] = values["status"].value
    async with separate_context(ctx) as alone:
        await alone.session.execute(
            update(DataExport)
            .where(DataExport.id == export_id)
            .values(progress=percent, stage=stage[:100], **values)
            .execution_options(synchronize_session=False)
        )


async def _mark_failed(ctx: Context, export_id: uuid.UUID, key: str) -> None:
    """After the job's transaction rolled back: the export is failed (the user may ask again; a
    retry of the job may still finish it), and a ZIP already stored is removed."""
    async with separate_context(ctx) as alone:
        await alone.session.execute(
            update(DataExport)
            .where(DataExport.id == export_id, DataExport.status != ExportStatus.ready.value)
            .values(status=ExportStatus.failed.value, stage="Failed", error=FAILED_MESSAGE, finished_at=ctx.clock.now())
            .execution_options(synchronize_session=False)
        )
    await storage_of(ctx).delete(key)
    log.warning("data export failed", export=str(export_id))
