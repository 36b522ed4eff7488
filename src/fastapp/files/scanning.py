"""Virus scanning outcomes: mark a file clean, or quarantine it and tell its owner.

Quarantine moves the bytes under ``quarantine/<id>`` in the storage (the original and the
thumbnail are deleted once the transaction commits),
so no route that serves ``files/...`` keys can ever reach them; the row keeps status
``infected`` and the threat's name, counts in the owner's usage, and is removed by the purge job
once deleted (or by an administrator). Nothing pending or infected is ever served
(``policy.can_fetch``).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from fastapp.audit.actions import Action
from fastapp.audit.services import record
from fastapp.files.models import FileStatus, StoredFile
from fastapp.notifications.services import notify
from fastapp.platform.context import Context, Runtime
from fastapp.platform.scanner import SCANNER, Scanner, ScanResult
from fastapp.platform.storage import STORAGE, Storage

log = structlog.get_logger("fastapp.files")

#: Notification kind sent to the owner of a quarantined file.
QUARANTINED_KIND = "files.quarantined"
QUARANTINE_PREFIX = "quarantine/"


def runtime_of(ctx: Context) -> Runtime:
    if ctx.runtime is None:
        raise RuntimeError("files services need ctx.runtime: open the context with open_context(runtime, ...)")
    return ctx.runtime


def storage_of(ctx: Context) -> Storage:
    """The configured storage; a programming error when the app has none."""
    found: Storage | None = runtime_of(ctx).services.get(STORAGE)
    if found is None:
        raise RuntimeError(f"no storage configured: runtime.services[{STORAGE!r}] is empty")
    return found


def delete_after_commit(ctx: Context, keys: Sequence[str]) -> None:
    """Delete the stored objects ``keys`` once ``ctx``'s transaction has committed: the rows
    naming them go first, so a rollback leaves rows and bytes together, never a row without its
    bytes. A failed delete is logged by the context and leaves an orphan object, not lost data."""
    if not keys:
        return
    storage = storage_of(ctx)
    doomed = tuple(keys)

    async def delete_objects() -> None:
        for key in doomed:
            await storage.delete(key)

    ctx.on_commit(delete_objects)


def scanner_of(ctx: Context) -> Scanner | None:
    """The configured scanner, or None (files are then ``unscanned``)."""
    found: Scanner | None = runtime_of(ctx).services.get(SCANNER)
    return found


def quarantine_key(file: StoredFile) -> str:
    return f"{QUARANTINE_PREFIX}{file.id}"


async def apply_result(ctx: Context, file: StoredFile, result: ScanResult) -> None:
    """Record ``result`` on ``file`` (in ``ctx``'s transaction): clean, or quarantined with an
    audit event and a notification to the owner. The bytes move before the row changes; a
    rollback afterwards leaves them in quarantine, which is the safe side."""
    file.scanned_at = ctx.clock.now()
    if not result.infected:
        file.status = FileStatus.clean.value
        file.scan_detail = None
        await ctx.session.flush()
        return
    await quarantine(ctx, file, result.signature or "unknown threat")


async def quarantine(ctx: Context, file: StoredFile, signature: str) -> None:
    """Move ``file``'s bytes under the quarantine prefix, drop its thumbnail, mark it infected,
    audit it and notify its owner."""
    storage = storage_of(ctx)
    target = quarantine_key(file)
    stale = [key for key in (file.storage_key, file.thumbnail_key) if key and key != target]
    if file.storage_key != target:
        await _copy(storage, file.storage_key, target, file.content_type)
        file.storage_key = target
    file.thumbnail_key = None

    async def drop_stale() -> None:
        # Only once the row points at the quarantine copy: a rollback leaves the file as it was.
        for key in stale:
            await storage.delete(key)

    ctx.on_commit(drop_stale)
    file.status = FileStatus.infected.value
    file.scan_detail = signature[:500]
    file.scanned_at = ctx.clock.now()
    await ctx.session.flush()
    await record(
        ctx,
        Action.FILE_QUARANTINED,
        target=("file", file.id),
        data={"signature": file.scan_detail, "owner_id": str(file.owner_id)},
        personal={"name": file.name},
    )
    await notify(ctx, [file.owner_id], QUARANTINED_KIND, {"name": file.name, "signature": file.scan_detail})
    log.warning("file quarantined", file_id=str(file.id), signature=file.scan_detail)


async def _copy(storage: Storage, source: str, target: str, content_type: str) -> None:
    """Copy ``source`` to ``target`` through a temporary file."""
    path = await download_to_temp(storage, source)
    try:
        await storage.put_file(target, path, content_type=content_type)
    finally:
        discard(path)


async def download_to_temp(storage: Storage, key: str) -> Path:
    """The object under ``key`` copied to a temporary file (the caller removes it)."""
    with tempfile.NamedTemporaryFile(prefix="scan-", delete=False) as handle:
        path = Path(handle.name)
        try:
            async for chunk in storage.read(key):
                handle.write(chunk)
        except BaseException:
            handle.close()
            discard(path)
            raise
    return path


def discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def sample_data() -> dict[str, Any]:
    return {"name": "report.pdf", "signature": "Eicar-Test-Signature"}
