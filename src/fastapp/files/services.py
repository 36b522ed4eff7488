"""Files' business rules, used by the pages and the API alike.

Every function takes ``ctx`` and acts for ``ctx.principal``: a user sees and changes only their
own files (another user's file is ``NotFound``); a principal holding ``files:manage`` sees every
file. Bytes are served only as ``policy.can_fetch`` allows (never pending or infected files).

The upload keeps its bytes outside the transaction until the quota is reserved: the stored
object is deleted again if the transaction rolls back.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fastapp.audit.actions import Action
from fastapp.audit.services import record
from fastapp.config import FilesSettings
from fastapp.files import images, policy
from fastapp.files.models import FileQuota, FileStatus, FileUsage, StoredFile
from fastapp.files.scanning import QUARANTINE_PREFIX, apply_result, runtime_of, scanner_of, storage_of
from fastapp.files.upload import (
    CSV,
    DOCX,
    IMAGE_TYPES,
    PDF,
    PPTX,
    TEXT,
    XLSX,
    ReceivedUpload,
    check,
    extension_of,
    purposes_with,
    sanitize_name,
)
from fastapp.platform.context import Context, Principal
from fastapp.platform.errors import Conflict, Invalid, NotFound, PermissionDenied, Unauthenticated
from fastapp.platform.jobs import enqueue
from fastapp.platform.scanner import ScannerUnavailable, ScanResult, ScanTooLarge

#: Job that scans a pending file (retried while the scanner is unreachable).
SCAN_JOB = "files.scan"
SCAN_ATTEMPTS = 30  # with capped exponential backoff: about a day of retries
PAGE_SIZE = 25
PURGE_BATCH = 200  # files purged per transaction
MAX_PAGE = 100

#: The type filter's groups.
TYPE_GROUPS: dict[str, frozenset[str]] = {
    "image": IMAGE_TYPES,
    "pdf": frozenset({PDF}),
    "text": frozenset({TEXT, CSV}),
    "office": frozenset({DOCX, XLSX, PPTX}),
}


class QuotaExceeded(Conflict):
    problem_type = "quota-exceeded"
    title = "Storage quota exceeded"


class FileSort(StrEnum):
    name = "name"
    date = "date"
    size = "size"


@dataclass(frozen=True)
class FileQuery:
    """A page of the file list. ``deleted`` lists the trash instead; ``all_users`` (managers
    only) lists everyone's files, or one user's with ``owner_id``; ``status`` filters by scan
    status (``infected`` is the quarantine)."""

    search: str = ""
    sort: FileSort = FileSort.date
    descending: bool = True
    type: str | None = None
    deleted: bool = False
    page: int = 1
    per_page: int = PAGE_SIZE
    all_users: bool = False
    owner_id: uuid.UUID | None = None
    status: FileStatus | None = None


@dataclass(frozen=True)
class FilePage:
    items: list[StoredFile]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class Usage:
    """What a user's files take and may take (``max_*`` None means unlimited)."""

    user_id: uuid.UUID
    bytes: int
    files: int
    max_bytes: int | None
    max_files: int | None
    #: True when an administrator set this user's quota (else: the defaults of their roles).
    overridden: bool = False

    @property
    def fraction(self) -> float:
        """How full the byte quota is, 0..1 (for a quota bar)."""
        if not self.max_bytes:
            return 0.0
        return min(1.0, self.bytes / self.max_bytes)


# -- helpers --------------------------------------------------------------------------------------


def settings_of(ctx: Context) -> FilesSettings:
    return runtime_of(ctx).config.files


def _principal(ctx: Context) -> Principal:
    if ctx.principal is None:
        raise Unauthenticated("Sign in to manage your files.")
    return ctx.principal


def _manager(ctx: Context) -> Principal:
    principal = _principal(ctx)
    if not policy.can_manage(principal):
        raise PermissionDenied("Managing every user's files needs the files:manage permission.")
    return principal


def _dialect_insert(ctx: Context):  # type: ignore[no-untyped-def]
    return pg_insert if ctx.session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _key(file_id: uuid.UUID) -> str:
    return f"files/{file_id.hex[:2]}/{file_id}"


def _thumbnail_key(file_id: uuid.UUID) -> str:
    return f"thumbnails/{file_id.hex[:2]}/{file_id}.webp"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


# -- upload ---------------------------------------------------------------------------------------


async def upload(ctx: Context, received: ReceivedUpload) -> StoredFile:
    """Validate, store and record ``received`` for the principal; the new file.

    Images are re-encoded without metadata and get a thumbnail. With a scanner the file is
    scanned at once when the scanner answers (``clean``, or ``infected`` and quarantined) and is
    left ``pending_scan`` with a retrying ``files.scan`` job when it does not; without one it is
    ``unscanned``. The caller still owns (and discards) ``received``'s temporary files.

    Raises ``UnsupportedFileType`` (415), ``Invalid`` (422, incl. ``ImageTooLarge``),
    ``QuotaExceeded`` (409), ``Unauthenticated``.
    """
    principal = _principal(ctx)
    settings = settings_of(ctx)
    checked = await asyncio.to_thread(check, received, purposes_with(settings.purposes))
    storage = storage_of(ctx)
    file_id = uuid.uuid4()
    source, width, height, thumbnail = received.path, None, None, None
    size, sha256 = received.size, received.sha256
    if checked.is_image:
        tmp_dir = received.path.parent
        processed = await asyncio.to_thread(
            images.process,
            received.path,
            checked.content_type,
            max_pixels=settings.max_image_pixels,
            thumbnail_size=settings.thumbnail_size,
            tmp_dir=tmp_dir,
        )
        received.extra_paths += [processed.path, processed.thumbnail]
        source, width, height, thumbnail = processed.path, processed.width, processed.height, processed.thumbnail
        size = processed.path.stat().st_size
        sha256 = await asyncio.to_thread(_sha256, processed.path)

    status, result = FileStatus.unscanned, None
    scanner = scanner_of(ctx)
    if scanner is not None:
        status = FileStatus.pending_scan
        try:
            result = await scanner.scan_file(received.path)  # what the user sent, before re-encoding
        except ScannerUnavailable:
            result = None
        except ScanTooLarge as exc:
            raise Invalid(
                "The file is too large for the virus scanner; upload a smaller one.",
                fields={"file": "Too large to scan."},
            ) from exc

    infected = result is not None and result.infected
    # An infected upload goes straight to quarantine: its bytes never sit under a served key.
    key = f"{QUARANTINE_PREFIX}{file_id}" if infected else _key(file_id)
    await storage.put_file(key, source, content_type=checked.content_type)
    stored = [key]
    thumbnail_key = None
    if thumbnail is not None and not infected:
        thumbnail_key = _thumbnail_key(file_id)
        await storage.put_file(thumbnail_key, thumbnail, content_type=images.THUMBNAIL_TYPE)
        stored.append(thumbnail_key)

    async def forget() -> None:
        for each in stored:
            await storage.delete(each)

    ctx.on_rollback(forget)
    await reserve(ctx, principal.user_id, size)
    now = ctx.clock.now()
    file = StoredFile(
        id=file_id,
        owner_id=principal.user_id,
        purpose=received.purpose,
        name=checked.name,
        content_type=checked.content_type,
        size=size,
        sha256=sha256,
        storage_key=key,
        status=status.value,
        scan_detail=None,
        scanned_at=None,
        width=width,
        height=height,
        thumbnail_key=thumbnail_key,
        created_at=now,
        updated_at=now,
        deleted_at=None,
    )
    ctx.session.add(file)
    await ctx.session.flush()
    if result is not None:
        await apply_result(ctx, file, result)
    elif status is FileStatus.pending_scan:
        await enqueue(ctx, SCAN_JOB, {"file_id": str(file_id)}, max_attempts=SCAN_ATTEMPTS)
    return file


# -- quotas ---------------------------------------------------------------------------------------


async def limits_for(ctx: Context, user_id: uuid.UUID) -> tuple[int | None, int | None, bool]:
    """``(max_bytes, max_files, overridden)`` for ``user_id``: an administrator's override where
    set, else the largest default among the user's roles (``FASTAPP_FILES_DEFAULT_QUOTAS``)."""
    defaults = settings_of(ctx).default_quotas
    roles: set[str] = set()
    lookup = runtime_of(ctx).registry.user_roles
    if lookup is not None:
        roles = (await lookup(ctx, [user_id])).get(user_id, set())
    known = [defaults[r] for r in roles if r in defaults] or ([defaults["member"]] if "member" in defaults else [])
    max_bytes = max((d.get("bytes", 0) for d in known), default=None)
    max_files = max((d.get("files", 0) for d in known), default=None)
    override = await ctx.session.get(FileQuota, user_id)
    overridden = False
    if override is not None:
        if override.max_bytes is not None:
            max_bytes, overridden = override.max_bytes, True
        if override.max_files is not None:
            max_files, overridden = override.max_files, True
    return max_bytes, max_files, overridden


async def reserve(ctx: Context, user_id: uuid.UUID, size: int) -> None:
    """Count one more file of ``size`` bytes against ``user_id``'s quota, or raise
    ``QuotaExceeded``. One conditional UPDATE decides, so parallel uploads cannot pass the
    quota together (PostgreSQL re-checks the condition on the locked row; SQLite serialises
    writers). The row is created first with an upsert, which also makes this transaction a
    writer from its first statement (SQLite cannot upgrade a reader that saw an older snapshot)."""
    insert = _dialect_insert(ctx)
    await ctx.session.execute(
        insert(FileUsage).values(user_id=user_id, bytes=0, files=0).on_conflict_do_nothing(index_elements=["user_id"])
    )
    max_bytes, max_files, _ = await limits_for(ctx, user_id)
    conditions: list[ColumnElement[bool]] = [FileUsage.user_id == user_id]
    if max_bytes is not None:
        conditions.append(FileUsage.bytes + size <= max_bytes)
    if max_files is not None:
        conditions.append(FileUsage.files + 1 <= max_files)
    result = await ctx.session.execute(
        update(FileUsage)
        .where(*conditions)
        .values(bytes=FileUsage.bytes + size, files=FileUsage.files + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        usage = await ctx.session.get(FileUsage, user_id, populate_existing=True)
        used_files = usage.files if usage else 0
        if max_files is not None and used_files + 1 > max_files:
            detail = f"You have reached your limit of {max_files:,} files. Delete some (and empty the trash) first."
        else:
            detail = "This file would take you over your storage quota. Delete some files first."
        raise QuotaExceeded(detail, fields={"file": "Storage quota exceeded."})


async def release(ctx: Context, user_id: uuid.UUID, size: int) -> None:
    """Give back one file of ``size`` bytes (a purged file)."""
    await ctx.session.execute(
        update(FileUsage)
        .where(FileUsage.user_id == user_id)
        .values(
            bytes=case((FileUsage.bytes > size, FileUsage.bytes - size), else_=0),
            files=case((FileUsage.files > 0, FileUsage.files - 1), else_=0),
        )
        .execution_options(synchronize_session=False)
    )


def _is_sqlite(ctx: Context) -> bool:
    return ctx.session.get_bind().dialect.name == "sqlite"


async def usage(ctx: Context, user_id: uuid.UUID | None = None) -> Usage:
    """The principal's usage and limits (another user's needs ``files:manage``)."""
    principal = _principal(ctx)
    target = user_id or principal.user_id
    if target != principal.user_id:
        _manager(ctx)
    row = await ctx.session.get(FileUsage, target)
    max_bytes, max_files, overridden = await limits_for(ctx, target)
    return Usage(
        user_id=target,
        bytes=row.bytes if row else 0,
        files=row.files if row else 0,
        max_bytes=max_bytes,
        max_files=max_files,
        overridden=overridden,
    )


async def usages(ctx: Context, *, page: int = 1, per_page: int = PAGE_SIZE) -> tuple[list[Usage], int]:
    """Managers: every user with files, largest usage first, and how many there are."""
    _manager(ctx)
    total = int(await ctx.session.scalar(select(func.count()).select_from(FileUsage)) or 0)
    rows = (
        await ctx.session.scalars(
            select(FileUsage)
            .order_by(FileUsage.bytes.desc(), FileUsage.user_id)
            .limit(per_page)
            .offset((max(1, page) - 1) * per_page)
        )
    ).all()
    found = []
    for row in rows:
        max_bytes, max_files, overridden = await limits_for(ctx, row.user_id)
        found.append(Usage(row.user_id, row.bytes, row.files, max_bytes, max_files, overridden))
    return found, total


async def set_quota(ctx: Context, user_id: uuid.UUID, *, max_bytes: int | None, max_files: int | None) -> Usage:
    """Managers: override ``user_id``'s quota (None for either keeps the role default); audited
    with the values before and after."""
    _manager(ctx)
    if (max_bytes is not None and max_bytes < 0) or (max_files is not None and max_files < 0):
        raise Invalid("Quotas cannot be negative.", fields={"max_bytes": "Must be 0 or more."})
    before = await usage(ctx, user_id)
    row = await ctx.session.get(FileQuota, user_id)
    if row is None:
        row = FileQuota(user_id=user_id, max_bytes=max_bytes, max_files=max_files, updated_at=ctx.clock.now())
        ctx.session.add(row)
    else:
        row.max_bytes, row.max_files, row.updated_at = max_bytes, max_files, ctx.clock.now()
    await ctx.session.flush()
    after = await usage(ctx, user_id)
    await record(
        ctx,
        Action.FILE_QUOTA_CHANGED,
        target=("user", user_id),
        data={
            "before": {"max_bytes": before.max_bytes, "max_files": before.max_files},
            "after": {"max_bytes": after.max_bytes, "max_files": after.max_files},
        },
    )
    return after


# -- reading --------------------------------------------------------------------------------------


def _visible(principal: Principal) -> ColumnElement[bool]:
    return StoredFile.owner_id == principal.user_id


async def list_files(ctx: Context, query: FileQuery) -> FilePage:
    """A page of files (the principal's own, or everyone's for managers with ``all_users``)."""
    principal = _principal(ctx)
    conditions: list[ColumnElement[bool]] = []
    if query.all_users:
        _manager(ctx)
        if query.owner_id is not None:
            conditions.append(StoredFile.owner_id == query.owner_id)
    else:
        conditions.append(_visible(principal))
    if query.status is not None:
        conditions.append(StoredFile.status == query.status.value)
    conditions.append(StoredFile.deleted_at.is_not(None) if query.deleted else StoredFile.deleted_at.is_(None))
    term = query.search.strip()
    if term:
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(StoredFile.name.ilike(f"%{escaped}%", escape="\\"))
    if query.type:
        group = TYPE_GROUPS.get(query.type)
        if group is None:
            raise Invalid(f"Unknown type filter {query.type!r}.", fields={"type": "Unknown type."})
        conditions.append(StoredFile.content_type.in_(sorted(group)))
    column = {
        FileSort.name: func.lower(StoredFile.name),
        FileSort.date: StoredFile.created_at,
        FileSort.size: StoredFile.size,
    }[query.sort]
    order = [column.desc() if query.descending else column.asc(), StoredFile.id]
    per_page = min(max(1, query.per_page), MAX_PAGE)
    page = max(1, query.page)
    total = int(await ctx.session.scalar(select(func.count()).select_from(StoredFile).where(*conditions)) or 0)
    rows = (
        await ctx.session.scalars(
            select(StoredFile).where(*conditions).order_by(*order).limit(per_page).offset((page - 1) * per_page)
        )
    ).all()
    return FilePage(items=list(rows), total=total, page=page, per_page=per_page)


async def get_file(ctx: Context, file_id: uuid.UUID) -> StoredFile:
    """The file if the principal may see it (deleted ones included); ``NotFound`` otherwise."""
    principal = _principal(ctx)
    file = await ctx.session.get(StoredFile, file_id)
    if file is None or not policy.can_see(principal, file):
        raise NotFound("There is no such file.")
    return file


async def _own(ctx: Context, file_id: uuid.UUID) -> StoredFile:
    file = await get_file(ctx, file_id)
    principal = _principal(ctx)
    if file.owner_id != principal.user_id and not policy.can_manage(principal):
        raise NotFound("There is no such file.")
    return file


# -- changes --------------------------------------------------------------------------------------


async def rename(ctx: Context, file_id: uuid.UUID, name: str) -> StoredFile:
    """Give the file a new (sanitized) name; its extension is always kept."""
    file = await _own(ctx, file_id)
    if file.deleted_at is not None:
        raise Conflict("Restore the file before renaming it.")
    if not name.strip():
        raise Invalid("Enter a name.", fields={"name": "Enter a name."})
    ext = extension_of(file.name)
    new = sanitize_name(name, content_type=file.content_type)
    if ext and extension_of(new) != ext:
        new = new[: len(new) - len(extension_of(new))] + ext
    file.name = new
    file.updated_at = ctx.clock.now()
    await ctx.session.flush()
    return file


async def delete(ctx: Context, file_id: uuid.UUID) -> StoredFile:
    """Move the file to the trash (restorable until purged); idempotent."""
    file = await _own(ctx, file_id)
    if file.deleted_at is None:
        file.deleted_at = file.updated_at = ctx.clock.now()
        await ctx.session.flush()
    return file


async def restore(ctx: Context, file_id: uuid.UUID) -> StoredFile:
    """Take the file back out of the trash; idempotent."""
    file = await _own(ctx, file_id)
    if file.deleted_at is not None:
        file.deleted_at = None
        file.updated_at = ctx.clock.now()
        await ctx.session.flush()
    return file


async def purge_due(ctx: Context, *, older_than: datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Remove files deleted before ``older_than`` (default: ``purge_days`` ago): bytes,
    thumbnail and row, and give their space back. Returns how many were purged. Run by the
    ``files.purge`` job; needs no principal."""
    cutoff = older_than or ctx.clock.now() - timedelta(days=settings_of(ctx).purge_days)
    storage = storage_of(ctx)
    rows = (
        await ctx.session.scalars(
            select(StoredFile)
            .where(StoredFile.deleted_at.is_not(None), StoredFile.deleted_at < cutoff)
            .order_by(StoredFile.deleted_at)
            .limit(batch)
        )
    ).all()
    for file in rows:
        await storage.delete(file.storage_key)
        if file.thumbnail_key:
            await storage.delete(file.thumbnail_key)
        await release(ctx, file.owner_id, file.size)
        await ctx.session.delete(file)
    await ctx.session.flush()
    if rows:
        await record(ctx, Action.FILE_PURGED, data={"count": len(rows), "cutoff": cutoff.isoformat()})
    return len(rows)


async def scan_pending(ctx: Context, file_id: uuid.UUID) -> FileStatus:
    """Scan one ``pending_scan`` file from storage (the ``files.scan`` job); its status after.

    Raises ``ScannerUnavailable`` when the scanner cannot answer (the job retries). A file no
    longer pending (or gone) is left alone: the job may run more than once.
    """
    from fastapp.files.scanning import discard, download_to_temp

    file = await ctx.session.get(StoredFile, file_id, with_for_update=not _is_sqlite(ctx))
    if file is None or file.status != FileStatus.pending_scan.value:
        return FileStatus(file.status) if file else FileStatus.clean
    scanner = scanner_of(ctx)
    if scanner is None:
        raise ScannerUnavailable("no scanner is configured")
    path = await download_to_temp(storage_of(ctx), file.storage_key)
    try:
        result = await scanner.scan_file(path)
    except ScanTooLarge:
        # It cannot be scanned whole, so it can never be served: quarantine rather than retry.
        result = ScanResult(infected=True, signature="Not scanned: larger than the scanner's limits")
    finally:
        discard(path)
    await apply_result(ctx, file, result)
    return FileStatus(file.status)
