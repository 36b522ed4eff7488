"""``fastapp keys``: generate prints a usable entry; rotate re-encrypts through the configured database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from pydantic import SecretStr
from sqlalchemy import Column, Integer, MetaData, Table, text

from fastapp.cli import keys as keys_module
from fastapp.cli.keys import encryption_keys_setting, keys
from fastapp.platform.crypto import EncryptedString, KeyRing, encrypted_columns, key_id_of, set_active_keyring
from fastapp.platform.db import create_engine

OLD = KeyRing.generate_key_entry("old")
NEW = KeyRing.generate_key_entry("new")


def test_generate_prints_one_entry_and_a_hint() -> None:
    result = CliRunner().invoke(keys, ["generate"])
    assert result.exit_code == 0, result.output
    entry = result.stdout.strip()
    ring = KeyRing.parse(entry)
    key_id, _, material = entry.partition(":")
    assert ring.primary_key_id == key_id
    assert "FASTAPP_ENCRYPTION_KEYS" in result.stderr
    assert f'"{key_id}:<key>,$FASTAPP_ENCRYPTION_KEYS"' in result.stderr
    assert material not in result.stderr


def test_generate_takes_a_key_id_and_refuses_a_bad_one() -> None:
    assert CliRunner().invoke(keys, ["generate", "--key-id", "2026q1"]).stdout.startswith("2026q1:")
    refused = CliRunner().invoke(keys, ["generate", "--key-id", "has space"])
    assert refused.exit_code == 2
    assert "--key-id" in refused.output


def test_rotate_with_no_encrypted_values_rewrites_nothing(var_dir: Path) -> None:
    result = CliRunner().invoke(keys, ["rotate"])
    assert result.exit_code == 0, result.output
    assert "rewrote 0 value(s)" in result.stdout
    assert "using the development key file" in result.stderr


def test_rotate_refuses_production_without_keys(var_dir: Path) -> None:
    result = CliRunner().invoke(keys, ["rotate"], env={"FASTAPP_ENV": "production"})
    assert result.exit_code == 1
    assert "FASTAPP_ENCRYPTION_KEYS must be set in production" in result.output
    assert not (var_dir / "encryption.keys").exists()


def test_rotate_uses_the_configured_keys_and_no_dev_file(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_module, "encryption_keys_setting", lambda _config: f"{NEW},{OLD}")
    result = CliRunner().invoke(keys, ["rotate"])
    assert result.exit_code == 0, result.output
    assert "development key file" not in result.stderr
    assert not (var_dir / "encryption.keys").exists()


def test_encryption_keys_setting_reads_the_security_section() -> None:
    config = SimpleNamespace(security=SimpleNamespace(encryption_keys=SecretStr(NEW)))
    assert encryption_keys_setting(config) == NEW  # type: ignore[arg-type]


def test_rotate_re_encrypts_discovered_columns(
    var_dir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    metadata = MetaData()
    notes = Table(
        "cli_notes",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("body", EncryptedString("cli_notes.body")),
    )

    async def seed() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
                set_active_keyring(KeyRing.parse(OLD))
                await conn.execute(notes.insert(), [{"id": i, "body": f"note {i}"} for i in range(3)])
        finally:
            set_active_keyring(None)
            await engine.dispose()

    async def stored() -> list[str]:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as conn:
                return [str(v) for v in await conn.scalars(text("SELECT body FROM cli_notes ORDER BY id"))]
        finally:
            await engine.dispose()

    asyncio.run(seed())
    var_dir.mkdir(parents=True, exist_ok=True)
    (var_dir / "encryption.keys").write_text(f"{NEW}\n{OLD}\n")  # FASTAPP_ENCRYPTION_KEYS is unset: the dev file
    monkeypatch.setattr(keys_module, "discover_targets", lambda: encrypted_columns(metadata))
    monkeypatch.setenv("FASTAPP_DATABASE_URL", database_url)

    result = CliRunner().invoke(keys, ["rotate", "--batch-size", "2"])

    assert result.exit_code == 0, result.output
    assert "rewrote 3 value(s) in 1 column(s); all are under key 'new'" in result.stdout
    assert "re-encrypting" in result.stderr
    assert [key_id_of(token) for token in asyncio.run(stored())] == ["new", "new", "new"]
    assert "rewrote 0 value(s)" in CliRunner().invoke(keys, ["rotate"]).stdout

    (var_dir / "encryption.keys").write_text(f"{KeyRing.generate_key_entry('other')}\n")
    failed = CliRunner().invoke(keys, ["rotate"])
    assert failed.exit_code == 1
    assert "'new', which is not in the key ring" in failed.output
