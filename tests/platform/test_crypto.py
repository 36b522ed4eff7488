"""Field encryption: key ring parsing, the token format, the column type and rotation on a real database."""

from __future__ import annotations

import base64
import re
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from fastapp.platform.crypto import (
    DecryptionError,
    EncryptedColumn,
    EncryptedString,
    KeyRing,
    active_keyring,
    encrypted_columns,
    key_id_of,
    keyring_from_setting,
    load_or_create_dev_keyring,
    rotate,
    select_keyring,
    set_active_keyring,
)
from fastapp.platform.db import create_engine

OLD = KeyRing.generate_key_entry("old")
NEW = KeyRing.generate_key_entry("new")
OLD_MATERIAL = OLD.partition(":")[2]
NEW_MATERIAL = NEW.partition(":")[2]
SECRET = "Ada Lovelace, 12 St James's Square"


@pytest.fixture
def old_ring() -> KeyRing:
    return KeyRing.parse(OLD)


@pytest.fixture
def ring() -> KeyRing:
    """The ring after a key change: NEW encrypts, OLD still decrypts."""
    return KeyRing.parse(f"{NEW},{OLD}")


@pytest.fixture
def installed() -> Iterator[None]:
    """Tests install their ring with ``set_active_keyring``; this puts the process back as it was."""
    yield
    set_active_keyring(None)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


def people_table(metadata: MetaData | None = None) -> Table:
    return Table(
        "crypto_people",
        metadata or MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("email", EncryptedString("crypto_people.email"), nullable=True),
        Column("phone", EncryptedString("crypto_people.phone"), nullable=True),
        Column("label", String(50), nullable=True),
    )


async def create(engine: AsyncEngine, table: Table) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(table.metadata.create_all)


async def raw_values(engine: AsyncEngine, column: str) -> dict[int, str | None]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT id, {column} FROM crypto_people ORDER BY id"))
        return {row[0]: row[1] for row in rows}


# -- key ring ------------------------------------------------------------------------------------


def test_round_trip(ring: KeyRing) -> None:
    for plaintext in (SECRET, "", "ünïcødé ✓ 日本"):
        token = ring.encrypt(plaintext, context="t.c")
        assert ring.decrypt(token, context="t.c") == plaintext


def test_token_is_ascii_and_names_the_primary_key(ring: KeyRing) -> None:
    token = ring.encrypt(SECRET, context="t.c")
    assert re.fullmatch(r"v1\.new\.[A-Za-z0-9_-]+", token)
    assert key_id_of(token) == "new"
    assert not ring.needs_rotation(token)


def test_same_plaintext_encrypts_differently(ring: KeyRing) -> None:
    tokens = {ring.encrypt(SECRET, context="t.c") for _ in range(20)}
    assert len(tokens) == 20


def test_older_keys_still_decrypt_and_need_rotation(old_ring: KeyRing, ring: KeyRing) -> None:
    token = old_ring.encrypt(SECRET, context="t.c")
    assert ring.decrypt(token, context="t.c") == SECRET
    assert ring.needs_rotation(token)
    assert not old_ring.needs_rotation(token)


def test_wrong_context_fails(ring: KeyRing) -> None:
    token = ring.encrypt(SECRET, context="users.email")
    with pytest.raises(DecryptionError, match="tampered or wrong context"):
        ring.decrypt(token, context="users.phone")


@pytest.mark.parametrize("position", [8, 20, 40, -1])
def test_tampered_token_fails(ring: KeyRing, position: int) -> None:
    token = ring.encrypt(SECRET, context="t.c")
    swapped = "A" if token[position] != "A" else "B"
    tampered = token[:position] + swapped + (token[position + 1 :] if position != -1 else "")
    with pytest.raises(DecryptionError, match="tampered or wrong context") as caught:
        ring.decrypt(tampered, context="t.c")
    assert SECRET not in str(caught.value)


def test_truncated_token_fails(ring: KeyRing) -> None:
    token = ring.encrypt(SECRET, context="t.c")
    with pytest.raises(DecryptionError, match="tampered or wrong context"):
        ring.decrypt(token[:30], context="t.c")


def test_unknown_key_id_is_named(old_ring: KeyRing, ring: KeyRing) -> None:
    token = ring.encrypt(SECRET, context="t.c")
    with pytest.raises(DecryptionError, match=r"'new'.*not in the key ring"):
        old_ring.decrypt(token, context="t.c")


@pytest.mark.parametrize("token", [SECRET, "v2.new.AAAA", "v1..AAAA", "v1.new.", "v1.new.!!not-base64!!", "v1.new"])
def test_malformed_tokens_are_refused_without_being_echoed(ring: KeyRing, token: str) -> None:
    with pytest.raises(DecryptionError) as caught:
        ring.decrypt(token, context="t.c")
    assert token not in str(caught.value)


@pytest.mark.parametrize("token", [SECRET, "v2.new.AAAA", "v1..AAAA", "v1.new.", "v1.bad id.AAAA"])
def test_key_id_of_refuses_what_is_not_a_token(ring: KeyRing, token: str) -> None:
    with pytest.raises(DecryptionError, match=r"not an encrypted value \(expected v1.<keyid>.<data>\)"):
        key_id_of(token)
    with pytest.raises(DecryptionError):
        ring.needs_rotation(token)


def test_parse_keeps_order_and_tolerates_whitespace_and_padding() -> None:
    padded = "k2:" + base64.urlsafe_b64encode(b"\x01" * 32).decode()
    assert padded.endswith("=")
    ring = KeyRing.parse(f"  {NEW} ,\n{padded},{OLD}, ")
    assert ring.primary_key_id == "new"
    assert ring.key_ids == ("new", "k2", "old")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("", "at least one"),
        (" , ", "at least one"),
        (NEW_MATERIAL, "entry 1 is not in the form keyid:base64url-key"),
        (f"{NEW},bad id!:{OLD_MATERIAL}", "entry 2 has an invalid key id"),
        (f"{'x' * 17}:{OLD_MATERIAL}", "entry 1 has an invalid key id"),
        (f":{OLD_MATERIAL}", "entry 1 has an invalid key id"),
        (f"{NEW},new:{OLD_MATERIAL}", "key id 'new' appears more than once"),
        (f"short:{OLD_MATERIAL[:20]}", "key 'short' is 15 bytes; it must be 32"),
        (f"long:{OLD_MATERIAL}{OLD_MATERIAL}", "key 'long' is 64 bytes"),
        (f"b64:{OLD_MATERIAL[:-1]}+", "entry 1 has a key that is not base64url"),
        (f"b64:{OLD_MATERIAL[:41]}", "entry 1 has a key that is not base64url"),
    ],
)
def test_invalid_settings_are_refused_without_key_material(setting: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        keyring_from_setting(setting)
    for material in (OLD_MATERIAL, NEW_MATERIAL, OLD_MATERIAL[:20], OLD_MATERIAL[:41]):
        assert material not in str(caught.value)


def test_repr_and_str_never_reveal_keys(ring: KeyRing) -> None:
    for shown in (repr(ring), str(ring), f"{ring}"):
        assert shown == "KeyRing(primary='new', key_ids=['new', 'old'])"
    assert not hasattr(ring, "__dict__")  # no attribute that vars() could dump


def test_decryption_errors_never_contain_plaintext_or_keys(old_ring: KeyRing, ring: KeyRing) -> None:
    token = ring.encrypt(SECRET, context="a")
    messages = []
    for bad_ring, context in ((ring, "b"), (old_ring, "a")):
        with pytest.raises(DecryptionError) as caught:
            bad_ring.decrypt(token, context=context)
        messages.append(str(caught.value))
    for message in messages:
        for forbidden in (SECRET, OLD_MATERIAL, NEW_MATERIAL):
            assert forbidden not in message


def test_generated_entries_are_random_valid_and_dated() -> None:
    first, second = KeyRing.generate_key_entry(), KeyRing.generate_key_entry()
    assert first != second
    assert re.fullmatch(r"\d{8}-[0-9a-f]{4}:[A-Za-z0-9_-]{43}", first)
    assert KeyRing.parse(f"{first},{second}").key_ids == (first.split(":")[0], second.split(":")[0])
    assert KeyRing.generate_key_entry("2026q1").startswith("2026q1:")
    with pytest.raises(ValueError, match="key id must be"):
        KeyRing.generate_key_entry("no dots.")


# -- where the ring comes from -------------------------------------------------------------------


def test_dev_keyring_is_created_private_and_reused(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    ring = load_or_create_dev_keyring(var_dir)
    path = var_dir / "encryption.keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = ring.encrypt(SECRET, context="t.c")
    again = load_or_create_dev_keyring(var_dir)
    assert again.key_ids == ring.key_ids
    assert again.decrypt(token, context="t.c") == SECRET


def test_dev_key_file_may_hold_one_entry_per_line(tmp_path: Path) -> None:
    (tmp_path / "encryption.keys").write_text(f"{NEW}\n{OLD}\n")
    assert load_or_create_dev_keyring(tmp_path).key_ids == ("new", "old")


def test_select_keyring_prefers_the_setting_and_refuses_dev_keys_in_production(tmp_path: Path) -> None:
    assert select_keyring(f"{NEW},{OLD}", var_dir=tmp_path, production=True).key_ids == ("new", "old")
    with pytest.raises(ValueError, match="FASTAPP_ENCRYPTION_KEYS must be set in production"):
        select_keyring(" ", var_dir=tmp_path, production=True)
    assert not (tmp_path / "encryption.keys").exists()
    assert len(select_keyring("", var_dir=tmp_path, production=False).key_ids) == 1
    assert (tmp_path / "encryption.keys").exists()


# -- the column type -----------------------------------------------------------------------------


def test_column_type_needs_an_installed_ring(installed: None, ring: KeyRing) -> None:
    column_type = EncryptedString("t.c")
    with pytest.raises(RuntimeError, match="no encryption key ring installed"):
        column_type.process_bind_param("x", sqlite.dialect())
    set_active_keyring(ring)
    assert active_keyring() is ring
    assert column_type.process_bind_param(None, sqlite.dialect()) is None
    set_active_keyring(None)
    with pytest.raises(RuntimeError):
        active_keyring()


def test_column_type_cache_key_includes_the_context() -> None:
    with pytest.raises(ValueError, match="needs a context"):
        EncryptedString("")
    assert EncryptedString("a.b")._static_cache_key == EncryptedString("a.b")._static_cache_key
    assert EncryptedString("a.b")._static_cache_key != EncryptedString("a.c")._static_cache_key


async def test_column_round_trips_through_the_database(engine: AsyncEngine, ring: KeyRing, installed: None) -> None:
    set_active_keyring(ring)
    people = people_table()
    await create(engine, people)
    async with engine.begin() as conn:
        await conn.execute(people.insert(), [{"id": 1, "email": SECRET}, {"id": 2, "email": None}])
    stored = await raw_values(engine, "email")
    assert stored[2] is None
    assert stored[1] is not None
    assert stored[1].startswith("v1.new.")
    assert SECRET not in stored[1]
    async with engine.connect() as conn:
        values = dict((await conn.execute(select(people.c.id, people.c.email).order_by(people.c.id))).all())
    assert values == {1: SECRET, 2: None}


async def test_value_copied_to_another_column_does_not_decrypt(
    engine: AsyncEngine, ring: KeyRing, installed: None
) -> None:
    set_active_keyring(ring)
    people = people_table()
    await create(engine, people)
    async with engine.begin() as conn:
        await conn.execute(people.insert().values(id=1, email=SECRET))
        await conn.execute(text("UPDATE crypto_people SET phone = email"))
    async with engine.connect() as conn:
        assert await conn.scalar(select(people.c.email)) == SECRET
        with pytest.raises(DecryptionError, match="wrong context"):
            await conn.scalar(select(people.c.phone))


# -- rotation ------------------------------------------------------------------------------------


def targets_of(people: Table) -> list[EncryptedColumn]:
    return encrypted_columns(people.metadata)


def test_encrypted_columns_are_found_in_metadata() -> None:
    people = people_table()
    assert [(t.table.name, t.pk.name, t.column.name, t.context) for t in targets_of(people)] == [
        ("crypto_people", "id", "email", "crypto_people.email"),
        ("crypto_people", "id", "phone", "crypto_people.phone"),
    ]
    composite = MetaData()
    Table("pairs", composite, Column("a", Integer, primary_key=True), Column("b", Integer, primary_key=True))
    assert encrypted_columns(composite) == []
    Table(
        "composite",
        composite,
        Column("a", Integer, primary_key=True),
        Column("b", Integer, primary_key=True),
        Column("secret", EncryptedString("composite.secret")),
    )
    with pytest.raises(ValueError, match=r"composite\.secret: rotation needs a single-column primary key"):
        encrypted_columns(composite)


async def seed(engine: AsyncEngine, people: Table, old_ring: KeyRing, ring: KeyRing) -> dict[int, str]:
    """Five emails under OLD, two under NEW, and NULLs; returns every email by id."""
    emails = {i: f"person{i}@example.com" for i in range(1, 8)}
    await create(engine, people)
    for key_ring, ids in ((old_ring, range(1, 6)), (ring, range(6, 8))):
        set_active_keyring(key_ring)
        async with engine.begin() as conn:
            await conn.execute(people.insert(), [{"id": i, "email": emails[i], "label": f"#{i}"} for i in ids])
    async with engine.begin() as conn:
        await conn.execute(people.insert().values(id=8))
    return emails


async def test_rotation_rewrites_only_old_values_in_batches(
    engine: AsyncEngine, old_ring: KeyRing, ring: KeyRing, installed: None
) -> None:
    people = people_table()
    emails = await seed(engine, people, old_ring, ring)
    before = await raw_values(engine, "email")
    calls: list[tuple[int, int]] = []

    rewritten = await rotate(engine, ring, targets_of(people), batch_size=2, progress=lambda *a: calls.append(a))

    assert rewritten == 5
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]
    after = await raw_values(engine, "email")
    assert {i for i in after if after[i] != before[i]} == {1, 2, 3, 4, 5}
    assert after[8] is None
    assert all(key_id_of(v) == "new" for v in after.values() if v is not None)
    set_active_keyring(ring)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(people.c.id, people.c.email, people.c.label))).all()
    assert {i: email for i, email, _ in rows if email} == emails
    assert {label for *_, label in rows} == {f"#{i}" for i in range(1, 8)} | {None}


async def test_rotation_is_idempotent(engine: AsyncEngine, old_ring: KeyRing, ring: KeyRing, installed: None) -> None:
    people = people_table()
    await seed(engine, people, old_ring, ring)
    assert await rotate(engine, ring, targets_of(people)) == 5
    settled = await raw_values(engine, "email")
    calls: list[tuple[int, int]] = []
    assert await rotate(engine, ring, targets_of(people), progress=lambda *a: calls.append(a)) == 0
    assert calls == [(0, 0)]
    assert await raw_values(engine, "email") == settled


async def test_rotation_tells_key_ids_apart_by_case(engine: AsyncEngine, installed: None) -> None:
    """SQLite's LIKE ignores case; a value under 'K' must still count as not under 'k'."""
    upper_entry = KeyRing.generate_key_entry("K")
    upper, lower = KeyRing.parse(upper_entry), KeyRing.parse(f"{KeyRing.generate_key_entry('k')},{upper_entry}")
    people = people_table()
    await create(engine, people)
    set_active_keyring(upper)
    async with engine.begin() as conn:
        await conn.execute(people.insert().values(id=1, email=SECRET))
    assert await rotate(engine, lower, targets_of(people)) == 1
    assert key_id_of((await raw_values(engine, "email"))[1] or "") == "k"


async def test_rotation_stops_at_a_value_it_cannot_decrypt(
    engine: AsyncEngine, old_ring: KeyRing, installed: None
) -> None:
    people = people_table()
    await create(engine, people)
    set_active_keyring(old_ring)
    async with engine.begin() as conn:
        await conn.execute(people.insert().values(id=3, email=SECRET))
    only_new = KeyRing.parse(NEW)
    with pytest.raises(DecryptionError, match=r"crypto_people\.email \(id=3\): .*'old'.*not in the key ring"):
        await rotate(engine, only_new, targets_of(people))
    with pytest.raises(ValueError, match="batch_size"):
        await rotate(engine, only_new, targets_of(people), batch_size=0)
