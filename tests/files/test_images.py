"""Images: metadata stripped by re-encoding, thumbnails, and decompression bombs refused from
their header before anything is decoded."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from fastapp.files.images import ImageTooLarge, process
from fastapp.files.upload import JPEG, PNG
from fastapp.platform.errors import Invalid
from tests.files.conftest import jpeg_with_gps, png_bytes


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A PNG whose header claims 3.6 billion pixels (a few hundred bytes on disk)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1000, 9)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


def test_exif_and_gps_are_stripped_and_a_thumbnail_made(tmp_path: Path) -> None:
    source = tmp_path / "in.jpg"
    source.write_bytes(jpeg_with_gps((600, 400)))
    with Image.open(source) as original:
        assert original.getexif().get_ifd(0x8825)  # the test file does carry GPS
    done = process(source, JPEG, max_pixels=1_000_000, thumbnail_size=256, tmp_dir=tmp_path)
    with Image.open(done.path) as cleaned:
        assert cleaned.format == "JPEG"
        assert dict(cleaned.getexif()) == {}
        assert "exif" not in cleaned.info
    assert b"SpyCam" not in done.path.read_bytes()
    assert (done.width, done.height) == (600, 400)
    with Image.open(done.thumbnail) as thumb:
        assert thumb.format == "WEBP"
        assert max(thumb.size) == 256


def test_a_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    source = tmp_path / "bomb.png"
    source.write_bytes(png_bomb())
    with pytest.raises(ImageTooLarge, match=r"too many pixels|the limit is"):
        process(source, PNG, max_pixels=40_000_000, thumbnail_size=256, tmp_dir=tmp_path)


def test_the_pixel_limit_is_per_call(tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes((300, 200)))
    with pytest.raises(ImageTooLarge) as refused:
        process(source, PNG, max_pixels=50_000, thumbnail_size=64, tmp_dir=tmp_path)
    assert refused.value.status == 422
    assert process(source, PNG, max_pixels=60_000, thumbnail_size=64, tmp_dir=tmp_path).width == 300


def test_a_damaged_image_is_invalid(tmp_path: Path) -> None:
    source = tmp_path / "bad.png"
    source.write_bytes(png_bytes()[:60])
    with pytest.raises(Invalid, match="could not be read"):
        process(source, PNG, max_pixels=1_000_000, thumbnail_size=64, tmp_dir=tmp_path)
