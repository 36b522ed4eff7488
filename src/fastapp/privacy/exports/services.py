"""Data exports (GDPR Art. 15 and 20): requesting one, reading its state, downloading it, and
deleting it once its link has expired.

A request creates a ``DataExport`` row and enqueues the ``privacy.export`` job in the same
transaction (``tasks.py`` builds the ZIP). One export at a time per user, and at most one per
``FASTAPP_PRIVACY_EXPORT_INTERVAL_HOURS`` (a failed one does not count). The ZIP is kept in the
files storage under ``privacy-exports/<id>.zip`` until ``expires_at``; an export past it reads
as ``expired`` at once, and the ``exports`` retention rule deletes its ZIP.

Everything here acts for one user: another user's export is ``NotFound``, exactly like one that
does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from fastapp.audit import Action, record
from fastapp.config import PrivacySettings
from fastapp.files.scanning import delete_after_commit
from fastapp.platform.context import Context, Runtime
from fastapp.platform.errors import Conflict, NotFound, RateLimited
from fastapp.platform.jobs import enqueue
from fastapp.privacy.models import DataExport, ExportStatus

EXPORT_JOB = "privacy.export"
#: The notification (and its mail) that tells the user their export can be downloaded.
READY_KIND = "privacy.export_ready"
STORAGE_PREFIX = "privacy-exports/"
#: Attempts of the job before the export stays failed (each rebuilds the ZIP from scratch).
EXPORT_ATTEMPTS = 3
IN_PROGRESS = frozenset({ExportStatus.pending.value, ExportStatus.running.value})


def runtime_of(ctx: Context) -> Runtime:
    if ctx.runtime is None:
        raise RuntimeError("exports need ctx.runtime: open the context with open_context(runtime, ...)")
    return ctx.runtime


def settings_of(ctx: Context) -> PrivacySettings:
    return runtime_of(ctx).config.privacy


def storage_key(export_id: uuid.UUID) -> str:
    return f"{STORAGE_PREFIX}{export_id}.zip"


def job_key(export_id: uuid.UUID) -> str:
    """The idempotency key of an export's job (one job per export; the handler finds it by it)."""
    return f"{EXPORT_JOB}:{export_id}"


def status_of(export: DataExport, now: datetime) -> ExportStatus:
    """The export's state as the user sees it: a ready export past its expiry is ``expired``
    even before the retention rule has deleted its ZIP."""
    if export.status == ExportStatus.ready.value and export.expires_at is not None and export.expires_at <= now:
        return ExportStatus.expired
    return ExportStatus(export.status)


def file_name(export: DataExport, product: str) -> str:
    """The ZIP's download name, e.g. ``fastapp-data-2026-11-20.zip``."""
    slug = "".join(c if c.isalnum() else "-" for c in product.lower()).strip("-") or "data"
    return f"{slug}-data-{export.requested_at:%Y-%m-%d}.zip"


async def find_latest(ctx: Context, user_id: uuid.UUID) -> DataExport | None:
    """The user's most recent export, or None."""
    return await ctx.session.scalar(
        select(DataExport).where(DataExport.user_id == user_id).order_by(DataExport.requested_at.desc()).limit(1)
    )


async def get_latest(ctx: Context, user_id: uuid.UUID) -> DataExport:
    found = await find_latest(ctx, user_id)
    if found is None:
        raise NotFound("You have not requested a data export yet.")
    return found


async def next_allowed_at(ctx: Context, user_id: uuid.UUID) -> datetime | None:
    """When the user may request their next export (None: now). Failed exports do not count."""
    hours = settings_of(ctx).export_interval_hours
    previous = await ctx.session.scalar(
        select(DataExport.requested_at)
        .where(DataExport.user_id == user_id, DataExport.status != ExportStatus.failed.value)
        .order_by(DataExport.requested_at.desc())
        .limit(1)
    )
    if previous is None or not hours:
        return None
    allowed = previous + timedelta(hours=hours)
    return allowed if allowed > ctx.clock.now() else None


async def request_export(ctx: Context, user_id: uuid.UUID) -> DataExport:
    """Start a new export of ``user_id``'s data: the row, its job and the audit event, in
    ``ctx``'s transaction.

    Raises ``Conflict`` while an earlier export is still being prepared, and ``RateLimited``
    (``available_at`` in its extra: ISO 8601, UTC) within the interval after the last one.
    Re-authentication is the caller's to check (pages and API do, as for every sudo action).
    """
    running = await ctx.session.scalar(
        select(DataExport.id).where(DataExport.user_id == user_id, DataExport.status.in_(IN_PROGRESS)).limit(1)
    )
    if running is not None:
        raise Conflict("Your previous export is still being prepared: it will be ready shortly.")
    allowed = await next_allowed_at(ctx, user_id)
    if allowed is not None:
        hours = settings_of(ctx).export_interval_hours
        raise RateLimited(
            f"You can request one export every {hours} hours. The next is possible from {allowed:%Y-%m-%d %H:%M} UTC.",
            resets_in=int((allowed - ctx.clock.now()).total_seconds()) + 1,
            available_at=allowed.isoformat(),
        )
    export = DataExport(
        id=uuid.uuid4(),
        user_id=user_id,
        status=ExportStatus.pending.value,
        progress=0,
        stage="Waiting to start",
        requested_at=ctx.clock.now(),
        download_count=0,
    )
    ctx.session.add(export)
    await ctx.session.flush()
    await enqueue(
        ctx, EXPORT_JOB, {"export_id": str(export.id)}, idempotency_key=job_key(export.id), max_attempts=EXPORT_ATTEMPTS
    )
    await record(ctx, Action.PRIVACY_EXPORT_REQUESTED, target=("privacy_export", export.id))
    return export


async def _own(ctx: Context, user_id: uuid.UUID, export_id: uuid.UUID) -> DataExport:
    export = await ctx.session.get(DataExport, export_id)
    if export is None or export.user_id != user_id:
        raise NotFound("There is no such export.")
    return export


async def start_download(ctx: Context, user_id: uuid.UUID, export_id: uuid.UUID) -> DataExport:
    """The user's ready, unexpired export, counted and audited as downloaded; ``NotFound``
    for another user's, an unfinished or an expired one (the caller streams its ZIP)."""
    export = await _own(ctx, user_id, export_id)
    state = status_of(export, ctx.clock.now())
    if state is ExportStatus.expired:
        raise NotFound("This export has expired: request a new one.")
    if state is not ExportStatus.ready or export.storage_key is None:
        raise NotFound("This export is not ready to download.")
    export.download_count += 1
    await ctx.session.flush()
    await record(
        ctx,
        Action.PRIVACY_EXPORT_DOWNLOADED,
        target=("privacy_export", export.id),
        data={"count": export.download_count},
    )
    return export


async def purge_expired(ctx: Context, _cutoff: datetime) -> int:
    """The ``exports`` retention rule: mark exports past their ``expires_at`` expired and
    delete their ZIPs from storage once that commits; the count.

    Each export carries its own expiry (promised to the user when it was made), so that is the
    cutoff here rather than the rule's ``days`` (the same number, unless it changed since).
    """
    rows = (
        await ctx.session.scalars(
            select(DataExport).where(
                DataExport.status == ExportStatus.ready.value, DataExport.expires_at <= ctx.clock.now()
            )
        )
    ).all()
    keys = [row.storage_key for row in rows if row.storage_key]
    for row in rows:
        row.status = ExportStatus.expired.value
        row.storage_key = None
    await ctx.session.flush()
    delete_after_commit(ctx, keys)
    return len(rows)
