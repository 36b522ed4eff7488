"""Run a command's work against the configured database, with the app's runtime started."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from fastapp.platform.context import Context, Runtime
from fastapp.platform.errors import DomainError

T = TypeVar("T")


def run_in_context(work: Callable[[Runtime, Context], Awaitable[T]]) -> T:
    """Migrate, start the runtime, run ``work`` in one transaction, stop. Domain errors exit with
    their message."""
    from fastapp.app import new_runtime, start, stop
    from fastapp.cli import _config
    from fastapp.cli.database import upgrade_to_head
    from fastapp.platform.context import open_context

    async def go() -> T:
        config = _config()
        await upgrade_to_head(config)
        runtime = new_runtime(config)
        await start(runtime)
        try:
            async with open_context(runtime, request_id="cli", ip=None) as ctx:
                return await work(runtime, ctx)
        finally:
            await stop(runtime)

    try:
        return asyncio.run(go())
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
