"""Field encryption: AES-256-GCM under a key ring, a column type that uses it, and key rotation.

Sensitive columns are stored as ASCII tokens ``v1.<keyid>.<base64url(nonce + ciphertext + tag)>``.
The key id travels with every value, so a ring of several keys can decrypt old values while the
first (primary) key encrypts new ones; ``rotate`` then rewrites old values in place. Each value is
bound to a *context* (``"table.column"``) through GCM's associated data, so a ciphertext copied
into another column fails to decrypt instead of leaking there.

The ring is read from a setting (``keyid:base64url-32-byte-key`` entries, comma-separated, newest
first); in development a key file under ``var/`` is created on first use. Key material never
appears in ``repr()`` or in error messages, and decryption errors never contain plaintext.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, MetaData, Table, Text, func, literal, select, type_coerce, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
DEV_KEY_FILE = "encryption.keys"

_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class DecryptionError(Exception):
    """A value could not be decrypted: malformed, unknown key id, tampered, or wrong context."""


class KeyRing:
    """Named AES-256 keys; the first encrypts, every key decrypts. Immutable.

    Raises ``ValueError`` when built from no keys, a malformed or duplicate key id, or a key that
    is not 32 bytes; messages name entries by position or key id, never by their material.
    """

    __slots__ = ("_keys", "_primary")

    def __init__(self, entries: Sequence[tuple[str, bytes]]) -> None:
        keys: dict[str, AESGCM] = {}
        for position, (key_id, key) in enumerate(entries, start=1):
            if not _KEY_ID.fullmatch(key_id):
                raise ValueError(f"encryption keys: entry {position} has an invalid key id (1-16 of A-Z a-z 0-9 _ -)")
            if key_id in keys:
                raise ValueError(f"encryption keys: key id {key_id!r} appears more than once")
            if len(key) != KEY_BYTES:
                raise ValueError(f"encryption keys: key {key_id!r} is {len(key)} bytes; it must be {KEY_BYTES}")
            keys[key_id] = AESGCM(key)
        if not keys:
            raise ValueError("encryption keys: at least one keyid:key entry is required")
        self._keys = keys
        self._primary = next(iter(keys))

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """The ring for ``keyid:base64url-key`` entries separated by commas (blank entries skipped)."""
        entries: list[tuple[str, bytes]] = []
        for position, raw in enumerate((part.strip() for part in text.split(",") if part.strip()), start=1):
            key_id, sep, material = raw.partition(":")
            if not sep:
                raise ValueError(f"encryption keys: entry {position} is not in the form keyid:base64url-key")
            try:
                key = _b64decode(material.strip())
            except ValueError:
                raise ValueError(f"encryption keys: entry {position} has a key that is not base64url") from None
            entries.append((key_id.strip(), key))
        return cls(entries)

    @staticmethod
    def generate_key_entry(key_id: str | None = None) -> str:
        """A new ``keyid:key`` entry with a random key; the id defaults to ``YYYYMMDD-xxxx``.

        Raises ``ValueError`` when ``key_id`` is not 1-16 characters of ``A-Z a-z 0-9 _ -``.
        """
        key_id = key_id or f"{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(2)}"
        if not _KEY_ID.fullmatch(key_id):
            raise ValueError("key id must be 1-16 characters of A-Z a-z 0-9 _ -")
        return f"{key_id}:{_b64encode(secrets.token_bytes(KEY_BYTES))}"

    @property
    def primary_key_id(self) -> str:
        return self._primary

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every key id, primary first."""
        return tuple(self._keys)

    def __repr__(self) -> str:
        return f"KeyRing(primary={self._primary!r}, key_ids={list(self._keys)!r})"

    __str__ = __repr__

    def encrypt(self, plaintext: str, *, context: str) -> str:
        """The token for ``plaintext`` under the primary key, bound to ``context``; fresh nonce each call."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._primary].encrypt(nonce, plaintext.encode(), _aad(context))
        return f"{VERSION}.{self._primary}.{_b64encode(nonce + sealed)}"

    def decrypt(self, token: str, *, context: str) -> str:
        """The plaintext of ``token``.

        Raises ``DecryptionError`` when the token is malformed, its key id is not in the ring
        (the message names the id), or it was tampered with or encrypted for another context.
        """
        key_id, data = _split(token)
        key = self._keys.get(key_id)
        if key is None:
            raise DecryptionError(f"value was encrypted under key {key_id!r}, which is not in the key ring")
        try:
            blob = _b64decode(data)
        except ValueError:
            raise DecryptionError("not an encrypted value: payload is not base64url") from None
        if len(blob) < NONCE_BYTES + TAG_BYTES or _b64encode(blob) != data:
            raise DecryptionError(f"cannot decrypt value under key {key_id!r}: tampered or wrong context")
        try:
            plain = key.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(context))
        except InvalidTag:
            raise DecryptionError(f"cannot decrypt value under key {key_id!r}: tampered or wrong context") from None
        return plain.decode()

    def needs_rotation(self, token: str) -> bool:
        """Whether ``token`` is under a key other than the primary; ``DecryptionError`` if malformed."""
        return key_id_of(token) != self._primary


def key_id_of(token: str) -> str:
    """The key id stored in ``token``; raises ``DecryptionError`` when it is not a token."""
    return _split(token)[0]


def _split(token: str) -> tuple[str, str]:
    # Never echo the token: a malformed "token" may be a plaintext that was never encrypted.
    version, _, rest = token.partition(".")
    key_id, _, data = rest.partition(".")
    if version != VERSION or not _KEY_ID.fullmatch(key_id) or not data:
        raise DecryptionError(f"not an encrypted value (expected {VERSION}.<keyid>.<data>)")
    return key_id, data


def _aad(context: str) -> bytes:
    return f"fastapp-field:{VERSION}:{context}".encode()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    """Strict base64url, padding optional; raises ``ValueError`` otherwise."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    bare = text.rstrip("=")
    return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))


def keyring_from_setting(value: str) -> KeyRing:
    """The ring for the production setting (``FASTAPP_ENCRYPTION_KEYS``); ``ValueError`` when invalid or empty."""
    return KeyRing.parse(value)


def load_or_create_dev_keyring(var_dir: Path) -> KeyRing:
    """The ring in ``var_dir/encryption.keys``, creating the file (mode 0600) with one new key if absent.

    For development only: the caller should log a warning, since the key lives beside the data it
    protects. The file holds entries separated by commas or newlines. Raises ``ValueError`` when the
    existing file holds no valid ring.
    """
    path = var_dir / DEV_KEY_FILE
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return KeyRing.parse(",".join(path.read_text(encoding="ascii").split()))
    entry = KeyRing.generate_key_entry()
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(entry + "\n")
    return KeyRing.parse(entry)


def select_keyring(setting: str, *, var_dir: Path, production: bool) -> KeyRing:
    """The ring from ``setting`` when set; else the development key file, refused in production.

    Raises ``ValueError`` when the setting is invalid, or empty in production. An empty setting
    outside production means the development file is used: the caller should log a warning.
    """
    if setting.strip():
        return keyring_from_setting(setting)
    if production:
        raise ValueError("encryption keys: FASTAPP_ENCRYPTION_KEYS must be set in production")
    return load_or_create_dev_keyring(var_dir)


# The column type needs the ring at bind and result time, when SQLAlchemy hands it only the value
# and the dialect. Passing the ring through every service call would spread key handling across
# the code base, so the process holds one active ring, installed by the app's lifespan (and by the
# CLI) before any query. The cost is one piece of module-global state (STYLE.md 4): tests install
# and reset it, and a process serves one configuration, hence one ring.
_active: KeyRing | None = None


def set_active_keyring(ring: KeyRing | None) -> None:
    """Install the ring ``EncryptedString`` columns use in this process; ``None`` uninstalls it."""
    global _active
    _active = ring


def active_keyring() -> KeyRing:
    """The installed ring; raises ``RuntimeError`` when none is installed."""
    if _active is None:
        raise RuntimeError("no encryption key ring installed: call set_active_keyring() at start-up")
    return _active


class EncryptedString(TypeDecorator[str]):
    """A text column stored encrypted under the active key ring, bound to ``context``.

    ``context`` (conventionally ``"table.column"``) is fixed for the life of the data: renaming the
    column keeps it, changing it makes stored values undecryptable. Values are not searchable:
    every encryption uses a fresh nonce, so ``column == value`` never matches. ``None`` stays NULL.
    """

    impl = Text
    cache_ok = True  # the ring is looked up per call, so the context alone identifies the type

    def __init__(self, context: str) -> None:
        if not context:
            raise ValueError("EncryptedString needs a context such as 'table.column'")
        super().__init__()
        self.context = context

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else active_keyring().encrypt(value, context=self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else active_keyring().decrypt(value, context=self.context)


class EncryptedColumn(NamedTuple):
    """A column to rotate: its table, the table's single-column primary key, and its context."""

    table: Table
    pk: Column[Any]
    column: Column[Any]
    context: str


def encrypted_columns(metadata: MetaData) -> list[EncryptedColumn]:
    """Every ``EncryptedString`` column in ``metadata``; ``ValueError`` if its table's key is not one column."""
    found: list[EncryptedColumn] = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, EncryptedString):
                pks = list(table.primary_key.columns)
                if len(pks) != 1:
                    raise ValueError(f"{table.name}.{column.name}: rotation needs a single-column primary key")
                found.append(EncryptedColumn(table, pks[0], column, column.type.context))
    return found


async def rotate(
    engine: AsyncEngine,
    ring: KeyRing,
    targets: Sequence[tuple[Table, Column[Any], Column[Any], str]],
    *,
    batch_size: int = 500,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-encrypt under the primary key every value of ``targets`` that is under another key.

    Rows are read in primary-key order, ``batch_size`` at a time, each batch in its own transaction,
    so an interrupted run resumes where it stopped and values already under the primary key are
    never written. A value changed by someone else meanwhile is left alone. ``progress(done, total)``
    is called once before starting and after each batch. Returns how many values were rewritten.
    Raises ``DecryptionError`` (naming table, column and key) when a value cannot be decrypted;
    batches before it stay committed.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    prefix = f"{VERSION}.{ring.primary_key_id}."
    # Raw tokens: the columns may be EncryptedString, whose processing must not apply here.
    raws = [type_coerce(column, Text()) for _, _, column, _ in targets]
    # substr rather than LIKE: LIKE is case-insensitive on SQLite, and key ids are case-sensitive.
    stale = [raw.is_not(None) & (func.substr(raw, 1, len(prefix), type_=Text()) != prefix) for raw in raws]
    async with engine.connect() as conn:
        total = 0
        for (table, *_), where in zip(targets, stale, strict=True):
            total += (await conn.scalar(select(func.count()).select_from(table).where(where))) or 0
    done = rewritten = 0
    if progress:
        progress(done, total)
    for (table, pk, column, context), raw, where in zip(targets, raws, stale, strict=True):
        last: Any = None
        while True:
            query = select(pk, raw).where(where).order_by(pk).limit(batch_size)
            if last is not None:
                query = query.where(pk > last)
            async with engine.begin() as conn:
                rows = (await conn.execute(query)).all()
                for key, token in rows:
                    fresh = _reencrypt(ring, token, context, f"{table.name}.{column.name} ({pk.name}={key!r})")
                    change = update(table).where(pk == key, raw == token).values({column: literal(fresh, Text())})
                    rewritten += (await conn.execute(change)).rowcount
            if not rows:
                break
            last = rows[-1][0]
            done += len(rows)
            if progress:
                progress(done, total)
    return rewritten


def _reencrypt(ring: KeyRing, token: str, context: str, where: str) -> str:
    try:
        return ring.encrypt(ring.decrypt(token, context=context), context=context)
    except DecryptionError as exc:
        raise DecryptionError(f"{where}: {exc}") from None
