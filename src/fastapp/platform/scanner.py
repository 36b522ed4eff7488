"""Virus scanning: one ``Scanner`` Protocol; ClamAV ``clamd`` in production, none by default.

``ClamdScanner`` is our own client of clamd's socket protocol. The clamd clients on PyPI are
unmaintained and synchronous (a blocking socket per scan would stall the event loop), and the
part we need is a few lines: ``zINSTREAM\\0``, then the file as chunks each prefixed by its
length (4 bytes, big-endian), then a zero-length chunk; clamd answers one NUL-terminated line:

- ``stream: OK`` — clean;
- ``stream: <Signature> FOUND`` — infected;
- ``INSTREAM size limit exceeded. ERROR`` — the stream passed clamd's ``StreamMaxLength``;
- ``stream: Heuristics.Limits.Exceeded.<Limit> FOUND`` — with ``AlertExceedsMax yes``, the file
  passed another limit (``MaxFileSize``, ``MaxScanSize``...): not a threat, but not scanned whole.
  Without that option clamd answers ``stream: OK`` for such a file, which is why operations.md
  asks for those limits to be at least ``StreamMaxLength``;
- ``<reason> ERROR`` — clamd could not scan.

``zPING\\0`` answers ``PONG``. One connection per command, so there is no session state to lose.

Outcomes and what the caller does with them:

- a ``ScanResult`` — the scanner's verdict, clean or infected;
- ``ScannerUnavailable`` — no verdict *this time* (cannot connect, timeout, connection dropped, an
  ``ERROR`` reply): never treat the file as clean; keep it pending and scan again later;
- ``ScanTooLarge`` (deliberately *not* a ``ScannerUnavailable``: retrying gives the same answer)
  — the file passes one of clamd's limits (``StreamMaxLength``, or a ``Heuristics.Limits.Exceeded``
  alert). The file was not scanned (whole) and must not be served to others; the operator fixes
  it by raising the limit above the upload limit (docs/operations.md), after which a rescan succeeds.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

__all__ = [
    "CHUNK_BYTES",
    "SCANNER",
    "ClamdScanner",
    "ScanResult",
    "ScanTooLarge",
    "Scanner",
    "ScannerUnavailable",
    "create_scanner",
]

#: Where the composition root keeps the process's scanner (``runtime.services[SCANNER]``), or None.
SCANNER = "platform.scanner"

#: Bytes per INSTREAM chunk. clamd refuses a single chunk larger than its ``StreamMaxLength`` (the
#: whole stream is limited by the same setting), so chunks stay far below any sane value of it
#: (the Debian default is 25M); small chunks also keep memory flat whatever the file size.
CHUNK_BYTES = 64 * 1024

#: The signature prefix of clamd's ``AlertExceedsMax`` reports: a limit was hit, not a threat found.
_LIMIT_ALERT = "Heuristics.Limits.Exceeded."

#: A reply is one short line; anything longer is not clamd.
_MAX_REPLY_BYTES = 4096


@dataclass(frozen=True)
class ScanResult:
    """What the scanner found: ``signature`` names the threat when the file is infected."""

    infected: bool
    signature: str | None = None


class ScannerUnavailable(Exception):
    """The scanner could not be reached or did not answer: scan again later."""


class ScanTooLarge(Exception):
    """The file exceeds a limit of the scanner (clamd ``StreamMaxLength``, ``MaxFileSize``...): it
    was not scanned whole, and scanning it again gives the same answer until the limit is raised."""


class Scanner(Protocol):
    async def scan_file(self, path: Path) -> ScanResult:
        """Scan the local file ``path`` (streamed to the scanner, never read whole);
        ``ScannerUnavailable`` when the scanner cannot answer."""
        ...

    async def ping(self) -> None:
        """Return when the scanner answers; ``ScannerUnavailable`` otherwise."""
        ...


class ClamdScanner:
    """A ``Scanner`` speaking to clamd at ``tcp://host:port`` or ``unix:///path/clamd.sock``.

    ``connect_timeout`` bounds opening the connection; ``timeout`` bounds a whole command,
    connection included (a large file on a busy clamd takes a while: be generous).
    ``scan_file`` returns a ``ScanResult`` and raises ``ScannerUnavailable`` (no verdict: retry
    later) or ``ScanTooLarge`` (over ``StreamMaxLength``); ``OSError`` when ``path`` cannot be read.
    """

    def __init__(
        self, url: str, *, connect_timeout: float = 5.0, timeout: float = 120.0, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        self.url = url
        #: (host, port) for TCP, the socket's path for a unix socket.
        self._address: tuple[str, int] | str
        parts = urlsplit(url)
        if parts.scheme == "tcp" and parts.hostname and parts.port:
            self._address = (parts.hostname, parts.port)
        elif parts.scheme == "unix" and parts.path and not parts.netloc:
            self._address = parts.path
        else:
            raise ValueError(f"{url!r} is not a clamd address such as tcp://127.0.0.1:3310 or unix:///run/clamd.sock")
        if chunk_bytes < 1:
            raise ValueError("chunk_bytes must be positive")
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.chunk_bytes = chunk_bytes

    def __repr__(self) -> str:
        return f"ClamdScanner({self.url!r})"

    async def ping(self) -> None:
        reply = await self._command(b"PING", None)
        if reply != "PONG":
            raise ScannerUnavailable(f"clamd at {self.url} answered PING with {reply!r}")

    async def scan_file(self, path: Path) -> ScanResult:
        with path.open("rb") as file:  # opened first: a missing file is the caller's error, not clamd's
            reply = await self._command(b"INSTREAM", file)
        return _verdict(reply, self.url)

    async def _command(self, command: bytes, file: BinaryIO | None) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                conn = await self._connect()
                try:
                    return await self._exchange(conn, command, file)
                finally:
                    conn.close()
        except TimeoutError as exc:
            raise ScannerUnavailable(f"clamd at {self.url} did not answer within {self.timeout:g}s") from exc
        except OSError as exc:
            raise ScannerUnavailable(f"clamd at {self.url}: {type(exc).__name__}: {exc}") from exc

    async def _connect(self) -> socket.socket:
        """A connected non-blocking socket. Plain sockets rather than asyncio streams: when clamd
        stops reading (size limit) our send fails, and a stream transport then drops the reply
        clamd already sent; the socket still lets us read it."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                targets: list[tuple[int, int, Any]]
                if isinstance(self._address, str):
                    targets = [(socket.AF_UNIX, 0, self._address)]
                else:
                    infos = await loop.getaddrinfo(*self._address, type=socket.SOCK_STREAM)
                    targets = [(family, proto, address) for family, _type, proto, _name, address in infos]
                error: OSError = OSError(f"{self.url} resolves to no address")
                for family, proto, address in targets:
                    conn = socket.socket(family, socket.SOCK_STREAM, proto)
                    conn.setblocking(False)
                    try:
                        await loop.sock_connect(conn, address)
                    except OSError as exc:
                        conn.close()
                        error = exc
                        continue
                    except BaseException:
                        conn.close()
                        raise
                    return conn
                raise error
        except TimeoutError as exc:
            raise ScannerUnavailable(f"cannot connect to clamd at {self.url} within {self.connect_timeout:g}s") from exc
        except OSError as exc:
            raise ScannerUnavailable(f"cannot connect to clamd at {self.url}: {exc}") from exc

    async def _exchange(self, conn: socket.socket, command: bytes, file: BinaryIO | None) -> str:
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(conn, b"z" + command + b"\0")
        if file is not None:
            try:
                while chunk := await asyncio.to_thread(file.read, self.chunk_bytes):
                    # sock_sendall returns once the kernel took the bytes: one chunk in memory at a time.
                    await loop.sock_sendall(conn, struct.pack(">I", len(chunk)) + chunk)
                await loop.sock_sendall(conn, struct.pack(">I", 0))
            except (BrokenPipeError, ConnectionResetError):
                # clamd stops reading and closes once the stream passes StreamMaxLength, after
                # writing its reply, which is still ours to read; with no reply we report the drop.
                pass
        reply = bytearray()
        while b"\0" not in reply and len(reply) < _MAX_REPLY_BYTES:
            data = await loop.sock_recv(conn, 1024)
            if not data:
                break
            reply.extend(data)
        text = bytes(reply).split(b"\0", 1)[0].decode("utf-8", "replace").strip()
        if not text:
            raise ScannerUnavailable(f"clamd at {self.url} closed the connection without answering")
        return text[:_MAX_REPLY_BYTES]


def _verdict(reply: str, url: str) -> ScanResult:
    if reply == "stream: OK":
        return ScanResult(infected=False)
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        signature = reply[len("stream: ") : -len(" FOUND")]
        if signature.startswith(_LIMIT_ALERT):
            raise ScanTooLarge(f"the file exceeds {signature[len(_LIMIT_ALERT) :]} of clamd at {url}")
        return ScanResult(infected=True, signature=signature)
    if reply.startswith("INSTREAM size limit exceeded"):
        raise ScanTooLarge(f"the file exceeds StreamMaxLength of clamd at {url}")
    raise ScannerUnavailable(f"clamd at {url} could not scan: {reply}")


def create_scanner(url: str, *, timeout: float = 120.0) -> ClamdScanner | None:
    """The process's scanner: clamd at ``url``, or None when ``url`` is empty (no scanning)."""
    if not url:
        return None
    return ClamdScanner(url, timeout=timeout)
