"""Shared helpers of the files tests: an app without an in-process worker (queued jobs stay
where tests can look at them), users, principals, contexts and sample files."""

from __future__ import annotations

import io
import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
from PIL import Image

from fastapp.accounts import wiring
from fastapp.config import Config, FilesSettings
from fastapp.files import policy
from fastapp.platform.context import Context, Runtime, open_context
from tests.accounts.conftest import STRONG
from tests.conftest import acting as shared_acting
from tests.conftest import make_config, root_of


def files_config(var_dir: Path, database_url: str, redis_url: str, **files: object) -> Config:
    base = make_config(var_dir, database_url, redis_url, jobs={"in_process": False})
    settings = FilesSettings.model_validate({**FilesSettings().model_dump(), **files})
    return base.model_copy(update={"files": settings})


@pytest.fixture
def config(tmp_path: Path, database_url: str, redis_url: str) -> Config:
    return files_config(tmp_path / "var", database_url, redis_url, max_upload_bytes=200_000)


@pytest.fixture
def runtime(app: object) -> Runtime:
    found: Runtime = root_of(app).state.runtime
    return found


async def make_user(runtime: Runtime, address: str, *, role: str = "member") -> uuid.UUID:
    """An active, verified account holding ``role``."""
    async with open_context(runtime, request_id="t", ip=None) as ctx:
        accounts = wiring.accounts(runtime, ctx)
        if role != "owner" and "tests.files.owner" not in runtime.services:
            # The last owner cannot lose the role: keep one that is not the test's user.
            runtime.services["tests.files.owner"] = await accounts.create_owner(
                email="owner@example.com", password=STRONG, display_name="Owner"
            )
        user = await accounts.create_owner(email=address, password=STRONG, display_name=address.split("@")[0])
        if role != "owner":
            await accounts.set_role(user, role, granter=None)
        return user.id


def acting(
    runtime: Runtime, user_id: uuid.UUID | None = None, *, manager: bool = False
) -> AbstractAsyncContextManager[Context]:
    """``tests.conftest.acting``, as a manager (holding policy.MANAGE) when ``manager``."""
    return shared_acting(runtime, user_id, {policy.MANAGE} if manager else ())


def png_bytes(size: tuple[int, int] = (40, 30), *, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def jpeg_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG carrying EXIF with a camera make and a GPS position."""
    image = Image.new("RGB", size, "blue")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    gps = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}
    exif[0x8825] = gps  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()
