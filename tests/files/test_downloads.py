"""Download helpers: range parsing, signed tokens (forgery and expiry), content disposition,
and the permission-checked response the pages serve."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from fastapp.files import downloads, services, tasks
from fastapp.files.models import FileStatus, StoredFile
from fastapp.files.services import FileQuery
from fastapp.platform.context import Runtime
from fastapp.platform.errors import NotFound, PermissionDenied
from tests.files.conftest import acting, make_user, png_bytes
from tests.files.test_services import received


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-0", (0, 0)),
        ("bytes=5-", (5, 9)),
        ("bytes=-4", (6, 9)),
        ("bytes=-40", (0, 9)),
        ("bytes=3-100", (3, 9)),
        ("bytes=0-1,4-5", None),  # several ranges: the whole file
        ("items=0-1", None),
        ("bytes=-", None),
    ],
)
def test_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert downloads.parse_range(header, 10) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=7-3", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(downloads.RangeNotSatisfiable) as refused:
        downloads.parse_range(header, 10)
    assert refused.value.extra["content_range"] == "bytes */10"


def test_content_disposition_cannot_be_broken_out_of() -> None:
    value = downloads.content_disposition('a"b\r\nSet-Cookie: x;.txt', inline=False)
    assert "\r" not in value and "\n" not in value
    assert value.startswith("attachment; filename=\"a_b__Set-Cookie: x;.txt\"; filename*=UTF-8''")


async def test_tokens_are_checked_and_expire(runtime: Runtime) -> None:
    file_id = uuid.uuid4()
    async with acting(runtime) as ctx:
        token = downloads.sign(ctx, file_id, thumbnail=True, inline=False, expires_in=timedelta(minutes=1))
        grant = downloads.verify(ctx, token)
        assert (grant.file_id, grant.thumbnail, grant.inline) == (file_id, True, False)
        for bad in (token.replace(".t.", ".f."), token + "x", "a.b.c", ""):
            with pytest.raises(NotFound):
                downloads.verify(ctx, bad)
        stale = downloads.sign(ctx, file_id, thumbnail=False, inline=False, expires_in=timedelta(seconds=-1))
        with pytest.raises(NotFound, match="expired"):
            downloads.verify(ctx, stale)


async def test_page_downloads_check_the_principal(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    admin = await make_user(runtime, "admin@example.com", role="admin")
    async with acting(runtime, ada) as ctx:
        file = await services.upload(ctx, received(tmp_path, png_bytes(), "p.png"))
        response = await downloads.serve(ctx, file.id, inline=True, range_header="bytes=0-7")
        assert response.status_code == 206
        assert response.headers["content-disposition"].startswith("inline;")
        assert response.headers["content-range"] == f"bytes 0-7/{file.size}"
    async with acting(runtime, admin, manager=True) as ctx:
        # An unscanned file is served only to its owner, even to a manager who can see it.
        with pytest.raises(PermissionDenied, match="owner"):
            await downloads.serve(ctx, file.id)
        with pytest.raises(PermissionDenied):
            await downloads.download_url(ctx, file.id)


async def test_pdfs_preview_inline_unsandboxed_and_office_files_never(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    async with acting(runtime, ada) as ctx:
        pdf = await services.upload(ctx, received(tmp_path, b"%PDF-1.4\n%%EOF\n", "p.pdf"))
        shown = await downloads.serve(ctx, pdf.id, inline=True)
        assert shown.headers["content-disposition"].startswith("inline;")
        # Browsers refuse to show a PDF in a sandboxed document: no sandbox, but nothing loads.
        assert shown.headers["content-security-policy"] == downloads.PDF_PREVIEW_CSP
        assert shown.headers["x-content-type-options"] == "nosniff"
        text = await services.upload(ctx, received(tmp_path, b"a,b\n1,2\n", "t.csv"))
        kept = await downloads.serve(ctx, text.id, inline=True)
        assert kept.headers["content-disposition"].startswith("attachment;")
        assert "sandbox" in kept.headers["content-security-policy"]


async def test_quarantine_list_for_managers(runtime: Runtime, tmp_path: Path) -> None:
    ada = await make_user(runtime, "ada@example.com")
    admin = await make_user(runtime, "admin@example.com", role="admin")
    async with acting(runtime, ada) as ctx:
        file = await services.upload(ctx, received(tmp_path, b"x\n", "x.txt"))
    async with runtime.backends.db.transaction() as session:
        stored = await session.get(StoredFile, file.id)
        assert stored is not None
        stored.status = FileStatus.infected.value
    async with acting(runtime, admin, manager=True) as ctx:
        quarantine = await services.list_files(ctx, FileQuery(all_users=True, status=FileStatus.infected))
        assert [f.id for f in quarantine.items] == [file.id]
        usages, total = await services.usages(ctx)
        assert total == 1 and usages[0].user_id == ada and usages[0].files == 1


async def test_the_purge_job_and_schedules_are_registered(runtime: Runtime, tmp_path: Path) -> None:
    jobs = runtime.registry.jobs
    assert {tasks.SCAN_JOB, tasks.PURGE_JOB, tasks.RESCAN_JOB} <= set(jobs)
    assert {s.job for s in runtime.registry.schedules} >= {tasks.PURGE_JOB, tasks.RESCAN_JOB}
    ada = await make_user(runtime, "ada@example.com")
    async with acting(runtime, ada) as ctx:
        file = await services.upload(ctx, received(tmp_path, b"x\n", "x.txt"))
        await services.delete(ctx, file.id)
    async with runtime.backends.db.transaction() as session:
        stored = await session.get(StoredFile, file.id)
        assert stored is not None and stored.deleted_at is not None
        stored.deleted_at = stored.deleted_at - timedelta(days=31)
    async with acting(runtime) as ctx:
        await jobs[tasks.PURGE_JOB](runtime, ctx, {})
    async with acting(runtime, ada) as ctx:
        with pytest.raises(NotFound):
            await services.get_file(ctx, file.id)
        assert (await services.usage(ctx)).files == 0


async def test_rescan_requeues_files_left_pending(runtime: Runtime, tmp_path: Path) -> None:
    from sqlalchemy import select

    from fastapp.platform.jobs import Job

    ada = await make_user(runtime, "ada@example.com")
    async with acting(runtime, ada) as ctx:
        file = await services.upload(ctx, received(tmp_path, b"x\n", "x.txt"))
    async with runtime.backends.db.transaction() as session:
        stored = await session.get(StoredFile, file.id)
        assert stored is not None
        stored.status = FileStatus.pending_scan.value
        stored.created_at = stored.created_at - timedelta(hours=2)
    for _ in range(2):  # the same hour's sweep queues one job per file
        async with acting(runtime) as ctx:
            await runtime.registry.jobs[tasks.RESCAN_JOB](runtime, ctx, {})
    async with runtime.backends.db.transaction() as session:
        queued = (await session.scalars(select(Job).where(Job.name == tasks.SCAN_JOB))).all()
    assert len(queued) == 1
    assert str(file.id) in queued[0].payload
