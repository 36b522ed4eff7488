"""``fastapp worker``: run jobs from the database queue until SIGTERM or Ctrl+C."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import click

from fastapp.config import Config

#: Connections a worker needs beside one per running job: a claim and the lease upkeep.
POOL_HEADROOM = 2


def worker_config(config: Config, concurrency: int | None = None) -> Config:
    """``config`` for a worker process: no second worker inside it, ``concurrency`` (default
    FASTAPP_JOBS_CONCURRENCY) jobs at a time, and a database pool with a connection for each of
    them plus ``POOL_HEADROOM`` (a smaller pool would open and close overflow connections all day).
    """
    slots = concurrency or config.jobs.concurrency
    jobs = config.jobs.model_copy(update={"in_process": False, "concurrency": slots})
    pool = max(config.database.pool_size, slots + POOL_HEADROOM)
    return config.model_copy(update={"jobs": jobs, "database": config.database.model_copy(update={"pool_size": pool})})


@click.command()
@click.option(
    "--queues", default=None, help="Comma-separated queues to take jobs from; default: every queue the app declares."
)
@click.option(
    "--concurrency", type=click.IntRange(1, 256), default=None, help="Jobs at a time (FASTAPP_JOBS_CONCURRENCY)."
)
@click.option(
    "--grace", type=float, default=30.0, show_default=True, help="Seconds running jobs get to finish on stop."
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve this process's Prometheus metrics on 127.0.0.1:PORT (/metrics).",
)
def worker(queues: str | None, concurrency: int | None, grace: float, metrics_port: int | None) -> None:
    """Run queued jobs. Stopping finishes running jobs for --grace seconds, then releases them.

    The database pool is sized to the concurrency (one connection per running job, one to claim,
    one to renew leases), so FASTAPP_DATABASE_POOL_SIZE only matters when it is larger.
    """
    from fastapp.app import AddonError, new_runtime, start, stop
    from fastapp.cli import _config, _refuse_insecure
    from fastapp.cli.database import upgrade_to_head
    from fastapp.platform.jobs import Worker, run_scheduler
    from fastapp.platform.metrics import metrics_of

    names = tuple(q.strip() for q in queues.split(",") if q.strip()) if queues is not None else ()
    if queues is not None and not names:
        raise click.BadParameter("name at least one queue", param_hint="--queues")
    config = _config()
    _refuse_insecure(config)
    config = worker_config(config, concurrency)
    jobs = config.jobs
    slots = jobs.concurrency
    try:
        runtime = new_runtime(config)
    except AddonError as exc:
        raise click.ClickException(str(exc)) from exc
    names = names or tuple(runtime.registry.queues)

    async def go() -> None:
        await upgrade_to_head(config)
        await start(runtime)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        running = Worker(
            runtime,
            runtime.registry.jobs,
            queues=names,
            concurrency=slots,
            lease=timedelta(seconds=jobs.lease_seconds),
            grace=grace,
        )
        click.echo(f"worker {running.ident} · queues {', '.join(names)} · {running.concurrency} at a time", err=True)
        try:
            await asyncio.gather(running.run(stopping), run_scheduler(runtime, stopping))
        finally:
            await stop(runtime)
        click.echo("worker stopped", err=True)

    server = None
    if metrics_port is not None:
        from prometheus_client import start_http_server

        try:
            # Loopback only and without a token: the scraper runs beside the worker (or reaches it
            # through a tunnel or sidecar), nothing else can.
            server, _thread = start_http_server(metrics_port, addr="127.0.0.1", registry=metrics_of(runtime).registry)
        except OSError as exc:
            raise click.ClickException(f"--metrics-port {metrics_port}: {exc.strerror or exc}") from exc
        click.echo(f"metrics at http://127.0.0.1:{metrics_port}/metrics", err=True)
    try:
        asyncio.run(go())
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
