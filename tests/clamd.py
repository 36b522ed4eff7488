"""A private, real ClamAV ``clamd`` for tests, with a database holding only an EICAR signature.

``start_clamd()`` runs ``/usr/sbin/clamd`` (Debian ``clamav-daemon``) in the foreground on a free
loopback TCP port and a unix socket in a temp folder, and returns once it answers ``PING``
(about 0.1 s with this one-line database). The ``clamd`` fixture shares one for the whole session;
use ``start_clamd()`` directly for one you stop (an unreachable scanner) or configure differently
(a small ``StreamMaxLength``). Import the fixture where needed: ``from tests.clamd import clamd``.

Without clamd the fixture skips, except in CI (``CI=true``), where ``.ci/run`` installs it and
its absence is an error. No signature updates (``freshclam``) are needed or run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI

CLAMD = os.environ.get("FASTAPP_TEST_CLAMD", "/usr/sbin/clamd")
#: clamd marks signatures from databases it cannot verify (ours is a plain text file) ".UNOFFICIAL".
EICAR_SIGNATURE = "Eicar-Test-Signature.UNOFFICIAL"
START_TIMEOUT_S = 60.0


def eicar() -> bytes:
    """The 68-byte EICAR anti-virus test file, assembled here so no file in the repository holds
    it (and no scanner quarantines this one)."""
    return ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-" + "ANTIVIRUS-TEST-FILE!$H+H*").encode("ascii")


@dataclass(frozen=True)
class Clamd:
    """A running clamd: ``tcp_url`` and ``unix_url`` are ``FASTAPP_CLAMD_URL`` values."""

    tcp_url: str
    unix_url: str
    process: subprocess.Popen[bytes]
    log: Path


def require_clamd() -> None:
    """Skip the calling test when clamd is not installed (fail in CI, which installs it)."""
    if not Path(CLAMD).exists():
        if IN_CI:
            raise RuntimeError(f"{CLAMD} is missing: CI installs Debian's clamav-daemon")
        pytest.skip(f"virus scanning tests need clamd at {CLAMD} (apt-get install clamav-daemon)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"zPING\0")
            return conn.recv(16) == b"PONG\0"
    except OSError:
        return False


@contextmanager
def start_clamd(*, stream_max_length: str = "50M", options: Sequence[str] = ()) -> Iterator[Clamd]:
    """Run a private clamd until the block ends; ``stream_max_length`` is its ``StreamMaxLength``,
    ``options`` more lines of its configuration (``"MaxFileSize 1M"``)."""
    require_clamd()
    # mkdtemp under /tmp keeps the socket path short (unix sockets allow about 100 bytes).
    folder = Path(tempfile.mkdtemp(prefix="fastapp-clamd-"))
    try:
        db = folder / "db"
        db.mkdir()
        sample = eicar()
        # An MD5 signature (md5:size:name) matches exactly this file and nothing else.
        (db / "eicar.hdb").write_text(
            f"{hashlib.md5(sample, usedforsecurity=False).hexdigest()}:{len(sample)}:Eicar-Test-Signature\n"
        )
        port = _free_port()
        sock = folder / "clamd.sock"
        config = folder / "clamd.conf"
        config.write_text(
            "\n".join(
                [
                    "Foreground yes",
                    "LogSyslog no",
                    "TCPAddr 127.0.0.1",
                    f"TCPSocket {port}",
                    f"LocalSocket {sock}",
                    f"DatabaseDirectory {db}",
                    f"TemporaryDirectory {folder}",
                    f"PidFile {folder / 'clamd.pid'}",
                    f"StreamMaxLength {stream_max_length}",
                    *options,
                    "",
                ]
            )
        )
        log = folder / "clamd.log"
        with log.open("wb") as out:
            process = subprocess.Popen([CLAMD, "--config-file", str(config)], stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not (_pong(port) and sock.exists()):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"clamd did not start:\n{log.read_text(errors='replace')}")
                time.sleep(0.05)
            yield Clamd(f"tcp://127.0.0.1:{port}", f"unix://{sock}", process, log)
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def clamd() -> Iterator[Clamd]:
    """One clamd for the session (StreamMaxLength 50M), EICAR its only signature."""
    with start_clamd() as running:
        yield running
