"""``/admin/files`` (``files:manage``): every file with its owner, usage per user with the quota
override form (audited), and the quarantine; members get 403 everywhere."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from fastapp.audit.actions import Action
from fastapp.audit.models import AuditEvent
from fastapp.files.models import FileQuota, FileStatus, StoredFile
from fastapp.platform.context import Runtime
from tests.accounts.conftest import sign_in
from tests.files.test_pages import config, make_users, other, png, rows, runtime, token_of, upload

__all__ = ["config", "other", "runtime"]  # fixtures shared with the file manager's tests

PAGES = ("/admin/files", "/admin/files/usage", "/admin/files/quarantine")


async def _quarantine(runtime: Runtime, name: str) -> None:
    """What the scanner does to an infected upload (the scanner's own tests cover the scan)."""
    async with runtime.backends.db.transaction() as session:
        row = (await session.scalars(select(StoredFile).where(StoredFile.name == name))).one()
        row.status, row.scan_detail = FileStatus.infected.value, "Eicar-Test-Signature"


async def test_members_get_403(client: httpx.AsyncClient, runtime: Runtime) -> None:
    [ada] = await make_users(runtime, "ada@example.com")
    await sign_in(client, "ada@example.com")
    for path in PAGES:
        assert (await client.get(path)).status_code == 403, path
    home = await client.get("/files")
    assert 'href="/admin/files"' not in home.text and 'href="/files"' in home.text
    response = await client.post(
        "/admin/files/usage", data={"csrf_token": token_of(home.text), "user_id": str(ada), "max_mb": "99999"}
    )
    assert response.status_code == 403
    async with runtime.backends.db.transaction() as session:
        assert (await session.scalars(select(FileQuota))).all() == []


async def test_every_file_with_its_owner_and_the_quarantine(
    client: httpx.AsyncClient, other: httpx.AsyncClient, runtime: Runtime
) -> None:
    [boss, ada] = await make_users(runtime, "boss@example.com", "ada@example.com", member=False)
    await sign_in(client, "boss@example.com")
    await sign_in(other, "ada@example.com")
    assert (await upload(other, "report.txt", b"quarterly")).status_code == 303
    assert (await upload(other, "photo.png", png(), "image/png")).status_code == 303
    assert (await upload(client, "boss.txt", b"mine")).status_code == 303
    await _quarantine(runtime, "report.txt")

    everything = await client.get("/admin/files")
    assert everything.status_code == 200
    for name in ("report.txt", "photo.png", "boss.txt"):
        assert name in everything.text
    assert "ada@example.com" in everything.text and "Quarantined" in everything.text
    assert 'href="/admin/files"' in everything.text  # the admin navigation link

    by_name = (await client.get("/admin/files", params={"q": "PHOTO"})).text
    assert "photo.png" in by_name and "report.txt" not in by_name
    by_owner = (await client.get("/admin/files", params={"owner": str(ada)})).text
    assert "report.txt" in by_owner and "boss.txt" not in by_owner
    bad_owner = await client.get("/admin/files", params={"owner": "ada"})
    assert bad_owner.status_code == 422 and "Enter the owner's user id" in bad_owner.text
    infected = (await client.get("/admin/files", params={"status": "infected"})).text
    assert "report.txt" in infected and "photo.png" not in infected
    nothing = (await client.get("/admin/files", params={"status": "pending_scan"})).text
    assert "No file matches." in nothing

    quarantine = (await client.get("/admin/files/quarantine")).text
    assert "report.txt" in quarantine and "Eicar-Test-Signature" in quarantine and "photo.png" not in quarantine
    # The owner sees the badge and gets no download or preview of it.
    mine = (await other.get("/files")).text
    [report] = [r for r in await rows(runtime) if r.name == "report.txt"]
    assert "Quarantined" in mine and f'href="/files/{report.id}/download"' not in mine
    assert (await other.get(f"/files/{report.id}/download")).status_code == 403
    _ = boss


async def test_a_quota_override_through_the_usage_page(
    client: httpx.AsyncClient, other: httpx.AsyncClient, runtime: Runtime
) -> None:
    [_boss, ada] = await make_users(runtime, "boss@example.com", "ada@example.com", member=False)
    await sign_in(client, "boss@example.com")
    await sign_in(other, "ada@example.com")
    assert (await upload(other, "report.txt", b"quarterly")).status_code == 303

    usage = await client.get("/admin/files/usage")
    assert usage.status_code == 200
    assert "ada@example.com" in usage.text and "Default" in usage.text
    assert f'href="/admin/files?owner={ada}"' in usage.text  # to that user's files
    assert re.search(r'<label for="quota-[^"]+-mb"[^>]*>Storage limit in MiB for ada@example.com</label>', usage.text)
    token = token_of(usage.text)

    refused = await client.post(
        "/admin/files/usage", data={"csrf_token": token, "user_id": str(ada), "max_mb": "lots", "max_files": ""}
    )
    assert refused.status_code == 422 and "Enter a whole number." in refused.text
    assert 'value="lots"' in refused.text

    saved = await client.post(
        "/admin/files/usage", data={"csrf_token": token, "user_id": str(ada), "max_mb": "5", "max_files": "3"}
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/admin/files/usage?done=quota"
    after = (await client.get(saved.headers["location"])).text
    assert "The quota was saved." in after and "Override" in after and "5 MiB" in after
    async with runtime.backends.db.transaction() as session:
        quota = await session.get(FileQuota, ada)
        assert quota is not None and (quota.max_bytes, quota.max_files) == (5 * 1024 * 1024, 3)
        events = (await session.scalars(select(AuditEvent).where(AuditEvent.action == Action.FILE_QUOTA_CHANGED))).all()
    assert len(events) == 1
    # The member's quota bar follows the override.
    page = (await other.get("/files")).text
    assert "of 5 MiB used" in page and "1 of 3 files" in page

    cleared = await client.post(
        "/admin/files/usage", data={"csrf_token": token, "user_id": str(ada), "max_mb": "", "max_files": ""}
    )
    assert cleared.status_code == 303
    assert "of 10 GiB used" in (await other.get("/files")).text  # back to the owner role's default
