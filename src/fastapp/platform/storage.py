"""File storage: one ``Storage`` Protocol, a local folder and an S3-compatible implementation.

Keys are relative, ``/``-separated names chosen by the caller (``files/ab/cd/<uuid>``), never user
input. Every operation streams: nothing holds a whole file in memory.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

if TYPE_CHECKING:
    from fastapp.config import StorageSettings

__all__ = [
    "CHUNK_SIZE",
    "STORAGE",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "StoredObjectMissing",
    "close_storage",
    "content_disposition",
    "create_storage",
]

#: Where the composition root keeps the process's ``Storage`` (``runtime.services[STORAGE]``).
STORAGE = "platform.storage"
#: Size of the chunks ``read`` yields.
CHUNK_SIZE = 64 * 1024
#: S3 part size: objects above it are uploaded in parts of this size (S3's minimum part is 5 MiB).
PART_SIZE = 8 * 1024 * 1024
#: Parts of one ``put_file`` in flight at once; bounds memory (about this many parts) and sockets.
UPLOAD_CONCURRENCY = 4


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


def check_key(key: str) -> str:
    """``key`` unchanged when it is a safe relative name; ``ValueError`` otherwise.

    Refused: empty keys and segments (``a//b``, a trailing ``/``), ``.`` and ``..`` segments,
    absolute paths, backslashes and NUL, so a key can never name a file outside the folder (and
    means the same object on every backend)."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise ValueError(f"invalid storage key {key!r}")
    if any(part in {"", ".", ".."} for part in key.split("/")):
        raise ValueError(f"invalid storage key {key!r}")
    return key


def _check_range(start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range {start}-{end}")


def content_disposition(filename: str, *, inline: bool) -> str:
    """A ``Content-Disposition`` value for ``filename``: an ASCII fallback for old clients plus
    the exact UTF-8 name (RFC 6266 / RFC 5987), so no quote, backslash or control character of a
    user's file name can break out of the header."""
    kind = "inline" if inline else "attachment"
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename) or "download"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class LocalStorage:
    """Objects as files under ``folder``: the embedded default (one machine, one process group).

    Writes go to a temporary name in the target's folder then are renamed over it, so a reader
    sees the old or the new file, never a half-written one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / check_key(key)

    def _temp_for(self, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")

    async def put_file(self, key: str, path: Path, *, content_type: str) -> int:
        target = self._path(key)

        def copy() -> int:
            temp = self._temp_for(target)
            try:
                shutil.copyfile(path, temp)
                os.replace(temp, target)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            return target.stat().st_size

        return await asyncio.to_thread(copy)

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        target = self._path(key)
        temp = await asyncio.to_thread(self._temp_for, target)
        written = 0
        try:
            handle = await asyncio.to_thread(temp.open, "wb")
            try:
                async for chunk in chunks:
                    await asyncio.to_thread(handle.write, chunk)
                    written += len(chunk)
            finally:
                await asyncio.to_thread(handle.close)
            await asyncio.to_thread(os.replace, temp, target)
        except BaseException:
            await asyncio.to_thread(temp.unlink, missing_ok=True)
            raise
        return written

    async def read(self, key: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        _check_range(start, end)
        path = self._path(key)
        try:
            handle: IO[bytes] = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise StoredObjectMissing(key) from exc
        try:
            await asyncio.to_thread(handle.seek, start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                size = CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
                chunk = await asyncio.to_thread(handle.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def size(self, key: str) -> int:
        path = self._path(key)
        try:
            stat = await asyncio.to_thread(path.stat)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise StoredObjectMissing(key) from exc
        return stat.st_size

    async def download_url(
        self, key: str, *, expires_in: timedelta, filename: str, content_type: str, inline: bool
    ) -> str | None:
        check_key(key)
        return None

    async def close(self) -> None:
        """Nothing to release; present so every backend closes the same way."""


class S3Storage:
    """Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2...), through boto3.

    boto3 blocks, so every call runs in a worker thread; one client is shared (boto3 clients are
    thread-safe). Large files go up in ``PART_SIZE`` parts, at most ``UPLOAD_CONCURRENCY`` at a
    time, so memory stays bounded whatever the file size."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        path_style: bool = False,
    ) -> None:
        import boto3  # type: ignore[import-untyped]
        from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]
        from botocore.config import Config as BotoConfig  # type: ignore[import-untyped]

        if not bucket:
            raise ValueError("S3Storage needs a bucket")
        self.bucket = bucket
        # A session per storage: boto3's default session is module-global and not thread-safe.
        session = boto3.session.Session(
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            region_name=region or None,
        )
        self._client: Any = session.client(
            "s3",
            endpoint_url=endpoint_url or None,
            config=BotoConfig(
                signature_version="s3v4",
                s3={"addressing_style": "path" if path_style else "auto"},
                # Room for the parallel parts of a few uploads at once without waiting for a socket.
                max_pool_connections=4 * UPLOAD_CONCURRENCY,
                retries={"mode": "standard"},
            ),
        )
        self._transfer = TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=PART_SIZE,
            max_concurrency=UPLOAD_CONCURRENCY,
            use_threads=True,
        )

    @staticmethod
    def _is_missing(exc: Exception) -> bool:
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        if not isinstance(exc, ClientError):
            return False
        # Not any 404: NoSuchBucket is a misconfiguration, not a missing object. (A HEAD answer has
        # no body, so there a missing bucket cannot be told apart and reads as "404".)
        return exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}

    async def put_file(self, key: str, path: Path, *, content_type: str) -> int:
        check_key(key)
        size = (await asyncio.to_thread(path.stat)).st_size
        await asyncio.to_thread(
            self._client.upload_file,
            str(path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type},
            Config=self._transfer,
        )
        return size

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes], *, content_type: str) -> int:
        check_key(key)
        # Chunks gather until they make a part (PART_SIZE or a little more: parts need not be
        # equal), so at most about one part is held, whatever the stream's length.
        pending: list[bytes] = []
        pending_size = total = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                pending.append(chunk)
                pending_size += len(chunk)
                total += len(chunk)
                if pending_size >= PART_SIZE:
                    if upload_id is None:
                        created = await asyncio.to_thread(
                            self._client.create_multipart_upload, Bucket=self.bucket, Key=key, ContentType=content_type
                        )
                        upload_id = str(created["UploadId"])
                    body = b"".join(pending)
                    pending.clear()
                    pending_size = 0
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, body))
                    del body
            if upload_id is None:  # small: one request
                await asyncio.to_thread(
                    self._client.put_object,
                    Bucket=self.bucket,
                    Key=key,
                    Body=b"".join(pending),
                    ContentType=content_type,
                )
                return total
            if pending:
                parts.append(await self._upload_part(key, upload_id, len(parts) + 1, b"".join(pending)))
            await asyncio.to_thread(
                self._client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            if upload_id is not None:  # parts of an abandoned upload are billed until aborted
                await asyncio.to_thread(
                    self._client.abort_multipart_upload, Bucket=self.bucket, Key=key, UploadId=upload_id
                )
            raise
        return total

    async def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        answer = await asyncio.to_thread(
            self._client.upload_part, Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        return {"ETag": answer["ETag"], "PartNumber": number}

    async def read(self, key: str, *, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        from botocore.exceptions import ClientError

        check_key(key)
        _check_range(start, end)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            answer = await asyncio.to_thread(self._client.get_object, **params)
        except ClientError as exc:
            if self._is_missing(exc):
                raise StoredObjectMissing(key) from exc
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return  # start past the end: no bytes, as from a local file
            raise
        body = answer["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK_SIZE):
                yield chunk
        finally:
            await asyncio.to_thread(body.close)

    async def delete(self, key: str) -> None:
        check_key(key)
        await asyncio.to_thread(self._client.delete_object, Bucket=self.bucket, Key=key)

    async def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        check_key(key)
        try:
            answer: dict[str, Any] = await asyncio.to_thread(self._client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if self._is_missing(exc):
                return None
            raise
        return answer

    async def exists(self, key: str) -> bool:
        return await self._head(key) is not None

    async def size(self, key: str) -> int:
        head = await self._head(key)
        if head is None:
            raise StoredObjectMissing(key)
        return int(head["ContentLength"])

    async def download_url(
        self, key: str, *, expires_in: timedelta, filename: str, content_type: str, inline: bool
    ) -> str | None:
        check_key(key)
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": content_disposition(filename, inline=inline),
            "ResponseContentType": content_type,
        }
        # Signing is local, but resolving credentials may reach the instance metadata service.
        url: str = await asyncio.to_thread(
            self._client.generate_presigned_url,
            "get_object",
            Params=params,
            ExpiresIn=max(1, int(expires_in.total_seconds())),
        )
        return url

    async def ping(self) -> None:
        """Raise unless the bucket answers (readiness check)."""
        await asyncio.to_thread(self._client.head_bucket, Bucket=self.bucket)

    async def close(self) -> None:
        """Close the client's connection pool."""
        await asyncio.to_thread(self._client.close)


def create_storage(settings: StorageSettings, *, var_dir: Path) -> LocalStorage | S3Storage:
    """The process's storage: an ``S3Storage`` when ``FASTAPP_STORAGE_BACKEND=s3``, else a
    ``LocalStorage`` under ``FASTAPP_STORAGE_DIR`` (``var/files`` by default)."""
    if settings.storage_backend == "s3":
        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region or None,
            access_key_id=settings.s3_access_key_id.get_secret_value() or None,
            secret_access_key=settings.s3_secret_access_key.get_secret_value() or None,
            path_style=settings.s3_path_style,
        )
    return LocalStorage(settings.storage_dir or var_dir / "files")


async def close_storage(storage: object) -> None:
    """Release what ``storage`` holds (S3 connections) if it has anything to release."""
    close = getattr(storage, "close", None)
    if close is not None:
        await close()
