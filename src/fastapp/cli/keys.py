"""``fastapp keys``: make field-encryption keys and re-encrypt stored values under the newest one.

Rotating a key: ``fastapp keys generate``; prepend the entry to FASTAPP_ENCRYPTION_KEYS, keeping
the old entries; restart every process so new values use it; then ``fastapp keys rotate``. When
rotate reports it is done, no stored value needs the old entries any more and they may go.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy import Column, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from fastapp.platform.crypto import (
    DecryptionError,
    EncryptedColumn,
    KeyRing,
    encrypted_columns,
    rotate,
    select_keyring,
)
from fastapp.platform.db import create_engine

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

    from fastapp.config import Config


def encryption_keys_setting(config: Config) -> str:
    """The value of FASTAPP_ENCRYPTION_KEYS, or ``""`` when unset."""
    return config.security.encryption_keys.get_secret_value()


def discover_targets() -> list[EncryptedColumn]:
    """Every ``EncryptedString`` column of every domain's tables."""
    from fastapp.app import metadata  # the composition root knows which domains, hence which tables

    return encrypted_columns(metadata())


async def run_rotate(
    engine: AsyncEngine,
    ring: KeyRing,
    targets: Sequence[tuple[Table, Column[Any], Column[Any], str]],
    *,
    batch_size: int = 500,
) -> int:
    """``rotate`` with a progress bar on stderr; returns how many values were rewritten.

    Raises ``DecryptionError`` when a stored value cannot be decrypted with ``ring``.
    """
    with contextlib.ExitStack() as stack:
        bar: ProgressBar[int] | None = None

        def report(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = stack.enter_context(click.progressbar(length=total, label="re-encrypting", file=sys.stderr))
            bar.update(done - bar.pos)

        return await rotate(engine, ring, targets, batch_size=batch_size, progress=report)


@click.group()
def keys() -> None:
    """Field-encryption keys: generate and rotate."""


def _cfg() -> Config:
    from fastapp.cli import _config

    return _config()


@keys.command()
@click.option("--key-id", default=None, help="Id of the new key (1-16 of A-Z a-z 0-9 _ -); default YYYYMMDD-xxxx.")
def generate(key_id: str | None) -> None:
    """Print a new random key entry for FASTAPP_ENCRYPTION_KEYS."""
    try:
        entry = KeyRing.generate_key_entry(key_id)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--key-id") from None
    click.echo(entry)
    new_id = entry.partition(":")[0]
    click.echo(
        "Keep it secret. Prepend it to FASTAPP_ENCRYPTION_KEYS, keeping the old entries so stored values\n"
        f'still decrypt:  FASTAPP_ENCRYPTION_KEYS="{new_id}:<key>,$FASTAPP_ENCRYPTION_KEYS"\n'
        "then restart every process and run `fastapp keys rotate`.",
        err=True,
    )


@keys.command("rotate")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True, help="Rows per transaction.")
def rotate_command(batch_size: int) -> None:
    """Re-encrypt every stored value that is not under the first key of FASTAPP_ENCRYPTION_KEYS.

    Safe to interrupt and run again: it continues with the values still under older keys.
    """
    config = _cfg()
    setting = encryption_keys_setting(config)
    try:
        ring = select_keyring(setting, var_dir=config.app.var_dir, production=config.is_production)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not setting.strip():
        click.echo("warning: FASTAPP_ENCRYPTION_KEYS is not set; using the development key file", err=True)
    targets = discover_targets()
    if not targets:
        click.echo("no encrypted columns; nothing to rotate")
        return

    async def go() -> int:
        from fastapp.cli.database import upgrade_to_head

        await upgrade_to_head(config)  # rotate the schema this version of FastApp knows
        engine = create_engine(config.database_url)
        try:
            return await run_rotate(engine, ring, targets, batch_size=batch_size)
        finally:
            await engine.dispose()

    try:
        count = asyncio.run(go())
    except DecryptionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"rewrote {count} value(s) in {len(targets)} column(s); all are under key {ring.primary_key_id!r}")
