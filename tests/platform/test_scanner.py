"""``ClamdScanner`` against a real clamd (tests/clamd.py) over TCP and a unix socket."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from fastapp.app import create_app
from fastapp.config import Config, ScannerSettings
from fastapp.platform.scanner import (
    CHUNK_BYTES,
    SCANNER,
    ClamdScanner,
    Scanner,
    ScannerUnavailable,
    ScanResult,
    ScanTooLarge,
    create_scanner,
)
from tests.clamd import EICAR_SIGNATURE, Clamd, clamd, eicar, start_clamd
from tests.conftest import client_for, make_config, root_of, section_values

__all__ = ["clamd"]  # the fixture, imported for pytest

TRANSPORTS = ["tcp", "unix"]


def scanner_for(server: Clamd, transport: str) -> ClamdScanner:
    return ClamdScanner(server.tcp_url if transport == "tcp" else server.unix_url)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_eicar_is_detected_by_name(clamd: Clamd, transport: str, tmp_path: Path) -> None:
    scanner: Scanner = scanner_for(clamd, transport)
    result = await scanner.scan_file(write(tmp_path / "eicar.com", eicar()))
    assert result == ScanResult(infected=True, signature=EICAR_SIGNATURE)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_clean_file_passes(clamd: Clamd, transport: str, tmp_path: Path) -> None:
    result = await scanner_for(clamd, transport).scan_file(write(tmp_path / "notes.txt", b"nothing to see here\n"))
    assert result == ScanResult(infected=False)


async def test_an_empty_file_is_clean(clamd: Clamd, tmp_path: Path) -> None:
    assert await scanner_for(clamd, "tcp").scan_file(write(tmp_path / "empty", b"")) == ScanResult(infected=False)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_ping_answers(clamd: Clamd, transport: str) -> None:
    await scanner_for(clamd, transport).ping()


async def test_a_large_file_is_scanned(clamd: Clamd, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for _ in range(10 * 16):
            out.write(b"\x00" * 65_536)
    assert await scanner_for(clamd, "unix").scan_file(big) == ScanResult(infected=False)


async def test_a_large_file_is_sent_as_bounded_chunks(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for index in range(10 * 16):
            out.write(bytes([index % 251]) * 65_536)
    sizes: list[int] = []
    received = bytearray()

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readuntil(b"\0") == b"zINSTREAM\0"
        while (size := struct.unpack(">I", await reader.readexactly(4))[0]) != 0:
            sizes.append(size)
            received.extend(await reader.readexactly(size))
        writer.write(b"stream: OK\0")
        await writer.drain()
        writer.close()

    async with fake_server(record) as url:
        assert await ClamdScanner(url).scan_file(big) == ScanResult(infected=False)
    assert max(sizes) <= CHUNK_BYTES
    assert len(sizes) >= 10 * 1024 * 1024 // CHUNK_BYTES
    assert bytes(received) == big.read_bytes()


async def test_eicar_split_across_tiny_chunks_is_still_detected(clamd: Clamd, tmp_path: Path) -> None:
    scanner = ClamdScanner(clamd.tcp_url, chunk_bytes=7)  # 68 bytes arrive as ten chunks
    result = await scanner.scan_file(write(tmp_path / "eicar.com", eicar()))
    assert result.signature == EICAR_SIGNATURE


# 3 MB fits the socket buffers (clamd's reply waits for us); 24 MB makes our send fail first.
@pytest.mark.parametrize("megabytes", [3, 24])
async def test_over_stream_max_length_is_too_large_not_clean_nor_unavailable(megabytes: int, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for _ in range(megabytes):
            out.write(b"\x01" * 1024 * 1024)
    with start_clamd(stream_max_length="1M") as small:
        for url in (small.tcp_url, small.unix_url):
            with pytest.raises(ScanTooLarge, match="StreamMaxLength"):
                await ClamdScanner(url).scan_file(big)
        # Under the limit the same clamd still scans.
        assert (await ClamdScanner(small.tcp_url).scan_file(write(tmp_path / "e", eicar()))).infected


async def test_a_limit_alert_is_too_large_not_infected(tmp_path: Path) -> None:
    big = write(tmp_path / "big.bin", b"\x02" * (2 * 1024 * 1024))
    with start_clamd(options=["MaxFileSize 1M", "AlertExceedsMax yes"]) as limited:
        scanner = ClamdScanner(limited.unix_url)
        with pytest.raises(ScanTooLarge, match="exceeds MaxFileSize"):
            await scanner.scan_file(big)


async def test_a_stopped_clamd_is_unavailable_not_clean(tmp_path: Path) -> None:
    sample = write(tmp_path / "eicar.com", eicar())
    with start_clamd() as short_lived:
        scanners = [ClamdScanner(short_lived.tcp_url), ClamdScanner(short_lived.unix_url)]
        assert (await scanners[0].scan_file(sample)).infected
        short_lived.process.terminate()
        short_lived.process.wait(timeout=10)
        for scanner in scanners:
            with pytest.raises(ScannerUnavailable, match="cannot connect"):
                await scanner.scan_file(sample)
            with pytest.raises(ScannerUnavailable):
                await scanner.ping()


async def test_nothing_listening_is_unavailable(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sample = write(tmp_path / "clean.txt", b"hello")
    with pytest.raises(ScannerUnavailable, match="cannot connect"):
        await ClamdScanner(f"tcp://127.0.0.1:{port}").scan_file(sample)
    with pytest.raises(ScannerUnavailable, match="cannot connect"):
        await ClamdScanner(f"unix://{tmp_path / 'missing.sock'}").ping()


@asynccontextmanager
async def fake_server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A TCP server misbehaving the way a broken clamd (or something else on its port) would."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"tcp://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_silent_server_times_out_as_unavailable(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    async with fake_server(silent) as url:
        try:
            with pytest.raises(ScannerUnavailable, match="did not answer within"):
                await ClamdScanner(url, timeout=0.3).scan_file(write(tmp_path / "a", b"x" * 10))
        finally:
            release.set()


async def test_error_and_unexpected_replies_are_unavailable(tmp_path: Path) -> None:
    replies = iter([b"Can't allocate memory ERROR\0", b"HTTP/1.1 400 Bad Request\r\n\r\n", b""])

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readuntil(b"\0") == b"zINSTREAM\0"
        while (size := struct.unpack(">I", await reader.readexactly(4))[0]) != 0:
            await reader.readexactly(size)
        writer.write(next(replies))
        await writer.drain()
        writer.close()

    sample = write(tmp_path / "a", b"y" * 100)
    async with fake_server(answer) as url:
        scanner = ClamdScanner(url)
        with pytest.raises(ScannerUnavailable, match="could not scan: Can't allocate memory ERROR"):
            await scanner.scan_file(sample)
        with pytest.raises(ScannerUnavailable):
            await scanner.scan_file(sample)
        with pytest.raises(ScannerUnavailable):
            await scanner.scan_file(sample)


async def test_a_ping_answered_by_something_else_is_unavailable() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readuntil(b"\0") == b"zPING\0"
        writer.write(b"+OK redis?\0")
        await writer.drain()
        writer.close()

    async with fake_server(answer) as url:
        with pytest.raises(ScannerUnavailable, match="answered PING with '\\+OK redis\\?'"):
            await ClamdScanner(url).ping()


async def test_a_connection_reset_mid_scan_is_unavailable(tmp_path: Path) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(len(b"zINSTREAM\0") + 4 + 1000)
        writer.transport.abort()  # closing with unread data sends a reset

    async with fake_server(reset) as url:
        with pytest.raises(ScannerUnavailable):
            await ClamdScanner(url, chunk_bytes=1000).scan_file(write(tmp_path / "a", b"z" * 100_000))


async def test_a_missing_file_is_the_callers_error(clamd: Clamd, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await scanner_for(clamd, "tcp").scan_file(tmp_path / "gone")


@pytest.mark.parametrize(
    "url", ["", "clamd://host:3310", "tcp://host", "tcp://:3310", "unix://host/path", "http://127.0.0.1:3310"]
)
def test_bad_addresses_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not a clamd address"):
        ClamdScanner(url)


def test_chunks_are_not_empty() -> None:
    with pytest.raises(ValueError, match="chunk_bytes"):
        ClamdScanner("tcp://127.0.0.1:3310", chunk_bytes=0)


def test_create_scanner_is_none_without_url() -> None:
    assert create_scanner("") is None
    scanner = create_scanner("unix:///run/clamav/clamd.ctl", timeout=30)
    assert isinstance(scanner, ClamdScanner)
    assert scanner.timeout == 30
    assert repr(scanner) == "ClamdScanner('unix:///run/clamav/clamd.ctl')"


def with_scanner(config: Config, **values: object) -> Config:
    """``config`` with scanner settings of the test's own (validated, not read from the environment)."""
    scanner = ScannerSettings.model_construct(**section_values(ScannerSettings, values))
    return config.model_copy(update={"scanner": scanner})


async def test_the_app_builds_one_scanner(clamd: Clamd, tmp_path: Path, database_url: str) -> None:
    config = with_scanner(make_config(tmp_path, database_url), clamd_url=clamd.unix_url, clamd_timeout_seconds=30)
    app = create_app(config)
    scanner = root_of(app).state.runtime.services[SCANNER]
    assert isinstance(scanner, ClamdScanner)
    assert (scanner.url, scanner.timeout) == (clamd.unix_url, 30)


async def test_an_unreachable_clamd_keeps_the_app_ready(tmp_path: Path, database_url: str) -> None:
    """Uploads wait as pending while clamd is away: taking every instance out of the load
    balancer for it would turn a degraded feature into an outage."""
    config = with_scanner(make_config(tmp_path, database_url), clamd_url=f"unix://{tmp_path / 'none.sock'}")
    async with client_for(config) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert "clamd" not in response.json()["checks"]


@pytest.mark.parametrize("values", [{}, {"clamd_url": "tcp://127.0.0.1:3310", "virus_scanning": False}])
def test_no_scanner_without_url_or_when_turned_off(values: dict[str, object], tmp_path: Path) -> None:
    app = create_app(with_scanner(make_config(tmp_path), **values))
    runtime = root_of(app).state.runtime
    assert runtime.services[SCANNER] is None
    assert "clamd" not in runtime.registry.health_checks
