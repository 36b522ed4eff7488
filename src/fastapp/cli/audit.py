"""``fastapp audit``: check the audit log's hash chain, and purge events past retention."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from datetime import timedelta
from typing import TYPE_CHECKING

import click

from fastapp.cli.runtime import run_in_context
from fastapp.platform.context import Context, Runtime

if TYPE_CHECKING:
    from click._termui_impl import ProgressBar

    from fastapp.audit.services import Verification


@click.group()
def audit() -> None:
    """The audit log: verify its chain, purge old events."""


@audit.command("verify")
def verify_command() -> None:
    """Walk the hash chain; report the first broken link, or that every event verifies."""
    from fastapp.audit.chain import derive_key
    from fastapp.audit.services import verify
    from fastapp.cli import _config
    from fastapp.cli.database import upgrade_to_head
    from fastapp.platform.db import Database

    config = _config()

    async def go() -> Verification:
        await upgrade_to_head(config)
        db = Database.from_url(config.database_url)
        key = derive_key(config.app.secret_key.get_secret_value())
        with contextlib.ExitStack() as stack:
            bar: ProgressBar[int] | None = None

            def report(done: int, total: int) -> None:
                nonlocal bar
                if bar is None:
                    bar = stack.enter_context(click.progressbar(length=total, label="verifying", file=sys.stderr))
                bar.update(done - bar.pos)

            try:
                async with db.transaction() as session:
                    return await verify(session, key, progress=report)
            finally:
                await db.dispose()

    result = asyncio.run(go())
    if not result.ok:
        click.echo(f"Broken: {result.problem} ({result.checked} of {result.total} events verified before it).")
        sys.exit(1)
    click.echo(f"All {result.checked} events verify.")


@audit.command("purge")
@click.option("--days", type=int, default=None, help="Keep this many days (FASTAPP_AUDIT_RETENTION_DAYS).")
def purge_command(days: int | None) -> None:
    """Remove events past retention, leaving a checkpoint so the chain still verifies."""
    from fastapp.audit.services import purge

    async def work(runtime: Runtime, ctx: Context) -> tuple[int, str]:
        keep = days if days is not None else runtime.config.audit.retention_days
        if keep < 1:
            raise click.BadParameter("keep at least one day", param_hint="--days")
        before = ctx.clock.now() - timedelta(days=keep)
        return await purge(ctx, before=before), before.date().isoformat()

    removed, before = run_in_context(work)
    if removed:
        click.echo(f"Purged {removed} events from before {before}; a checkpoint event records what was removed.")
    else:
        click.echo(f"No events from before {before}.")
