"""``/api/v1/files`` through the whole app: uploads and their refusals as problem+json, the
body limit of the upload route, list/get/rename/delete/restore, and signed, ranged downloads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from fastapp.files import services
from fastapp.platform.context import Runtime
from tests.accounts.conftest import api_tokens, bearer
from tests.files.conftest import acting, make_user, png_bytes

URL = "/api/v1/files"


async def auth(client: httpx.AsyncClient, runtime: Runtime, address: str) -> dict[str, str]:
    await make_user(runtime, address)
    return bearer(await api_tokens(client, address))


async def post_file(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    content: bytes,
    name: str,
    declared: str = "application/octet-stream",
    purpose: str | None = None,
) -> httpx.Response:
    data = {"purpose": purpose} if purpose else None
    return await client.post(URL, headers=headers, files={"file": (name, content, declared)}, data=data)


async def test_upload_and_manage_a_file(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await auth(client, runtime, "ada@example.com")
    created = await post_file(client, headers, b"hello\n", "../../etc/passwd", "text/plain")
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["content_type"], body["status"], body["size"]) == (
        "passwd.txt",
        "text/plain",
        "unscanned",
        6,
    )
    file_id = body["id"]
    assert (await client.get(f"{URL}/{file_id}", headers=headers)).json()["name"] == "passwd.txt"
    listed = (await client.get(URL, headers=headers, params={"q": "pass", "sort": "name", "order": "asc"})).json()
    assert [f["id"] for f in listed["items"]] == [file_id] and listed["total"] == 1
    renamed = await client.patch(f"{URL}/{file_id}", headers=headers, json={"name": "notes"})
    assert renamed.json()["name"] == "notes.txt"
    deleted = await client.delete(f"{URL}/{file_id}", headers=headers)
    assert deleted.json()["deleted_at"] is not None
    assert (await client.get(URL, headers=headers)).json()["total"] == 0
    assert (await client.get(URL, headers=headers, params={"deleted": True})).json()["total"] == 1
    restored = await client.post(f"{URL}/{file_id}/restore", headers=headers)
    assert restored.json()["deleted_at"] is None
    usage = (await client.get(f"{URL}/usage", headers=headers)).json()
    assert (usage["files"], usage["bytes"]) == (1, 6)


async def test_refusals_are_problems(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await auth(client, runtime, "ada@example.com")
    html = b"<html><body><script>alert(1)</script></body></html>"
    unsupported = await post_file(client, headers, html, "cat.png", "image/png", purpose="avatar")
    assert unsupported.status_code == 415, unsupported.text
    assert unsupported.headers["content-type"] == "application/problem+json"
    renamed = await post_file(client, headers, png_bytes(), "report.pdf", purpose="avatar")
    assert renamed.status_code == 422
    assert "ends in .pdf" in renamed.json()["detail"]
    assert (await client.get(URL, headers=headers)).json()["total"] == 0
    signed_out = await post_file(client, {}, b"x\n", "x.txt")
    assert signed_out.status_code == 401


async def test_an_oversized_body_is_refused_without_reading_it(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await auth(client, runtime, "ada@example.com")
    read = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        for _ in range(1000):
            read += 1
            yield b"x" * 65536

    declared = {**headers, "content-type": "multipart/form-data; boundary=b", "content-length": str(1000 * 65536)}
    refused = await client.post(URL, headers=declared, content=body())
    assert refused.status_code == 413
    assert "limit" in refused.json()["detail"]
    assert read <= 1  # at most the chunk the transport had already pulled

    read = 0
    chunked = {**headers, "content-type": "multipart/form-data; boundary=b"}
    start = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'

    async def streamed() -> AsyncIterator[bytes]:
        yield start
        async for chunk in body():
            yield chunk

    refused = await client.post(URL, headers=chunked, content=streamed())
    assert refused.status_code == 413
    assert read < 10  # of 1000 chunks: reading stopped at the limit (200 kB here)


async def test_signed_downloads_with_ranges_and_safe_headers(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await auth(client, runtime, "ada@example.com")
    content = "0123456789 héllo\n".encode()
    file_id = (await post_file(client, headers, content, "Ünïcode; name.txt", "text/plain")).json()["id"]
    link = (await client.get(f"{URL}/{file_id}/download-url", headers=headers)).json()
    assert link["expires_in"] == 15 * 60 and link["url"].startswith("/api/v1/files/download/")
    whole = await client.get(link["url"])  # the signed URL needs no credentials
    assert whole.status_code == 200 and whole.content == content
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert whole.headers["content-security-policy"] == "default-src 'none'; sandbox"
    disposition = whole.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    assert "filename*=UTF-8''%C3%9Cn%C3%AFcode%3B%20name.txt" in disposition
    part = await client.get(link["url"], headers={"range": "bytes=2-5"})
    assert (part.status_code, part.content, part.headers["content-range"]) == (
        206,
        b"2345",
        f"bytes 2-5/{len(content)}",
    )
    tail = await client.get(link["url"], headers={"range": "bytes=-3"})
    assert tail.content == content[-3:]
    beyond = await client.get(link["url"], headers={"range": "bytes=999-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(content)}"
    forged = link["url"][:-3] + ("AAA" if not link["url"].endswith("AAA") else "BBB")
    assert (await client.get(forged)).status_code == 404
    # A trashed file is no longer served, even through a link issued before.
    await client.delete(f"{URL}/{file_id}", headers=headers)
    assert (await client.get(link["url"])).status_code == 404
    assert (await client.get(f"{URL}/{file_id}/download-url", headers=headers)).status_code == 403


async def test_images_preview_inline_with_a_thumbnail(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers = await auth(client, runtime, "ada@example.com")
    body = (await post_file(client, headers, png_bytes((400, 300)), "cat.png", "image/png", purpose="avatar")).json()
    assert body["has_thumbnail"] and (body["width"], body["height"]) == (400, 300)
    url = (await client.get(f"{URL}/{body['id']}/download-url", headers=headers, params={"inline": True})).json()["url"]
    shown = await client.get(url)
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.headers["content-type"] == "image/png"
    thumb = (await client.get(f"{URL}/{body['id']}/download-url", headers=headers, params={"thumbnail": True})).json()
    assert (await client.get(thumb["url"])).headers["content-type"] == "image/webp"


async def test_another_users_file_is_404(client: httpx.AsyncClient, runtime: Runtime) -> None:
    ada = await auth(client, runtime, "ada@example.com")
    bob = await auth(client, runtime, "bob@example.com")
    file_id = (await post_file(client, ada, b"mine\n", "mine.txt")).json()["id"]
    for response in (
        await client.get(f"{URL}/{file_id}", headers=bob),
        await client.get(f"{URL}/{file_id}/download-url", headers=bob),
        await client.patch(f"{URL}/{file_id}", headers=bob, json={"name": "x"}),
        await client.delete(f"{URL}/{file_id}", headers=bob),
    ):
        assert response.status_code == 404


async def test_ten_parallel_uploads_against_a_quota_of_three_leave_three(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await auth(client, runtime, "ada@example.com")
    admin = await make_user(runtime, "admin@example.com", role="admin")
    ada_id = (await client.get("/api/v1/me", headers=headers)).json()["id"]
    import uuid

    async with acting(runtime, admin, manager=True) as ctx:
        await services.set_quota(ctx, uuid.UUID(ada_id), max_bytes=None, max_files=3)
    responses = await asyncio.gather(*(post_file(client, headers, f"n{i}\n".encode(), f"n{i}.txt") for i in range(10)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 3 + [409] * 7, [r.text for r in responses]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json()["type"] == "/problems/quota-exceeded"
    assert "limit of 3 files" in refused.json()["detail"]
    assert (await client.get(URL, headers=headers)).json()["total"] == 3


@pytest.mark.parametrize("bad", ["nope", "-1"])
async def test_bad_list_parameters_are_422(client: httpx.AsyncClient, runtime: Runtime, bad: str) -> None:
    headers = await auth(client, runtime, "ada@example.com")
    assert (await client.get(URL, headers=headers, params={"sort": bad})).status_code == 422
    assert (await client.get(URL, headers=headers, params={"type": bad})).status_code == 422


async def test_uploaded_photos_lose_their_location_and_bombs_are_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    import io

    from PIL import Image

    from tests.files.conftest import jpeg_with_gps
    from tests.files.test_images import png_bomb

    headers = await auth(client, runtime, "ada@example.com")
    body = (await post_file(client, headers, jpeg_with_gps(), "me.jpg", "image/jpeg", purpose="avatar")).json()
    url = (await client.get(f"{URL}/{body['id']}/download-url", headers=headers)).json()["url"]
    served = (await client.get(url)).content
    assert b"SpyCam" not in served
    with Image.open(io.BytesIO(served)) as image:
        assert dict(image.getexif()) == {}
    bomb = await post_file(client, headers, png_bomb(), "bomb.png", "image/png", purpose="avatar")
    assert bomb.status_code == 422
    assert bomb.json()["type"] == "/problems/image-too-large"
