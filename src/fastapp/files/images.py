"""Images: decode under a pixel limit, re-encode without metadata, make a thumbnail.

Every function here blocks (Pillow): callers run ``process`` in a thread.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from fastapp.files.upload import GIF, JPEG, PNG, WEBP
from fastapp.platform.errors import Invalid

THUMBNAIL_TYPE = WEBP
_FORMATS = {PNG: "PNG", JPEG: "JPEG", WEBP: "WEBP", GIF: "GIF"}


class ImageTooLarge(Invalid):
    """More pixels than the limit (a decompression bomb or just too big to decode safely)."""

    problem_type = "image-too-large"
    title = "Image too large"


@dataclass(frozen=True)
class ProcessedImage:
    """The re-encoded image (metadata stripped) and its thumbnail, both temporary files."""

    path: Path
    width: int
    height: int
    thumbnail: Path


def process(
    source: Path, content_type: str, *, max_pixels: int, thumbnail_size: int, tmp_dir: Path | None
) -> ProcessedImage:
    """Decode ``source`` and write it again in its own format without EXIF, GPS, comments or
    text chunks (orientation applied first), plus a WebP thumbnail at most ``thumbnail_size``
    pixels on its longest side. Animated images keep their first frame.

    Raises ``ImageTooLarge`` (422) when width x height passes ``max_pixels``, checked from the
    header before anything is decoded, and ``Invalid`` when the image cannot be decoded.
    """
    fmt = _FORMATS[content_type]
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb guard warns (then raises at twice its global limit); ours is per
            # call and lower, but treat its warning as the refusal it is.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=[fmt]) as opened:
                width, height = opened.size
                if width * height > max_pixels:
                    raise _too_large(width, height, max_pixels)
                opened.seek(0)
                opened.load()
                image = ImageOps.exif_transpose(opened)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageTooLarge(
            "The image has too many pixels to be processed safely.", fields={"file": "Image too large."}
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Invalid("The image could not be read; it may be damaged.", fields={"file": "Unreadable image."}) from exc
    image = _for_format(image, fmt)
    out = _temp(tmp_dir, "image-")
    # No exif=, icc_profile= or pnginfo= arguments: Pillow writes none of the source's metadata.
    if fmt == "JPEG":
        image.save(out, fmt, quality=90, optimize=True)
    elif fmt == "WEBP":
        image.save(out, fmt, quality=90)
    else:
        image.save(out, fmt, optimize=True)
    thumb = image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image.copy()
    thumb.thumbnail((thumbnail_size, thumbnail_size))
    thumb_path = _temp(tmp_dir, "thumb-")
    thumb.save(thumb_path, "WEBP", quality=80)
    return ProcessedImage(path=out, width=image.width, height=image.height, thumbnail=thumb_path)


def _for_format(image: Image.Image, fmt: str) -> Image.Image:
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        return image.convert("RGB")
    if fmt == "WEBP" and image.mode not in ("RGB", "RGBA"):
        return image.convert("RGBA")
    return image


def _too_large(width: int, height: int, limit: int) -> ImageTooLarge:
    return ImageTooLarge(
        f"The image is {width:,} x {height:,} pixels; the limit is {limit:,} pixels in all.",
        fields={"file": "Image too large."},
    )


def _temp(tmp_dir: Path | None, prefix: str) -> Path:
    with tempfile.NamedTemporaryFile(prefix=prefix, dir=tmp_dir, delete=False) as handle:
        return Path(handle.name)
