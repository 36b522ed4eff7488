"""Avatar images: uploaded pictures cropped to squares, and generated initials for everyone else.

An uploaded avatar goes through the files pipeline (purpose ``avatar``: type sniffing, image
re-encoding without metadata, quota, scanning); ``square_sizes`` then centre-crops the stored
image once and the 64, 128 and 256 px PNGs are kept in the storage next to it
(``avatars/<file id>/<size>.png``), so serving one is a plain read. Users without one get
``initials_svg``: their initials on a colour derived from their id, dark enough that white text
has a contrast ratio of at least 4.5:1 (WCAG AA).
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import uuid
from html import escape

from PIL import Image, ImageOps

SIZES = (64, 128, 256)
AVATAR_TYPE = "image/png"
MIN_CONTRAST = 4.5
WHITE = (255, 255, 255)


def size_key(file_id: uuid.UUID, size: int) -> str:
    return f"avatars/{file_id}/{size}.png"


def square_sizes(data: bytes) -> dict[int, bytes]:
    """The image in ``data`` centre-cropped to a square and scaled to each of ``SIZES`` (PNG).

    CPU-bound: call it in a thread. Raises ``PIL.UnidentifiedImageError`` for non-images.
    """
    with Image.open(io.BytesIO(data)) as source:
        source.load()
        image = source.convert("RGBA") if source.mode not in ("RGB", "RGBA") else source.copy()
    out: dict[int, bytes] = {}
    for size in SIZES:
        square = ImageOps.fit(image, (size, size), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
        buffer = io.BytesIO()
        square.save(buffer, format="PNG", optimize=True)
        out[size] = buffer.getvalue()
    return out


def _channel(value: float) -> float:
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance of an sRGB colour."""
    r, g, b = (_channel(c / 255) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    """WCAG contrast ratio, 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def background_of(user_id: uuid.UUID) -> tuple[int, int, int]:
    """A stable colour for the user: the hue from their id, darkened until white text on it
    reaches ``MIN_CONTRAST``."""
    digest = hashlib.sha256(user_id.bytes).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536
    saturation = 0.45 + digest[2] / 255 * 0.3
    lightness = 0.45
    while True:
        r, g, b = colorsys.hls_to_rgb(hue, lightness, saturation)
        rgb = (round(r * 255), round(g * 255), round(b * 255))
        if contrast(rgb, WHITE) >= MIN_CONTRAST or lightness <= 0.05:
            return rgb
        lightness -= 0.02


def initials(name: str) -> str:
    """Up to two initials of ``name`` (first and last word), upper case; ``?`` for none."""
    words = [w for w in name.split() if w[:1].isalnum()]
    if not words:
        return "?"
    letters = words[0][0] + (words[-1][0] if len(words) > 1 else "")
    return letters.upper()


def initials_svg(user_id: uuid.UUID, name: str, size: int = 128) -> str:
    """A square SVG avatar with the user's initials (decorative: the page names the user)."""
    r, g, b = background_of(user_id)
    text = escape(initials(name))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 100 100">'
        f'<rect width="100" height="100" fill="#{r:02x}{g:02x}{b:02x}"/>'
        '<text x="50" y="50" dy=".35em" text-anchor="middle" fill="#ffffff" '
        'font-family="system-ui, sans-serif" font-size="42" font-weight="600">'
        f"{text}</text></svg>"
    )


def avatar_url(user_id: uuid.UUID, size: int) -> str:
    """Where the avatar of ``user_id`` is served (``profile_pages.avatar_image``)."""
    return f"/avatars/{user_id}/{size}"
