"""The ``fastapp`` command: serve, db, config, openapi."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from fastapp.config import Config, load_config


def _config() -> Config:
    try:
        return load_config()
    except ValidationError as exc:
        lines = [f"  FASTAPP_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()]
        raise click.ClickException("invalid configuration:\n" + "\n".join(lines)) from exc


@click.group()
@click.version_option(package_name="fastapp")
def main() -> None:
    """FastApp: run the server and manage the database and configuration."""


def _refuse_insecure(config: Config) -> None:
    problems = config.production_problems()
    if problems:
        click.echo("FastApp refuses to start in production with this configuration:", err=True)
        for line in problems:
            click.echo(f"  - {line}", err=True)
        click.echo("Set these variables (see docs/configuration.md) and start again.", err=True)
        sys.exit(2)


@main.command()
@click.option("--host", default=None, help="Address to bind (FASTAPP_HOST).")
@click.option("--port", type=int, default=None, help="Port to bind (FASTAPP_PORT).")
@click.option("--workers", type=int, default=None, help="Worker processes (FASTAPP_WORKERS).")
@click.option("--reload", is_flag=True, help="Restart on code changes (development only).")
def serve(host: str | None, port: int | None, workers: int | None, reload: bool) -> None:
    """Serve the app, applying database migrations first."""
    import uvicorn

    from fastapp.cli.database import upgrade_to_head
    from fastapp.cli.users import count_users

    config = _config()
    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    if overrides:
        config = config.model_copy(update={"http": config.http.model_copy(update=overrides)})
    _refuse_insecure(config)
    if reload and config.is_production:
        raise click.ClickException("--reload is for development; it is refused in production")
    for folder in ("files", "mail"):
        (config.app.var_dir / folder).mkdir(parents=True, exist_ok=True)
    revision = asyncio.run(upgrade_to_head(config))
    http = config.http
    url = f"http://{http.host}:{http.port}"
    click.echo(f"FastApp {config.app.env.value} mode · database at revision {revision}")
    click.echo(f"  Open {url}/ in your browser; the API is documented at {url}/api/docs")
    if config.is_sqlite:
        click.echo(f"  Embedded mode: data lives in {config.app.var_dir.resolve()} · stop with Ctrl+C")
        if asyncio.run(count_users(config)) == 0:
            click.echo("  No accounts yet. Create the first owner with:")
            click.echo("    uv run fastapp users create-admin --email you@example.com")
    uvicorn.run(
        "fastapp.app:app_from_env" if (reload or http.workers > 1) else _single_app(config),
        factory=reload or http.workers > 1,
        host=http.host,
        port=http.port,
        workers=None if reload else http.workers,
        reload=reload,
        proxy_headers=False,  # handled by the app, for FASTAPP_TRUSTED_PROXIES only
        server_header=False,
        access_log=False,
        log_config=None,
        lifespan="on",
    )


def _single_app(config: Config) -> Any:
    from fastapp.app import create_app

    return create_app(config)


@main.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("check")
def config_check() -> None:
    """Print the effective configuration (secrets redacted) and what production would refuse."""
    cfg = _config()
    click.echo(json.dumps(cfg.redacted(), indent=2, default=str))
    problems = cfg.production_problems()
    for line in problems:
        click.echo(f"problem: {line}", err=True)
    if problems:
        sys.exit(1)
    click.echo("configuration OK", err=True)


@main.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File to write; standard output when omitted.",
)
def openapi(output: Path | None) -> None:
    """Write the OpenAPI document of /api/v1."""
    from fastapp.api import create_api_app
    from fastapp.app import build_registry
    from fastapp.platform.context import Runtime

    document = create_api_app(Runtime(_config(), build_registry())).openapi()
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)


from fastapp.cli import audit as _audit  # noqa: E402  (the sub-command groups)
from fastapp.cli import database as _database  # noqa: E402
from fastapp.cli import keys as _keys  # noqa: E402
from fastapp.cli import privacy as _privacy  # noqa: E402
from fastapp.cli import users as _users  # noqa: E402
from fastapp.cli import worker as _worker  # noqa: E402

main.add_command(_audit.audit)
main.add_command(_database.db)
main.add_command(_keys.keys)
main.add_command(_privacy.privacy)
main.add_command(_users.users)
main.add_command(_worker.worker)
