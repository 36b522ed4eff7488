"""``/files`` through the whole app: a member uploads without JavaScript, lists, filters, renames,
deletes and restores only their own files, every change needs the CSRF token, and each action
works as a plain form and as HTMX."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from fastapp.accounts import wiring
from fastapp.config import Config
from fastapp.files.models import StoredFile
from fastapp.platform.context import Runtime, open_context
from tests.accounts.conftest import STRONG, sign_in
from tests.conftest import SITE, make_config, root_of

HTMX = {"HX-Request": "true"}


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    return make_config(tmp_path / "var", database_url, redis_url, jobs={"in_process": False})


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


@pytest.fixture
async def other(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser: another user's session."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as http:
        yield http


async def make_users(runtime: Runtime, *addresses: str, member: bool = True) -> list[uuid.UUID]:
    """Verified accounts: an owner first (the last owner cannot become a member), then members."""
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        service = wiring.accounts(runtime, ctx)
        await service.create_owner(email="keeper@example.com", password=STRONG, display_name="Keeper")
        found = []
        for address in addresses:
            user = await service.create_owner(email=address, password=STRONG, display_name=address.split("@")[0])
            if member:
                await service.set_role(user, "member", granter=None)
            found.append(user.id)
    return found


def token_of(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found
    return found.group(1)


def png(width: int = 8, height: int = 6) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def upload(client: httpx.AsyncClient, name: str, content: bytes, mime: str = "text/plain") -> httpx.Response:
    """The uploader's form posted without JavaScript (multipart, CSRF in a field)."""
    token = token_of((await client.get("/files")).text)
    return await client.post("/files/upload", data={"csrf_token": token}, files={"file": (name, content, mime)})


async def rows(runtime: Runtime) -> list[StoredFile]:
    async with runtime.backends.db.transaction() as session:
        return list((await session.scalars(select(StoredFile).order_by(StoredFile.created_at))).all())


async def test_signed_out_visitors_are_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/files", "/files?view=deleted"):
        response = await client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/sign-in?next=/files")
    home = await client.get("/")
    assert 'href="/files"' not in home.text  # the navigation offers it to signed-in users only


async def test_the_empty_page_has_a_labelled_uploader_and_quota(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await make_users(runtime, "ada@example.com")
    await sign_in(client, "ada@example.com")
    page = await client.get("/files")
    assert page.status_code == 200
    text = page.text
    assert "No files yet" in text
    assert re.search(r'<label for="file-input"[^>]*>Choose files to upload</label>', text)
    assert re.search(r'<input type="file" name="file" multiple[^>]*id="file-input"', text)
    assert 'data-upload-url="/api/v1/files"' in text and 'action="/files/upload"' in text
    assert 'enctype="multipart/form-data"' in text
    # The member's default quota (1 GiB, 1000 files) as a labelled progress bar.
    assert re.search(r'<progress[^>]*aria-label="Storage used"', text)
    assert "0 bytes of 1 GiB used (0 %)" in text and "0 of 1000 files" in text
    assert 'href="/files"' in text  # the navigation link


async def test_upload_without_javascript_then_list_filter_and_sort(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await make_users(runtime, "ada@example.com")
    await sign_in(client, "ada@example.com")
    done = await upload(client, "notes.txt", b"hello world\n")
    assert done.status_code == 303 and done.headers["location"] == "/files?done=uploaded"
    assert (await upload(client, "red.png", png(), "image/png")).status_code == 303

    page = (await client.get("/files?done=uploaded")).text
    assert page.index('id="toasts"') < page.index("Uploaded.")  # the outcome as a toast
    assert "notes.txt" in page and "red.png" in page
    assert 'data-status="unscanned"' in page and "Unscanned" in page  # no scanner configured here
    assert "2 of 1000 files" in page
    [notes, red] = await rows(runtime)
    assert f'href="/files/{red.id}/download"' in page
    assert f'src="/files/{red.id}/download?inline=1"' in page  # the image's preview
    assert f'src="/files/{notes.id}/download?inline=1"' not in page  # text has none

    images = await client.get("/files", params={"kind": "image"}, headers={**HTMX, "HX-Target": "file-results"})
    assert "<html" not in images.text and "red.png" in images.text and "notes.txt" not in images.text
    search = (await client.get("/files", params={"q": "NOTE"})).text
    assert "notes.txt" in search and "red.png" not in search
    nothing = (await client.get("/files", params={"q": "zzz"})).text
    assert "No matching files" in nothing
    by_name = (await client.get("/files", params={"sort": "name"})).text
    assert by_name.index("notes.txt") < by_name.index("red.png")
    by_size = (await client.get("/files", params={"sort": "smallest"})).text
    assert by_size.index("notes.txt") < by_size.index("red.png")
    bogus = await client.get("/files", params={"sort": "bogus", "kind": "bogus", "page": "x"})
    assert bogus.status_code == 200 and "notes.txt" in bogus.text

    inline = await client.get(f"/files/{red.id}/download", params={"inline": "1"})
    assert inline.status_code == 200 and inline.headers["content-type"] == "image/png"
    assert inline.headers["content-disposition"].startswith("inline;")
    attached = await client.get(f"/files/{notes.id}/download")
    assert attached.content == b"hello world\n"
    assert attached.headers["content-disposition"].startswith("attachment;")


async def test_a_refused_upload_says_why_on_the_page(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await make_users(runtime, "ada@example.com")
    await sign_in(client, "ada@example.com")
    refused = await upload(client, "page.txt", b"<script>alert(1)</script>")
    assert refused.status_code == 422
    assert re.search(r'role="alert"[^>]*>The file contains HTML or script markup', refused.text)
    empty = await upload(client, "empty.txt", b"")
    assert empty.status_code == 422 and "The file is empty." in empty.text
    assert await rows(runtime) == []


async def test_another_users_file_is_not_found(
    client: httpx.AsyncClient, other: httpx.AsyncClient, runtime: Runtime
) -> None:
    await make_users(runtime, "ada@example.com", "bo@example.com")
    await sign_in(client, "ada@example.com")
    await sign_in(other, "bo@example.com")
    assert (await upload(other, "bo-secret.txt", b"for bo only")).status_code == 303
    [bos] = await rows(runtime)

    page = await client.get("/files")
    assert "bo-secret.txt" not in page.text and "No files yet" in page.text
    token = token_of(page.text)
    for action in ("rename", "delete", "restore"):
        response = await client.post(f"/files/{bos.id}/{action}", data={"csrf_token": token, "name": "mine.txt"})
        assert response.status_code == 404, action
    assert (await client.get(f"/files/{bos.id}/download")).status_code == 404
    assert (await client.get("/files/not-a-uuid/download")).status_code == 404
    [unchanged] = await rows(runtime)
    assert unchanged.name == "bo-secret.txt" and unchanged.deleted_at is None


async def test_rename_delete_and_restore_need_the_csrf_token(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await make_users(runtime, "ada@example.com")
    await sign_in(client, "ada@example.com")
    await upload(client, "draft.txt", b"text")
    [draft] = await rows(runtime)
    for action in ("rename", "delete", "restore"):
        response = await client.post(f"/files/{draft.id}/{action}", data={"name": "x.txt"})
        assert response.status_code == 403, action
    assert (await rows(runtime))[0].name == "draft.txt"


async def test_rename_delete_and_restore_as_plain_forms(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await make_users(runtime, "ada@example.com")
    await sign_in(client, "ada@example.com")
    await upload(client, "draft.txt", b"text")
    [draft] = await rows(runtime)
    token = token_of((await client.get("/files")).text)

    renamed = await client.post(
        f"/files/{draft.id}/rename", data={"csrf_token": token, "name": "final", "next": "/files?q=dra"}
    )
    assert renamed.status_code == 303 and renamed.headers["location"] == "/files?q=dra&done=renamed"
    assert (await rows(runtime))[0].name == "final.txt"  # the extension is kept
    away = await client.post(
        f"/files/{draft.id}/rename", data={"csrf_token": token, "name": "again", "next": "https://evil.example/"}
    )
    assert away.headers["location"] == "/files?done=renamed"

    blank = await client.post(
        f"/files/{draft.id}/rename", data={"csrf_token": token, "name": "  ", "next": "/files?q=again"}
    )
    assert blank.status_code == 422 and "<html" in blank.text
    # The row's rename form is open again with the error beside the field, filters kept.
    assert re.search(r'<p role="alert" id="rename-[^"]+-error"[^>]*>Enter a name.</p>', blank.text)
    assert "<details open" in blank.text and 'value="again" id="files-q"' in blank.text

    deleted = await client.post(f"/files/{draft.id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/files?done=deleted"
    listing = (await client.get("/files?done=deleted")).text
    assert listing.index('id="toasts"') < listing.index("Moved to Recently deleted.")
    assert "again.txt" not in listing
    trash = (await client.get("/files", params={"view": "deleted"})).text
    assert "again.txt" in trash and f'action="/files/{draft.id}/restore"' in trash
    [row] = await rows(runtime)
    assert row.deleted_at is not None
    deleted_on, purged_on = row.deleted_at.date(), (row.deleted_at + timedelta(days=30)).date()
    assert deleted_on.isoformat() in trash and purged_on.isoformat() in trash  # when it goes, too
    assert (await client.get(f"/files/{draft.id}/download")).status_code == 403  # the trash is not served

    restored = await client.post(
        f"/files/{draft.id}/restore", data={"csrf_token": token, "next": "/files?view=deleted"}
    )
    assert restored.headers["location"] == "/files?view=deleted&done=restored"
    assert "Nothing deleted" in (await client.get("/files?view=deleted")).text
    assert "again.txt" in (await client.get("/files")).text


async def test_the_actions_over_htmx(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await make_users(runtime, "ada@example.com")
    await sign_in(client, "ada@example.com")
    await upload(client, "draft.txt", b"text")
    [draft] = await rows(runtime)
    token = token_of((await client.get("/files")).text)
    headers = {**HTMX, "X-CSRF-Token": token}

    renamed = await client.post(f"/files/{draft.id}/rename", data={"name": "plan"}, headers=headers)
    assert renamed.status_code == 200 and "<html" not in renamed.text
    assert renamed.text.startswith(f'<tr id="file-{draft.id}"') and "plan.txt" in renamed.text
    assert 'hx-swap-oob="beforeend:#toasts"' in renamed.text and "Renamed." in renamed.text

    blank = await client.post(f"/files/{draft.id}/rename", data={"name": ""}, headers=headers)
    assert blank.status_code == 422 and blank.text.startswith(f'<tr id="file-{draft.id}"')
    assert re.search(r'aria-invalid="true"', blank.text) and "Enter a name." in blank.text
    assert "<details open" in blank.text  # the inline form stays open with its error

    deleted = await client.post(f"/files/{draft.id}/delete", data={"next": "/files"}, headers=headers)
    assert deleted.status_code == 200 and 'id="file-results"' in deleted.text
    assert "No files yet" in deleted.text and "Moved to Recently deleted." in deleted.text
    restored = await client.post(f"/files/{draft.id}/restore", data={"next": "/files?view=deleted"}, headers=headers)
    assert "Nothing deleted" in restored.text and "Restored." in restored.text
    assert (await rows(runtime))[0].deleted_at is None


async def test_pages_of_files(client: httpx.AsyncClient, runtime: Runtime) -> None:
    await make_users(runtime, "ada@example.com")
    await sign_in(client, "ada@example.com")
    for n in range(26):
        assert (await upload(client, f"f{n:02}.txt", b"x" * (n + 1))).status_code == 303
    first = (await client.get("/files", params={"sort": "name"})).text
    assert "Page 1 of 2 · 26 files" in first and "f00.txt" in first and "f25.txt" not in first
    assert 'href="/files?sort=name&amp;page=2"' in first
    second = (await client.get("/files", params={"sort": "name", "page": "2"})).text
    assert "f25.txt" in second and "f00.txt" not in second and "Previous page" in second
