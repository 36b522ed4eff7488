"""The export's ZIP: ``README.md``, one pretty UTF-8 ``<key>.json`` per registered source of
personal data, and each source's files under ``files/<key>/``, streamed from the storage.

Only what the sources' exporters returned for the user goes in (they return nothing of another
user); the README is written from the registry's descriptions, so it names no one.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from fastapp.platform.privacy import ExportedData, PersonalData
from fastapp.platform.storage import Storage, StoredObjectMissing

README = "README.md"
FILES_FOLDER = "files"

FileProgress = Callable[[int, int], Awaitable[None]]
"""``async (done, total)``: called before each file is copied into the archive."""


def safe_name(name: str) -> str:
    """``name`` as a relative path that stays inside its folder of the archive: no empty,
    ``.`` or ``..`` segments, no backslashes or control characters."""
    cleaned = "".join("_" if ord(c) < 32 or c == "\\" else c for c in name)
    parts = [part for part in PurePosixPath(cleaned).parts if part not in {"", ".", "..", "/"}]
    return "/".join(parts) or "file"


def _unique(path: str, taken: set[str]) -> str:
    """``path``, or ``stem (2).ext`` and so on when an earlier file took it."""
    candidate, number = path, 1
    pure = PurePosixPath(path)
    while candidate in taken:
        number += 1
        candidate = str(pure.with_name(f"{pure.stem} ({number}){pure.suffix}"))
    taken.add(candidate)
    return candidate


def _readme(
    product: str,
    exported_at: datetime,
    sources: Sequence[PersonalData],
    files: Mapping[str, list[str]],
    missing: Sequence[str],
) -> str:
    lines = [
        f"# Your data from {product}",
        "",
        f"This archive is a copy of the personal data {product} keeps about you, made on "
        f"{exported_at:%Y-%m-%d %H:%M} UTC at your request (GDPR Articles 15 and 20: your rights of "
        "access and to data portability). Each JSON file holds one kind of data, in UTF-8, readable by "
        "any text editor and by other services.",
        "",
        "## Files",
        "",
        f"- `{README}`: this explanation.",
    ]
    for source in sources:
        lines += [
            f"- `{source.key}.json`: **{source.label}**. {source.description}",
            f"  - Why we keep it: {source.legal_basis}",
            f"  - How long we keep it: {source.retention}",
        ]
        if files.get(source.key):
            lines.append(f"  - Its files are in `{FILES_FOLDER}/{source.key}/` ({len(files[source.key])}).")
    if missing:
        lines += ["", "## Files that could not be included", ""]
        lines += [f"- `{path}`: its content was no longer in storage." for path in missing]
    lines += [
        "",
        "## Questions",
        "",
        f"To correct or delete this data, use the privacy page of your {product} account.",
        "",
    ]
    return "\n".join(lines)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n"


async def write_archive(
    path: Path,
    *,
    sources: Sequence[PersonalData],
    collected: Mapping[str, ExportedData],
    storage: Storage,
    product: str,
    exported_at: datetime,
    on_file: FileProgress | None = None,
) -> list[str]:
    """Write the ZIP to ``path``; the archive paths of files whose content was missing from the
    storage (they are listed in the README rather than failing the whole export)."""
    planned: dict[str, list[tuple[str, str]]] = {}
    taken: set[str] = set()
    for source in sources:
        exported = collected.get(source.key)
        folder = f"{FILES_FOLDER}/{source.key}"
        planned[source.key] = [
            (_unique(f"{folder}/{safe_name(item.name)}", taken), item.storage_key)
            for item in (exported.files if exported else ())
        ]
    total = sum(len(items) for items in planned.values())
    missing: list[str] = []
    copied: dict[str, list[str]] = {}
    done = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for source in sources:
            copied[source.key] = []
            for target, key in planned[source.key]:
                if on_file is not None:
                    await on_file(done, total)
                done += 1
                if await _copy(storage, key, archive, target):
                    copied[source.key].append(target)
                else:
                    missing.append(target)
        for source in sources:
            exported = collected.get(source.key)
            body = {
                "source": source.key,
                "label": source.label,
                "exported_at": exported_at.isoformat(),
                "records": {kind: [dict(row) for row in rows] for kind, rows in exported.records.items()}
                if exported
                else {},
                "files": copied[source.key],
            }
            archive.writestr(f"{source.key}.json", _json(body))
        archive.writestr(README, _readme(product, exported_at, sources, copied, missing))
    return missing


async def _copy(storage: Storage, key: str, archive: zipfile.ZipFile, target: str) -> bool:
    """Stream ``key`` into the archive as ``target``; False (and no entry) when it is missing."""
    chunks = storage.read(key)
    try:
        first = await anext(chunks)
    except StoredObjectMissing:
        return False
    except StopAsyncIteration:
        first = b""
    with archive.open(target, "w", force_zip64=True) as out:
        out.write(first)
        async for chunk in chunks:
            out.write(chunk)
    return True
