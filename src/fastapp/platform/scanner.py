"""Virus scanning: one ``Scanner`` Protocol; ClamAV ``clamd`` in production, none by default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["ScanResult", "Scanner", "ScannerUnavailable"]


@dataclass(frozen=True)
class ScanResult:
    """What the scanner found: ``signature`` names the threat when the file is infected."""

    infected: bool
    signature: str | None = None


class ScannerUnavailable(Exception):
    """The scanner could not be reached or did not answer: scan again later."""


class Scanner(Protocol):
    async def scan_file(self, path: Path) -> ScanResult:
        """Scan the local file ``path`` (streamed to the scanner, never read whole);
        ``ScannerUnavailable`` when the scanner cannot answer."""
        ...

    async def ping(self) -> None:
        """Return when the scanner answers; ``ScannerUnavailable`` otherwise."""
        ...
