"""File storage: one ``Storage`` Protocol, a local folder and an S3-compatible implementation.

Keys are relative, ``/``-separated names chosen by the caller (``files/ab/cd/<uuid>``), never user
input. Every operation streams: nothing holds a whole file in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Protocol

__all__ = ["Storage", "StoredObjectMissing"]


class StoredObjectMissing(LookupError):
    """There is no object under that key."""


class Storage(Protocol):
    async def put_file(self, key: str, path: Path, *, content_type: str) -> int:
        """Store the local file ``path`` under ``key`` (replacing any object there); its size."""
        ...

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        """Store the bytes of ``chunks`` under ``key``; the number of bytes stored."""
        ...

    def read(self, key: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes of ``key`` from ``start`` up to and including ``end`` (the last byte when
        None), in chunks; raises ``StoredObjectMissing`` (on first iteration) when absent."""
        ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens when it is already gone."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int:
        """The object's size in bytes; ``StoredObjectMissing`` when absent."""
        ...

    async def download_url(
        self, key: str, *, expires_in: timedelta, filename: str, content_type: str, inline: bool
    ) -> str | None:
        """A time-limited URL the browser can fetch ``key`` from directly (presigned on S3, with
        ``Content-Disposition`` and ``Content-Type`` set), or None when the app must serve the
        bytes itself (the local folder: the app's own signed download route does)."""
        ...
