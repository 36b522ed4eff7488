"""``fastapp privacy``: the data map of what personal data is stored, where, why and how long."""

from __future__ import annotations

import sys
from pathlib import Path

import click

FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


@click.group()
def privacy() -> None:
    """Privacy (GDPR): the data map."""


@privacy.command("datamap")
@click.option("--check", "check", type=FILE, default=None, help="Exit 1 when this file's data map section is stale.")
@click.option("--write", "write", type=FILE, default=None, help="Replace this file's data map section.")
def datamap_command(check: Path | None, write: Path | None) -> None:
    """Print the data map (Markdown), generated from what every domain registered.

    With --check or --write, work on the section between <!-- datamap:start --> and
    <!-- datamap:end --> of a file instead (docs/privacy.md).
    """
    from fastapp.app import build_registry
    from fastapp.cli import _config
    from fastapp.privacy.datamap import datamap_markdown, generated_section, with_section

    config = _config()
    text = datamap_markdown(build_registry(config.app.addons), config)
    target = check or write
    if target is None:
        click.echo(text, nl=False)
        return
    document = target.read_text()
    if generated_section(document) is None:
        raise click.ClickException(f"{target} has no <!-- datamap:start --> ... <!-- datamap:end --> section")
    if write is not None:
        write.write_text(with_section(document, text))
        click.echo(f"wrote the data map into {write}", err=True)
    if check is not None:
        if generated_section(document) != text:
            click.echo(f"{check}: the data map is out of date; run: fastapp privacy datamap --write {check}", err=True)
            sys.exit(1)
        click.echo(f"{check}: the data map is up to date", err=True)
