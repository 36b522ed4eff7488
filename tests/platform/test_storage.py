"""One conformance suite for every ``Storage``: the local folder and S3 (a real moto server)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from fastapp.app import new_runtime
from fastapp.config import Config, Environment, StorageSettings
from fastapp.platform.storage import (
    CHUNK_SIZE,
    STORAGE,
    LocalStorage,
    S3Storage,
    Storage,
    StoredObjectMissing,
    content_disposition,
    create_storage,
)
from tests.conftest import client_for, make_config
from tests.s3server import S3Server

MB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "local":
        yield LocalStorage(tmp_path / "files")
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        yield server.storage()


@pytest.fixture
def key() -> str:
    """A fresh key per test: the S3 bucket is shared by the whole session."""
    return f"files/{uuid.uuid4().hex[:2]}/{uuid.uuid4()}"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


async def read_all(storage: Storage, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key, start=start, end=end)])


async def test_put_file_stores_the_file_and_returns_its_size(storage: Storage, key: str, tmp_path: Path) -> None:
    data = os.urandom(1000)
    assert await storage.put_file(key, write(tmp_path / "in", data), content_type="application/octet-stream") == 1000
    assert await read_all(storage, key) == data
    assert await storage.exists(key)
    assert await storage.size(key) == 1000


async def test_put_stream_stores_every_chunk(storage: Storage, key: str) -> None:
    data = os.urandom(300_000)
    assert await storage.put_stream(key, chunks_of(data, 7_000), content_type="image/png") == len(data)
    assert await read_all(storage, key) == data
    assert await storage.size(key) == len(data)


async def test_empty_objects_are_objects(storage: Storage, key: str) -> None:
    assert await storage.put_stream(key, chunks_of(b"", 10), content_type="text/plain") == 0
    assert await storage.exists(key)
    assert await storage.size(key) == 0
    assert await read_all(storage, key) == b""


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [(0, 0, b"0"), (3, 6, b"3456"), (5, None, b"56789"), (8, 100, b"89"), (9, 9, b"9"), (10, None, b"")],
)
async def test_read_returns_the_inclusive_range(
    storage: Storage, key: str, start: int, end: int | None, expected: bytes
) -> None:
    await storage.put_stream(key, chunks_of(b"0123456789", 4), content_type="text/plain")
    assert await read_all(storage, key, start, end) == expected


async def test_read_refuses_a_backwards_range(storage: Storage, key: str) -> None:
    await storage.put_stream(key, chunks_of(b"0123456789", 4), content_type="text/plain")
    with pytest.raises(ValueError, match="range"):
        await read_all(storage, key, 5, 4)


async def test_a_missing_object_is_reported(storage: Storage, key: str) -> None:
    assert not await storage.exists(key)
    with pytest.raises(StoredObjectMissing):
        await storage.size(key)
    with pytest.raises(StoredObjectMissing):
        await read_all(storage, key)
    with pytest.raises(StoredObjectMissing):
        await read_all(storage, key, 2, 5)


async def test_delete_removes_and_is_idempotent(storage: Storage, key: str) -> None:
    await storage.put_stream(key, chunks_of(b"x" * 10, 4), content_type="text/plain")
    await storage.delete(key)
    assert not await storage.exists(key)
    await storage.delete(key)  # already gone: nothing happens
    with pytest.raises(StoredObjectMissing):
        await storage.size(key)


async def test_putting_again_replaces_the_object(storage: Storage, key: str, tmp_path: Path) -> None:
    await storage.put_stream(key, chunks_of(b"first version, longer", 4), content_type="text/plain")
    await storage.put_file(key, write(tmp_path / "in", b"second"), content_type="text/plain")
    assert await read_all(storage, key) == b"second"
    assert await storage.size(key) == 6


async def test_large_files_stream_in_bounded_chunks(storage: Storage, key: str, tmp_path: Path) -> None:
    # 20 MB: above the 8 MiB part size, so S3 takes the multipart path of both writes.
    data = os.urandom(20 * MB + 123)
    assert await storage.put_file(key, write(tmp_path / "big", data), content_type="video/mp4") == len(data)
    digest = hashlib.sha256()
    count = 0
    async for chunk in storage.read(key):
        assert 0 < len(chunk) <= CHUNK_SIZE
        digest.update(chunk)
        count += len(chunk)
    assert (count, digest.hexdigest()) == (len(data), hashlib.sha256(data).hexdigest())

    other = key + "-stream"
    assert await storage.put_stream(other, chunks_of(data, MB), content_type="video/mp4") == len(data)
    assert await storage.size(other) == len(data)
    assert await read_all(storage, other, 9 * MB, 9 * MB + 99) == data[9 * MB : 9 * MB + 100]


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "a/../b", "..", "a//b", "a/", "./a", "a\\b", "a\x00b"])
async def test_unsafe_keys_are_refused(storage: Storage, bad: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key"):
        await storage.put_file(bad, write(tmp_path / "in", b"x"), content_type="text/plain")
    with pytest.raises(ValueError, match="key"):
        await storage.exists(bad)
    with pytest.raises(ValueError, match="key"):
        await read_all(storage, bad)


async def test_download_url(storage: Storage, key: str) -> None:
    await storage.put_stream(key, chunks_of(b"%PDF-1.7 hello", 4), content_type="application/octet-stream")
    url = await storage.download_url(
        key,
        expires_in=timedelta(minutes=5),
        filename='Rapport "final" é.pdf',
        content_type="application/pdf",
        inline=False,
    )
    if isinstance(storage, LocalStorage):
        assert url is None  # the files domain serves local bytes through its own signed route
        return
    assert url is not None
    async with httpx.AsyncClient() as http:
        answer = await http.get(url)
    assert answer.status_code == 200
    assert answer.content == b"%PDF-1.7 hello"
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == content_disposition('Rapport "final" é.pdf', inline=False)


def test_content_disposition_keeps_the_name_inside_the_header() -> None:
    value = content_disposition('a"b\\c\r\nd é.txt', inline=False)
    assert value == "attachment; filename=\"a_b_c__d _.txt\"; filename*=UTF-8''a%22b%5Cc%0D%0Ad%20%C3%A9.txt"
    assert content_disposition("", inline=True) == "inline; filename=\"download\"; filename*=UTF-8''"


async def test_local_writes_are_atomic(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "files")
    await storage.put_stream("a/b", chunks_of(b"old", 2), content_type="text/plain")

    async def failing() -> AsyncIterator[bytes]:
        yield b"new bytes"
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await storage.put_stream("a/b", failing(), content_type="text/plain")
    assert await read_all(storage, "a/b") == b"old"
    assert sorted(p.name for p in (tmp_path / "files" / "a").iterdir()) == ["b"]  # no temporary left
    with pytest.raises(FileNotFoundError):
        await storage.put_file("a/b", tmp_path / "absent", content_type="text/plain")
    assert sorted(p.name for p in (tmp_path / "files" / "a").iterdir()) == ["b"]


async def test_a_failed_s3_stream_aborts_its_multipart_upload(s3_server: S3Server, key: str) -> None:
    storage = s3_server.storage()

    async def failing() -> AsyncIterator[bytes]:
        yield b"x" * (9 * MB)  # one part sent
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await storage.put_stream(key, failing(), content_type="text/plain")
    assert not await storage.exists(key)
    client = s3_server.client()
    uploads = client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=key).get("Uploads", [])
    client.close()
    assert uploads == []


async def test_s3_errors_other_than_missing_propagate(s3_server: S3Server, key: str) -> None:
    from botocore.exceptions import ClientError

    storage = s3_server.storage(bucket="no-such-bucket")
    with pytest.raises(ClientError):
        await storage.ping()
    with pytest.raises(ClientError):
        await storage.put_stream(key, chunks_of(b"x", 1), content_type="text/plain")
    with pytest.raises(ClientError, match="NoSuchBucket"):
        await read_all(storage, key)


def s3_config(tmp_path: Path, **values: object) -> Config:
    config = make_config(tmp_path / "var")
    settings = StorageSettings.model_validate({"storage_backend": "s3", **values})
    return config.model_copy(update={"storage": settings})


def test_create_storage_follows_the_configuration(tmp_path: Path, s3_server: S3Server) -> None:
    local = create_storage(StorageSettings.model_validate({}), var_dir=tmp_path)
    assert isinstance(local, LocalStorage) and local.folder == tmp_path / "files"
    assert StorageSettings.model_validate({"storage_dir": ""}).storage_dir is None
    there = create_storage(StorageSettings.model_validate({"storage_dir": tmp_path / "x"}), var_dir=tmp_path)
    assert isinstance(there, LocalStorage) and there.folder == tmp_path / "x"
    s3 = create_storage(StorageSettings.model_validate(s3_server.settings()), var_dir=tmp_path)
    assert isinstance(s3, S3Storage) and s3.bucket == s3_server.bucket


def test_the_runtime_holds_the_configured_storage(tmp_path: Path) -> None:
    runtime = new_runtime(make_config(tmp_path / "var"))
    storage = runtime.services[STORAGE]
    assert isinstance(storage, LocalStorage) and storage.folder == tmp_path / "var" / "files"


def test_storage_settings_are_validated_and_redacted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="storage_backend"):
        StorageSettings.model_validate({"storage_backend": "ftp"})
    with pytest.raises(ValueError, match="http"):
        StorageSettings.model_validate({"s3_endpoint_url": "minio:9000"})
    config = s3_config(tmp_path, s3_bucket="b", s3_access_key_id="AKIAEXAMPLE", s3_secret_access_key="very-secret")
    assert config.redacted()["storage"]["s3_access_key_id"] == "***"
    assert config.redacted()["storage"]["s3_secret_access_key"] == "***"


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({}, "FASTAPP_S3_BUCKET"),
        ({"s3_bucket": "b", "s3_endpoint_url": "http://minio.internal:9000"}, "FASTAPP_S3_ENDPOINT_URL"),
        ({"s3_bucket": "b", "s3_access_key_id": "AKIAEXAMPLE"}, "FASTAPP_S3_ACCESS_KEY_ID"),
    ],
)
def test_production_refuses_an_incomplete_s3_configuration(
    tmp_path: Path, values: dict[str, object], problem: str
) -> None:
    config = s3_config(tmp_path, **values)
    production = config.model_copy(update={"app": config.app.model_copy(update={"env": Environment.production})})
    assert any(p.startswith(problem) for p in production.production_problems())
    sound = s3_config(tmp_path, s3_bucket="b", s3_endpoint_url="http://127.0.0.1:9000")
    sound = sound.model_copy(update={"app": sound.app.model_copy(update={"env": Environment.production})})
    assert not [p for p in sound.production_problems() if "S3" in p or "STORAGE" in p]


@pytest.mark.parametrize("bucket_exists", [True, False])
async def test_readyz_checks_the_s3_bucket(
    tmp_path: Path, database_url: str, s3_server: S3Server, bucket_exists: bool
) -> None:
    config = make_config(tmp_path / "var", database_url)
    bucket = s3_server.bucket if bucket_exists else "no-such-bucket"
    config = config.model_copy(update={"storage": StorageSettings.model_validate(s3_server.settings(bucket))})
    async with client_for(config) as http:
        response = await http.get("/readyz")
    checks = response.json()["checks"]
    if bucket_exists:
        assert (response.status_code, checks["storage"]) == (200, "ok")
    else:
        assert response.status_code == 503
        assert response.json()["failing"] == ["storage"]
        assert "404" in checks["storage"] or "Not Found" in checks["storage"]
