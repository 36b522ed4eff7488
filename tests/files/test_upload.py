"""The upload pipeline's first half, without a server: streaming multipart parsing under a
size limit, type sniffing against declared types and extensions, and name sanitizing."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fastapp.files.upload import (
    CSV,
    DOCX,
    PNG,
    TEXT,
    XLSX,
    ReceivedUpload,
    UnsupportedFileType,
    check,
    receive,
    sanitize_name,
)
from fastapp.platform.errors import Invalid, PayloadTooLarge
from tests.files.conftest import png_bytes

BOUNDARY = "----fastapp-test-boundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(
    content: bytes, *, filename: str = "a.png", declared: str = "image/png", purpose: str | None = None
) -> bytes:
    parts = []
    if purpose is not None:
        parts.append(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n{purpose}\r\n'.encode())
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {declared}\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{BOUNDARY}--\r\n".encode())
    return b"".join(parts)


class Body:
    """An async body in chunks that records how much was consumed."""

    def __init__(self, data: bytes, chunk: int = 4096) -> None:
        self.chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        self.consumed = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.chunks:
            self.consumed += 1
            yield piece


def upload_of(
    tmp_path: Path, content: bytes, filename: str, declared: str = "", purpose: str = "document"
) -> ReceivedUpload:
    path = tmp_path / "upload.bin"
    path.write_bytes(content)
    return ReceivedUpload(
        path=path, filename=filename, declared_type=declared, size=len(content), sha256="x", purpose=purpose
    )


def office(root: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{root}document.xml", "<doc/>")
    return out.getvalue()


# -- receiving ------------------------------------------------------------------------------------


async def test_a_file_part_is_streamed_to_disk_with_its_hash_and_purpose(tmp_path: Path) -> None:
    import hashlib

    content = png_bytes()
    body = Body(multipart(content, filename="cat.png", purpose="avatar"), chunk=100)
    received = await receive(body, content_type=CONTENT_TYPE, content_length=None, max_bytes=10_000, tmp_dir=tmp_path)
    try:
        assert received.path.read_bytes() == content
        assert (received.filename, received.declared_type, received.purpose) == ("cat.png", "image/png", "avatar")
        assert received.size == len(content)
        assert received.sha256 == hashlib.sha256(content).hexdigest()
    finally:
        received.discard()
    assert not received.path.exists()


async def test_a_declared_oversized_body_is_refused_before_any_byte_is_read(tmp_path: Path) -> None:
    body = Body(multipart(b"x" * 5000))
    with pytest.raises(PayloadTooLarge, match="upload limit"):
        await receive(body, content_type=CONTENT_TYPE, content_length=str(10**9), max_bytes=1000, tmp_dir=tmp_path)
    assert body.consumed == 0


async def test_reading_stops_the_moment_the_file_passes_the_limit(tmp_path: Path) -> None:
    body = Body(multipart(b"x" * 1_000_000), chunk=4096)
    with pytest.raises(PayloadTooLarge):
        await receive(body, content_type=CONTENT_TYPE, content_length=None, max_bytes=20_000, tmp_dir=tmp_path)
    assert body.consumed < 10  # of ~245 chunks
    assert not any(os.scandir(tmp_path))  # the partial file is gone


@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        (b"{}", "application/json", "multipart/form-data"),
        (f"--{BOUNDARY}--\r\n".encode(), CONTENT_TYPE, "Choose a file"),
        (multipart(b""), CONTENT_TYPE, "empty"),
    ],
)
async def test_bodies_without_a_usable_file_are_invalid(
    tmp_path: Path, data: bytes, content_type: str, message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        await receive(Body(data), content_type=content_type, content_length=None, max_bytes=1000, tmp_dir=tmp_path)
    assert not any(os.scandir(tmp_path))


# -- names ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "content_type", "expected"),
    [
        ("../../etc/passwd", None, "passwd"),
        ("../../etc/passwd", TEXT, "passwd.txt"),
        ("..\\..\\windows\\system32\\evil.txt", TEXT, "evil.txt"),
        ("re\x00port\x1b[31m.txt", TEXT, "report[31m.txt"),
        ("CON.txt", TEXT, "_CON.txt"),
        ("lpt1", None, "_lpt1"),
        ('a<b>:"c|d?*.pdf', None, "a_b___c_d__.pdf"),
        ("   ...   ", None, "file"),
        ("photo.JPEG", "image/jpeg", "photo.jpeg"),
        ("photo", "image/png", "photo.png"),
        ("x" * 300 + ".csv", CSV, "x" * 116 + ".csv"),
    ],
)
def test_names_are_sanitized(raw: str, content_type: str | None, expected: str) -> None:
    assert sanitize_name(raw, content_type=content_type) == expected


# -- sniffing -------------------------------------------------------------------------------------


def test_a_png_is_recognised_and_keeps_its_name(tmp_path: Path) -> None:
    checked = check(upload_of(tmp_path, png_bytes(), "holiday.png", "image/png", purpose="avatar"))
    assert (checked.content_type, checked.name) == (PNG, "holiday.png")


def test_a_png_renamed_pdf_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match=r"declared as application/pdf but its content is a PNG image"):
        check(upload_of(tmp_path, png_bytes(), "report.pdf", "application/pdf"))
    with pytest.raises(Invalid, match=r"ends in \.pdf"):
        check(upload_of(tmp_path, png_bytes(), "report.pdf", "", purpose="avatar"))


def test_html_declared_as_an_image_is_refused(tmp_path: Path) -> None:
    html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
    with pytest.raises(UnsupportedFileType) as refused:
        check(upload_of(tmp_path, html, "cat.png", "image/png", purpose="avatar"))
    assert refused.value.status == 415
    # As a document it is text that holds markup: refused as well.
    with pytest.raises(Invalid, match="markup"):
        check(upload_of(tmp_path, html, "notes.txt", "text/plain"))


def test_a_gif_html_polyglot_is_refused(tmp_path: Path) -> None:
    import io as _io

    from PIL import Image

    out = _io.BytesIO()
    Image.new("P", (4, 4)).save(out, "GIF", comment=b"<script>alert(document.cookie)</script>")
    with pytest.raises(Invalid, match="markup"):
        check(upload_of(tmp_path, out.getvalue(), "x.gif", "image/gif", purpose="avatar"))


def test_a_declared_type_contradicting_the_content_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="declared as application/pdf"):
        check(upload_of(tmp_path, png_bytes(), "x.png", "application/pdf"))


def test_text_csv_and_office_files_are_recognised(tmp_path: Path) -> None:
    assert check(upload_of(tmp_path, b"name,total\nAda,3\n", "sums.csv", "text/csv")).content_type == CSV
    assert check(upload_of(tmp_path, "héllo\n".encode(), "notes", "")).name == "notes.txt"
    assert check(upload_of(tmp_path, office("word/"), "letter.docx", "")).content_type == DOCX
    assert check(upload_of(tmp_path, office("xl/"), "book.xlsx", "")).content_type == XLSX
    with pytest.raises(Invalid, match=r"ends in \.xlsx"):
        check(upload_of(tmp_path, office("word/"), "letter.xlsx", ""))


def test_binary_and_unknown_content_is_unsupported(tmp_path: Path) -> None:
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("a.txt", "hi")
    for content, name in [
        (b"\x00\x01\x02binary", "x.bin"),
        (plain_zip.getvalue(), "x.zip"),
        (b"\xff\xfe\xfa", "x.txt"),
    ]:
        with pytest.raises(UnsupportedFileType):
            check(upload_of(tmp_path, content, name))
    with pytest.raises(UnsupportedFileType, match="for avatar"):
        check(upload_of(tmp_path, b"%PDF-1.4\n%%EOF\n", "x.pdf", purpose="avatar"))
    with pytest.raises(Invalid, match="Unknown purpose"):
        check(upload_of(tmp_path, png_bytes(), "x.png", purpose="nope"))


def test_purposes_are_configurable(tmp_path: Path) -> None:
    from fastapp.files.upload import purposes_with

    purposes = purposes_with({"document": ["application/pdf"], "sheet": [CSV]})
    assert purposes["document"] == frozenset({"application/pdf"}) and "avatar" in purposes
    with pytest.raises(UnsupportedFileType):
        check(upload_of(tmp_path, b"words\n", "a.txt"), purposes)
    assert check(upload_of(tmp_path, b"a,b\n", "a.csv", purpose="sheet"), purposes).content_type == CSV
    with pytest.raises(ValueError, match="unknown types"):
        purposes_with({"x": ["application/x-msdownload"]})
