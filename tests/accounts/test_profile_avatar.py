"""Avatars: upload through the files pipeline, square sizes, generated initials, header, removal."""

from __future__ import annotations

import io
import json
import re
import uuid

import httpx
from PIL import Image
from sqlalchemy import select

from fastapp.accounts.avatars import SIZES, WHITE, background_of, contrast, initials, initials_svg, square_sizes
from fastapp.audit.models import AuditEvent
from fastapp.config import Config
from fastapp.platform.context import Runtime
from tests.accounts.conftest import api_tokens, as_script, bearer, sign_in, verified_user
from tests.conftest import csrf_token, root_of


def png(width: int, height: int, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_initials_have_accessible_contrast_and_are_stable() -> None:
    for _ in range(300):
        ident = uuid.uuid4()
        assert contrast(background_of(ident), WHITE) >= 4.5
        assert background_of(ident) == background_of(ident)
    assert initials("Ada King Lovelace") == "AL"
    assert initials("ada") == "A"
    assert initials("  ") == "?"
    svg = initials_svg(uuid.uuid4(), "<Eve> smith")
    assert ">S</text>" in svg and "Eve" not in svg  # only letters and digits start initials


def test_square_sizes_crop_from_the_centre() -> None:
    wide = Image.new("RGB", (300, 100), (0, 0, 255))
    wide.paste((255, 0, 0), (100, 0, 200, 100))  # a red square in the middle of blue
    buffer = io.BytesIO()
    wide.save(buffer, format="PNG")
    sizes = square_sizes(buffer.getvalue())
    assert sorted(sizes) == list(SIZES)
    for size, data in sizes.items():
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (size, size)
            red, _, blue = image.convert("RGB").getpixel((2, size // 2))
            assert red > 240 and blue < 15  # the blue sides are cut off


async def test_avatar_api_upload_serve_and_remove(app: object, client: httpx.AsyncClient, config: Config) -> None:
    runtime: Runtime = root_of(app).state.runtime
    await verified_user(client, config, "ada@example.com")
    tokens = await api_tokens(client, "ada@example.com")
    me = (await client.get("/api/v1/me", headers=bearer(tokens))).json()["id"]
    with as_script(client):
        refused = await client.put(
            "/api/v1/me/avatar", headers=bearer(tokens), files={"file": ("notes.txt", b"hello", "text/plain")}
        )
        assert refused.status_code == 415
        put = await client.put(
            "/api/v1/me/avatar", headers=bearer(tokens), files={"file": ("me.png", png(400, 300), "image/png")}
        )
    assert put.status_code == 200, put.text
    assert put.json() == {"custom": True, "urls": {str(s): f"/avatars/{me}/{s}" for s in SIZES}}

    assert (await sign_in(client, "ada@example.com")).status_code == 303
    page = await client.get("/account/profile")
    assert f'src="/avatars/{me}/64"' in page.text  # in the header's account menu
    assert f'src="/avatars/{me}/128"' in page.text  # on the profile page
    image = await client.get(f"/avatars/{me}/128")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(image.content)) as decoded:
        assert decoded.size == (128, 128)
    again = await client.get(f"/avatars/{me}/128", headers={"If-None-Match": image.headers["etag"]})
    assert again.status_code == 304
    assert (await client.get(f"/avatars/{me}/100")).status_code == 404

    with as_script(client):
        removed = await client.delete("/api/v1/me/avatar", headers=bearer(tokens))
    assert removed.json()["custom"] is False
    generated = await client.get(f"/avatars/{me}/64")
    assert generated.headers["content-type"].startswith("image/svg+xml")
    assert ">A</text>" in generated.text

    async with runtime.backends.db.transaction() as session:
        changes = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "user.avatar.changed")))
    assert [json.loads(e.data)["after"] is None for e in changes] == [False, True]


async def test_avatar_page_upload_and_remove(client: httpx.AsyncClient, config: Config) -> None:
    await verified_user(client, config, "ada@example.com")
    assert (await sign_in(client, "ada@example.com")).status_code == 303
    token = await csrf_token(client, "/account/profile")
    bad = await client.post(
        "/account/avatar", data={"csrf_token": token}, files={"file": ("x.pdf", b"%PDF-1.4 nope", "application/pdf")}
    )
    assert bad.status_code == 415
    assert 'id="field-avatar-error"' in bad.text
    ok = await client.post(
        "/account/avatar", data={"csrf_token": token}, files={"file": ("me.png", png(90, 120), "image/png")}
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/account/profile?saved=avatar"
    page = await client.get(ok.headers["location"])
    assert "Your picture is saved." in page.text and "Remove picture" in page.text
    match = re.search(r'src="(/avatars/[^"]+/128)"', page.text)
    assert match
    assert (await client.get(match.group(1))).headers["content-type"] == "image/png"
    gone = await client.post("/account/avatar/remove", data={"csrf_token": token})
    assert gone.status_code == 303
    assert (await client.get(match.group(1))).headers["content-type"].startswith("image/svg+xml")


async def test_avatars_need_a_signed_in_viewer(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/avatars/{uuid.uuid4()}/64")
    assert response.status_code == 303
