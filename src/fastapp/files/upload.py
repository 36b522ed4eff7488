"""The upload pipeline's first half: stream a multipart body to a temporary file under a hard
size limit, then decide what the bytes really are and whether the purpose accepts them.

Nothing here holds a whole file in memory: the body is parsed as it arrives (python-multipart's
streaming parser) and written to disk, hashing as it goes; sniffing reads the head of the file
and, for text, streams the rest through an incremental decoder.
"""

from __future__ import annotations

import asyncio
import codecs
import hashlib
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, ClassVar

import filetype  # type: ignore[import-untyped]  # ships no type information
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from fastapp.platform.errors import DomainError, Invalid, PayloadTooLarge

#: Room for the multipart framing (boundaries, part headers, the ``purpose`` field) on top of
#: the file itself: the body limit of the upload routes is the file limit plus this.
MULTIPART_OVERHEAD = 64 * 1024
#: Names are cut to this many characters (extension kept): well under every filesystem's 255 bytes.
MAX_NAME = 120
_FIELD_LIMIT = 1024  # bytes of a non-file form field (``purpose``)
_FIELD_COUNT = 8
_HEAD = 8192  # bytes read to sniff a binary type
_TEXT_SCAN = 64 * 1024  # bytes of a text file searched for markup

PNG, JPEG, WEBP, GIF = "image/png", "image/jpeg", "image/webp", "image/gif"
PDF, TEXT, CSV = "application/pdf", "text/plain", "text/csv"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"

#: Every type the pipeline can recognise, with its accepted extensions (the first is canonical).
EXTENSIONS: dict[str, tuple[str, ...]] = {
    PNG: (".png",),
    JPEG: (".jpg", ".jpeg"),
    WEBP: (".webp",),
    GIF: (".gif",),
    PDF: (".pdf",),
    TEXT: (".txt", ".text", ".log", ".md"),
    CSV: (".csv",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
    PPTX: (".pptx",),
}
IMAGE_TYPES = frozenset({PNG, JPEG, WEBP, GIF})
#: What each purpose accepts. ``document`` is the default purpose.
PURPOSES: dict[str, frozenset[str]] = {
    "avatar": IMAGE_TYPES,
    "document": frozenset({PDF, TEXT, CSV, DOCX, XLSX, PPTX}) | IMAGE_TYPES,
}
DEFAULT_PURPOSE = "document"
#: Declared types browsers and tools send for the same thing.
_ALIASES = {
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "image/x-png": PNG,
    "text/x-markdown": TEXT,
    "text/markdown": TEXT,
    "application/csv": CSV,
    "text/comma-separated-values": CSV,
    "application/vnd.ms-excel": CSV,  # what Windows browsers declare for .csv
}
#: Declared types that say nothing (the server must sniff anyway).
_UNINFORMATIVE = frozenset({"", "application/octet-stream", "binary/octet-stream"})
#: The start of markup a browser could render as a page: refused inside any accepted file's head
#: (polyglots such as GIF/HTML) and anywhere in the first 64 KiB of a text file.
_MARKUP = re.compile(
    rb"<\s*(?:!doctype\s+html|html|head|body|script|iframe|object|embed|svg|meta|img|a\s|style|xml|\?xml)",
    re.IGNORECASE,
)
_OFFICE_ROOTS = {"word/": DOCX, "xl/": XLSX, "ppt/": PPTX}
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])$", re.IGNORECASE)
_UNSAFE_CHARS = re.compile(r'[<>:"/\\|?*]')


class UnsupportedFileType(DomainError):
    """The content is not one of the types this purpose accepts."""

    status = 415
    problem_type = "unsupported-media-type"
    title = "Unsupported file type"


@dataclass
class ReceivedUpload:
    """A file part streamed to ``path`` (a temporary file the caller must ``discard``)."""

    path: Path
    filename: str
    declared_type: str
    size: int
    sha256: str
    purpose: str = DEFAULT_PURPOSE
    #: Other temporary files made from this one (re-encoded image, thumbnail), removed with it.
    extra_paths: list[Path] = field(default_factory=list)

    def discard(self) -> None:
        """Remove the temporary files; safe to call twice."""
        for path in [self.path, *self.extra_paths]:
            path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Checked:
    """What validation decided: the sniffed type and the sanitized name that goes with it."""

    content_type: str
    name: str

    @property
    def is_image(self) -> bool:
        return self.content_type in IMAGE_TYPES


# -- receiving ------------------------------------------------------------------------------------


def refuse_declared_length(content_length: str | None, max_bytes: int) -> None:
    """Raise 413 when the declared body cannot hold a file within the limit, before any byte is read."""
    if content_length is not None and content_length.isdigit() and int(content_length) > max_bytes + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(too_large_message(max_bytes))


def too_large_message(max_bytes: int) -> str:
    return f"The file is larger than the upload limit of {_human(max_bytes)}."


class _Receiver:
    """python-multipart callbacks: the ``file`` part to disk (hashed), small fields to memory."""

    _PART_LIMIT: ClassVar[int] = _FIELD_COUNT + 1

    def __init__(self, *, max_bytes: int, tmp_dir: Path | None) -> None:
        self.max_bytes = max_bytes
        self.tmp_dir = tmp_dir
        self.fields: dict[str, str] = {}
        self.file: ReceivedUpload | None = None
        self._out: IO[bytes] | None = None
        self._hash = hashlib.sha256()
        self._parts = 0
        self._headers: dict[str, bytes] = {}
        self._header_name = b""
        self._header_value = b""
        self._name = ""
        self._value = bytearray()
        self._in_file = False

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self.part_begin,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
        }

    def part_begin(self) -> None:
        self._parts += 1
        if self._parts > self._PART_LIMIT:
            raise Invalid("The form has too many fields.")
        self._headers, self._value, self._in_file = {}, bytearray(), False

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        # Values stay bytes: browsers send file names as raw UTF-8, which a str round trip
        # through python-multipart's latin-1 parsing would garble.
        self._headers[self._header_name.decode("latin-1").lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def headers_finished(self) -> None:
        _kind, options = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file" and b"filename" in options:
            if self.file is not None:
                raise Invalid("Send one file per upload.", fields={"file": "Send one file per upload."})
            self._in_file = True
            handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in part_end / abort
                prefix="upload-", dir=self.tmp_dir, delete=False
            )
            self._out = handle
            self._hash = hashlib.sha256()
            declared = self._headers.get("content-type", b"").decode("latin-1").split(";")[0].strip().lower()
            self.file = ReceivedUpload(
                path=Path(handle.name),
                filename=options[b"filename"].decode("utf-8", "replace"),
                declared_type=declared,
                size=0,
                sha256="",
            )

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._in_file and self.file is not None and self._out is not None:
            self.file.size += len(chunk)
            if self.file.size > self.max_bytes:
                # Stop the moment the limit is passed: nothing more is read or written.
                raise PayloadTooLarge(too_large_message(self.max_bytes))
            self._hash.update(chunk)
            # A plain write: chunks are small and land in the page cache; a thread hop per
            # chunk would cost more than it saves.
            self._out.write(chunk)
        else:
            self._value += chunk
            if len(self._value) > _FIELD_LIMIT:
                raise Invalid(f"The form field {self._name!r} is too long.")

    def part_end(self) -> None:
        if self._in_file and self.file is not None and self._out is not None:
            self._out.close()
            self._out = None
            self.file.sha256 = self._hash.hexdigest()
            self._in_file = False
        elif self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    def abort(self) -> None:
        if self._out is not None:
            self._out.close()
        if self.file is not None:
            self.file.discard()


async def receive(
    body: AsyncIterator[bytes],
    *,
    content_type: str | None,
    content_length: str | None,
    max_bytes: int,
    tmp_dir: Path | None = None,
) -> ReceivedUpload:
    """Stream a ``multipart/form-data`` body (field ``file``, optional ``purpose``) to a
    temporary file; the caller owns it and must ``discard()`` it.

    Raises ``PayloadTooLarge`` (413) from ``content_length`` before reading and the moment the
    file passes ``max_bytes`` while reading; ``Invalid`` (422) for a body that is not multipart,
    has no file, an empty file or a malformed form.
    """
    refuse_declared_length(content_length, max_bytes)
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise Invalid(
            "Send the file as multipart/form-data with a field named file.", fields={"file": "No file was sent."}
        )
    receiver = _Receiver(max_bytes=max_bytes, tmp_dir=tmp_dir)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except DomainError:
        receiver.abort()
        raise
    except Exception as exc:  # python-multipart raises its own errors for malformed bodies
        receiver.abort()
        raise Invalid(f"The upload could not be read: {exc}") from exc
    upload = receiver.file
    if upload is None or upload.sha256 == "":
        receiver.abort()
        raise Invalid("Choose a file to upload.", fields={"file": "No file was sent."})
    if upload.size == 0:
        upload.discard()
        raise Invalid("The file is empty.", fields={"file": "The file is empty."})
    upload.purpose = receiver.fields.get("purpose", "").strip() or DEFAULT_PURPOSE
    return upload


# -- names ----------------------------------------------------------------------------------------


def sanitize_name(raw: str, *, content_type: str | None = None) -> str:
    """A display name safe everywhere: no folders (``../../etc/passwd`` -> ``passwd``), no
    control or path characters, no reserved Windows device names, at most ``MAX_NAME``
    characters with the extension kept. With ``content_type``, the extension is made one of the
    type's (the canonical one is added when missing)."""
    name = unicodedata.normalize("NFC", raw)
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = _UNSAFE_CHARS.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip().strip(".").strip()
    stem, ext = os.path.splitext(name)
    ext = ext.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,10}", ext):
        stem, ext = name, ""
    if content_type is not None:
        allowed = EXTENSIONS.get(content_type, ())
        if allowed and ext not in allowed:
            ext = allowed[0]
    stem = stem.strip() or "file"
    if _WINDOWS_RESERVED.match(stem.split(".")[0]):
        stem = f"_{stem}"
    return stem[: MAX_NAME - len(ext)].rstrip(" .") + ext


def extension_of(name: str) -> str:
    return os.path.splitext(name)[1].lower()


# -- sniffing and validation ----------------------------------------------------------------------


def sniff(path: Path, filename: str) -> str | None:
    """The type the content really is, or None when it is none this pipeline accepts.

    Binary types by their signature (``filetype``); Office files as zip containers holding
    ``[Content_Types].xml`` and their part folder; text as valid UTF-8 without NUL bytes (CSV when
    the name says so). Blocking: run it in a thread.
    """
    with path.open("rb") as handle:
        head = handle.read(_HEAD)
    kind = filetype.guess(head)
    mime: str | None = str(kind.mime) if kind is not None else None
    if mime in {PNG, JPEG, WEBP, GIF, PDF}:
        return mime
    if mime is not None and (mime == "application/zip" or mime in {DOCX, XLSX, PPTX}):
        return _office_type(path)
    if mime is not None:
        return None
    if _is_text(path):
        return CSV if extension_of(filename) == ".csv" else TEXT
    return None


def _office_type(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    for root, mime in _OFFICE_ROOTS.items():
        if any(n.startswith(root) for n in names):
            return mime
    return None


def _is_text(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    with path.open("rb") as handle:
        first = True
        while chunk := handle.read(64 * 1024):
            if first and chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
            first = False
            if b"\x00" in chunk:
                return False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def purposes_with(overrides: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """The built-in purposes with ``overrides`` (``FASTAPP_FILES_PURPOSES``) added or replacing
    them; ``ValueError`` for a type the pipeline cannot recognise."""
    found = dict(PURPOSES)
    for name, types in overrides.items():
        unknown = sorted(set(types) - set(EXTENSIONS))
        if unknown:
            raise ValueError(f"purpose {name!r}: unknown types {unknown}; known: {sorted(EXTENSIONS)}")
        found[name] = frozenset(types)
    return found


def check(upload: ReceivedUpload, purposes: Mapping[str, frozenset[str]] = PURPOSES) -> Checked:
    """Decide the file's type and name, or refuse it.

    Raises ``Invalid`` (422) for an unknown purpose, a declared type or an extension that
    contradicts the content, or markup inside the file (polyglots); ``UnsupportedFileType``
    (415) when the content is no type the purpose accepts. Blocking: run it in a thread.
    """
    accepted = purposes.get(upload.purpose)
    if accepted is None:
        choices = ", ".join(sorted(purposes))
        raise Invalid(f"Unknown purpose {upload.purpose!r}: use one of {choices}.", fields={"purpose": "Unknown."})
    sniffed = sniff(upload.path, upload.filename)
    if sniffed is None or sniffed not in accepted:
        what = _label(sniffed) if sniffed else "not a type we accept"
        allowed = ", ".join(sorted({_label(t) for t in accepted}))
        raise UnsupportedFileType(
            f"This file is {what}; for {upload.purpose} upload {allowed}.", fields={"file": "Unsupported file type."}
        )
    declared = _ALIASES.get(upload.declared_type, upload.declared_type)
    if declared not in _UNINFORMATIVE and declared != sniffed and not (declared == TEXT and sniffed == CSV):
        raise Invalid(
            f"The file was declared as {upload.declared_type} but its content is {_label(sniffed)}.",
            fields={"file": "The file's type does not match its content."},
        )
    ext = extension_of(sanitize_name(upload.filename))
    if ext and ext not in EXTENSIONS[sniffed]:
        raise Invalid(
            f"The file's name ends in {ext} but its content is {_label(sniffed)}.",
            fields={"file": "The file's extension does not match its content."},
        )
    _refuse_markup(upload.path, sniffed)
    return Checked(content_type=sniffed, name=sanitize_name(upload.filename, content_type=sniffed))


def _refuse_markup(path: Path, content_type: str) -> None:
    """Refuse HTML or script inside the file: a browser sniffing it (or an old one ignoring
    ``nosniff``) could run it. Binary files are searched in their head, text in its first 64 KiB."""
    with path.open("rb") as handle:
        head = handle.read(_TEXT_SCAN if content_type in {TEXT, CSV} else 1024)
    if _MARKUP.search(head):
        raise Invalid(
            "The file contains HTML or script markup, which is not accepted.",
            fields={"file": "The file contains markup."},
        )


_LABELS = {
    PNG: "a PNG image",
    JPEG: "a JPEG image",
    WEBP: "a WebP image",
    GIF: "a GIF image",
    PDF: "a PDF",
    TEXT: "plain text",
    CSV: "CSV",
    DOCX: "a Word document",
    XLSX: "an Excel workbook",
    PPTX: "a PowerPoint presentation",
}


def _label(content_type: str) -> str:
    return _LABELS.get(content_type, content_type)


def _human(size: int) -> str:
    if size >= 1024**2:
        return f"{size / 1024**2:.1f} MiB".replace(".0 ", " ")
    return f"{size:,} bytes"


async def receive_request(request: Request, *, max_bytes: int, tmp_dir: Path | None = None) -> ReceivedUpload:
    """``receive`` for a Starlette request (the pages' and the API's upload routes); the
    temporary file goes to ``tmp_dir`` (created when missing)."""
    if tmp_dir is not None:
        await asyncio.to_thread(tmp_dir.mkdir, parents=True, exist_ok=True)
    return await receive(
        request.stream(),
        content_type=request.headers.get("content-type"),
        content_length=request.headers.get("content-length"),
        max_bytes=max_bytes,
        tmp_dir=tmp_dir,
    )
