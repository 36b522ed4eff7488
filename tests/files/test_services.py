"""Files services on a real database (SQLite, and PostgreSQL when configured) with the app's
local storage: uploads, scoping, list filters, rename, trash, purge and quotas."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from fastapp.audit.models import AuditEvent
from fastapp.files import services
from fastapp.files.models import FileStatus, FileUsage, StoredFile
from fastapp.files.scanning import storage_of
from fastapp.files.services import FileQuery, FileSort, QuotaExceeded
from fastapp.files.upload import ReceivedUpload
from fastapp.platform.context import Runtime
from fastapp.platform.errors import NotFound, PermissionDenied
from fastapp.platform.storage import STORAGE
from tests.files.conftest import acting, make_user, png_bytes


def received(
    tmp_path: Path, content: bytes, name: str, declared: str = "", purpose: str = "document"
) -> ReceivedUpload:
    path = tmp_path / f"up-{uuid.uuid4().hex}"
    path.write_bytes(content)
    return ReceivedUpload(
        path=path,
        filename=name,
        declared_type=declared,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        purpose=purpose,
    )


async def put(runtime: Runtime, user_id: uuid.UUID, tmp_path: Path, content: bytes, name: str) -> StoredFile:
    async with acting(runtime, user_id) as ctx:
        return await services.upload(ctx, received(tmp_path, content, name))


async def test_an_upload_is_stored_and_counted(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    content = b"name,total\nAda,3\n"
    file = await put(runtime, ada, tmp_path, content, "../../sums.csv")
    assert (file.name, file.content_type, file.size, file.status) == ("sums.csv", "text/csv", len(content), "unscanned")
    assert file.sha256 == hashlib.sha256(content).hexdigest()
    storage = runtime.services[STORAGE]
    assert b"".join([c async for c in storage.read(file.storage_key)]) == content
    async with acting(runtime, ada) as ctx:
        usage = await services.usage(ctx)
    assert (usage.bytes, usage.files, usage.max_files) == (len(content), 1, 1000)


async def test_images_are_stored_re_encoded_with_a_thumbnail(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    file = await put(runtime, ada, tmp_path, png_bytes((500, 300)), "cat.png")
    assert (file.width, file.height, file.content_type) == (500, 300, "image/png")
    assert file.thumbnail_key is not None
    async with acting(runtime, ada) as ctx:
        storage = storage_of(ctx)
        assert await storage.exists(file.thumbnail_key)
        assert await storage.size(file.storage_key) == file.size


async def test_another_users_file_is_not_found_but_a_manager_sees_it(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    bob = await make_user(runtime, "bob@example.com")
    file = await put(runtime, ada, tmp_path, b"secret\n", "a.txt")
    async with acting(runtime, bob) as ctx:
        for call in (
            services.get_file(ctx, file.id),
            services.rename(ctx, file.id, "x"),
            services.delete(ctx, file.id),
            services.restore(ctx, file.id),
        ):
            with pytest.raises(NotFound):
                await call
        assert (await services.list_files(ctx, FileQuery())).total == 0
        with pytest.raises(PermissionDenied):
            await services.list_files(ctx, FileQuery(all_users=True))
        with pytest.raises(PermissionDenied):
            await services.usage(ctx, ada)
    async with acting(runtime, bob, manager=True) as ctx:
        assert (await services.get_file(ctx, file.id)).id == file.id
        everyone = await services.list_files(ctx, FileQuery(all_users=True))
        assert [f.id for f in everyone.items] == [file.id]
        assert (await services.usage(ctx, ada)).files == 1


async def test_list_search_sort_type_and_pages(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    await put(runtime, ada, tmp_path, b"a\n" * 50, "Zeta notes.txt")
    await put(runtime, ada, tmp_path, b"b\n", "alpha.txt")
    await put(runtime, ada, tmp_path, png_bytes(), "Photo 100%.png")
    await put(runtime, ada, tmp_path, b"x,y\n", "beta_data.csv")
    async with acting(runtime, ada) as ctx:
        by_name = await services.list_files(ctx, FileQuery(sort=FileSort.name, descending=False))
        assert [f.name for f in by_name.items] == ["alpha.txt", "beta_data.csv", "Photo 100%.png", "Zeta notes.txt"]
        newest = await services.list_files(ctx, FileQuery())
        assert newest.items[0].name == "beta_data.csv"
        by_size = await services.list_files(ctx, FileQuery(sort=FileSort.size))
        assert by_size.items[0].name in {"Photo 100%.png", "Zeta notes.txt"}
        assert [f.name for f in (await services.list_files(ctx, FileQuery(search="100%"))).items] == ["Photo 100%.png"]
        assert [f.name for f in (await services.list_files(ctx, FileQuery(search="_d"))).items] == ["beta_data.csv"]
        assert (await services.list_files(ctx, FileQuery(search="ZETA"))).total == 1
        assert [f.name for f in (await services.list_files(ctx, FileQuery(type="image"))).items] == ["Photo 100%.png"]
        assert (await services.list_files(ctx, FileQuery(type="text"))).total == 3
        page2 = await services.list_files(ctx, FileQuery(sort=FileSort.name, descending=False, per_page=3, page=2))
        assert ([f.name for f in page2.items], page2.total, page2.pages) == (["Zeta notes.txt"], 4, 2)


async def test_rename_keeps_the_extension(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    file = await put(runtime, ada, tmp_path, b"hi\n", "a.txt")
    async with acting(runtime, ada) as ctx:
        assert (await services.rename(ctx, file.id, "../Budget 2026.exe")).name == "Budget 2026.txt"
        assert (await services.rename(ctx, file.id, "final")).name == "final.txt"


async def test_trash_restore_and_purge(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    keep = await put(runtime, ada, tmp_path, b"keep\n", "keep.txt")
    gone = await put(runtime, ada, tmp_path, png_bytes(), "gone.png")
    async with acting(runtime, ada) as ctx:
        await services.delete(ctx, keep.id)
        await services.delete(ctx, gone.id)
        trash = await services.list_files(ctx, FileQuery(deleted=True))
        assert trash.total == 2 and (await services.list_files(ctx, FileQuery())).total == 0
        await services.restore(ctx, keep.id)
        # Soft-deleted files still count until purged.
        assert (await services.usage(ctx)).files == 2
    async with acting(runtime) as ctx:
        assert await services.purge_due(ctx) == 0  # not yet 30 days old
        later = ctx.clock.now() + timedelta(days=31)
        assert await services.purge_due(ctx, older_than=later) == 1
        storage = storage_of(ctx)
        assert not await storage.exists(gone.storage_key)
        assert gone.thumbnail_key and not await storage.exists(gone.thumbnail_key)
        assert await ctx.session.get(StoredFile, gone.id) is None
    async with acting(runtime, ada) as ctx:
        usage = await services.usage(ctx)
        assert (usage.files, usage.bytes) == (1, keep.size)
        assert (await services.get_file(ctx, keep.id)).deleted_at is None


async def test_parallel_uploads_cannot_pass_the_quota_together(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    admin = await make_user(runtime, "admin@example.com", role="admin")
    async with acting(runtime, admin, manager=True) as ctx:
        await services.set_quota(ctx, ada, max_bytes=None, max_files=3)

    async def attempt(i: int) -> str:
        try:
            await put(runtime, ada, tmp_path, f"file {i}\n".encode(), f"f{i}.txt")
        except QuotaExceeded:
            return "refused"
        return "stored"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(10)))
    assert sorted(outcomes) == ["refused"] * 7 + ["stored"] * 3
    async with runtime.backends.db.transaction() as session:
        assert len((await session.scalars(select(StoredFile).where(StoredFile.owner_id == ada))).all()) == 3
        usage = await session.get(FileUsage, ada)
        assert usage is not None and usage.files == 3
    # Nothing of the refused uploads was left in storage.
    stored = [p for p in (runtime.config.app.var_dir).rglob("*") if p.is_file() and "files" in p.parts]
    assert len([p for p in stored if "thumbnails" not in p.parts]) == 3


async def test_quota_defaults_follow_roles_and_overrides_are_audited(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    admin = await make_user(runtime, "admin@example.com", role="admin")
    async with acting(runtime, admin, manager=True) as ctx:
        assert (await services.usage(ctx, admin)).max_files == 10000  # the admin role's default
        before = await services.usage(ctx, ada)
        assert (before.max_bytes, before.max_files, before.overridden) == (1024**3, 1000, False)
        after = await services.set_quota(ctx, ada, max_bytes=10, max_files=None)
        assert (after.max_bytes, after.max_files, after.overridden) == (10, 1000, True)
    async with runtime.backends.db.transaction() as session:
        event = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "file.quota.changed"))).one()
        assert '"before"' in event.data and '"max_bytes":10' in event.data.replace(" ", "")
    with pytest.raises(QuotaExceeded, match="storage quota"):
        await put(runtime, ada, tmp_path, b"more than ten bytes\n", "big.txt")
    async with acting(runtime, ada) as ctx:
        with pytest.raises(PermissionDenied):
            await services.set_quota(ctx, ada, max_bytes=None, max_files=None)


async def test_unscanned_files_are_the_default_without_a_scanner(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    file = await put(runtime, ada, tmp_path, b"x\n", "x.txt")
    assert file.status == FileStatus.unscanned.value
