"""``fastapp worker``: run jobs from the database queue until SIGTERM or Ctrl+C."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import click


@click.command()
@click.option("--queues", default="default", show_default=True, help="Comma-separated queues to take jobs from.")
@click.option("--concurrency", type=int, default=None, help="Jobs at a time (FASTAPP_JOBS_CONCURRENCY).")
@click.option(
    "--grace", type=float, default=30.0, show_default=True, help="Seconds running jobs get to finish on stop."
)
def worker(queues: str, concurrency: int | None, grace: float) -> None:
    """Run queued jobs. Stopping finishes running jobs for --grace seconds, then releases them."""
    from fastapp.app import new_runtime, start, stop
    from fastapp.cli import _config
    from fastapp.cli.database import upgrade_to_head
    from fastapp.platform.jobs import Worker, run_scheduler

    names = tuple(q.strip() for q in queues.split(",") if q.strip())
    if not names:
        raise click.BadParameter("name at least one queue", param_hint="--queues")
    config = _config()

    async def go() -> None:
        await upgrade_to_head(config)
        settings = config.jobs.model_copy(update={"in_process": False})  # this process is the worker
        runtime = new_runtime(config.model_copy(update={"jobs": settings}))
        await start(runtime)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        running = Worker(
            runtime,
            runtime.registry.jobs,
            queues=names,
            concurrency=concurrency or settings.concurrency,
            lease=timedelta(seconds=settings.lease_seconds),
            grace=grace,
        )
        click.echo(f"worker {running.ident} · queues {', '.join(names)} · {running.concurrency} at a time", err=True)
        try:
            await asyncio.gather(running.run(stopping), run_scheduler(runtime, stopping))
        finally:
            await stop(runtime)
        click.echo("worker stopped", err=True)

    asyncio.run(go())
