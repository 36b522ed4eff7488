"""Files' jobs: scanning pending files (retried while the scanner is away), the sweep that
re-queues files left pending, and the daily purge of the trash."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from fastapp.files import services
from fastapp.files.models import FileStatus, StoredFile
from fastapp.platform.context import Context, Runtime
from fastapp.platform.jobs import Schedule, enqueue

SCAN_JOB = services.SCAN_JOB
PURGE_JOB = "files.purge"
RESCAN_JOB = "files.rescan"
PURGE_SCHEDULE = Schedule("files.purge", "30 3 * * *", PURGE_JOB)
#: Files still pending an hour after upload (their scan job died, e.g. a day without a
#: scanner) get a new scan job.
RESCAN_SCHEDULE = Schedule("files.rescan", "15 * * * *", RESCAN_JOB)


async def scan(_runtime: Runtime, ctx: Context, payload: dict[str, Any]) -> None:
    """``files.scan``: scan one pending file; raises ``ScannerUnavailable`` to be retried."""
    await services.scan_pending(ctx, uuid.UUID(payload["file_id"]))


async def purge(_runtime: Runtime, ctx: Context, _payload: dict[str, Any]) -> None:
    """``files.purge``: remove files deleted more than ``FASTAPP_FILES_PURGE_DAYS`` ago, in
    batches (a batch per transaction: the job re-queues itself while there is more)."""
    purged = await services.purge_due(ctx)
    if purged == services.PURGE_BATCH:
        await enqueue(ctx, PURGE_JOB)


async def rescan(_runtime: Runtime, ctx: Context, _payload: dict[str, Any]) -> None:
    """``files.rescan``: a scan job for every file pending for more than an hour (at most one
    queued per file and hour)."""
    now = ctx.clock.now()
    rows = await ctx.session.scalars(
        select(StoredFile.id)
        .where(StoredFile.status == FileStatus.pending_scan.value, StoredFile.created_at < now - timedelta(hours=1))
        .limit(1000)
    )
    slot = now.strftime("%Y%m%d%H")
    for file_id in rows.all():
        await enqueue(
            ctx,
            SCAN_JOB,
            {"file_id": str(file_id)},
            idempotency_key=f"files.rescan:{file_id}:{slot}",
            max_attempts=services.SCAN_ATTEMPTS,
        )
