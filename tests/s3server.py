"""A real S3 API for tests: moto's server on a free loopback port, in a thread of the test process.

Use the ``s3_server`` fixture (session-scoped; import it into a ``conftest.py``) and make a
bucket per test module or use ``S3Server.bucket``, which exists from the start.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from fastapp.platform.storage import S3Storage

ACCESS_KEY = "testing"
SECRET_KEY = "testing-secret"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str

    def client(self) -> Any:
        """A plain boto3 client, to inspect the bucket behind a storage's back."""
        import boto3

        return boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION
        ).client("s3", endpoint_url=self.endpoint_url)

    def storage(self, bucket: str | None = None) -> S3Storage:
        return S3Storage(
            bucket=bucket or self.bucket,
            endpoint_url=self.endpoint_url,
            region=REGION,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            path_style=True,
        )

    def settings(self, bucket: str | None = None) -> dict[str, object]:
        """``StorageSettings`` values pointing at this server."""
        return {
            "storage_backend": "s3",
            "s3_bucket": bucket or self.bucket,
            "s3_endpoint_url": self.endpoint_url,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SECRET_KEY,
            "s3_path_style": True,
        }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3 = S3Server(endpoint_url=f"http://{host}:{port}", bucket=f"test-{uuid.uuid4().hex[:12]}")
    client = s3.client()
    client.create_bucket(Bucket=s3.bucket)
    client.close()
    try:
        yield s3
    finally:
        server.stop()
