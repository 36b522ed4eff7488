"""``fastapp users``: create the first owner, list users, set a user's role."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from fastapp.cli.runtime import run_in_context
from fastapp.config import Config

T = TypeVar("T")


def _run(work: Callable[..., Awaitable[T]]) -> T:
    """Run ``work(accounts_service, ctx)`` in one transaction against the configured database."""
    from fastapp.accounts import wiring

    return run_in_context(lambda runtime, ctx: work(wiring.accounts(runtime, ctx), ctx))


async def count_users(config: Config) -> int:
    """How many accounts the (migrated) database holds."""
    from sqlalchemy import func, select

    from fastapp.accounts.models import User
    from fastapp.platform.db import Database

    db = Database.from_url(config.database_url)
    try:
        async with db.transaction() as session:
            return int(await session.scalar(select(func.count()).select_from(User)) or 0)
    finally:
        await db.dispose()


@click.group()
def users() -> None:
    """User accounts."""


@users.command("create-admin")
@click.option("--email", required=True, help="Email address of the new owner.")
@click.option("--name", "display_name", default="Administrator", show_default=True, help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else prompt).")
def create_admin(email: str, display_name: str, password_stdin: bool) -> None:
    """Create an active, verified owner: the first account of a new instance."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work(service, _ctx):  # type: ignore[no-untyped-def]
        return await service.create_owner(email=email, password=password, display_name=display_name)

    user = _run(work)
    click.echo(f"created owner {user.email} ({user.id})")


@users.command("list")
@click.option("--limit", default=50, show_default=True, help="How many users to show, newest first.")
def list_users(limit: int) -> None:
    """List users with their status and roles."""
    from sqlalchemy import select

    from fastapp.accounts.models import User

    async def work(_service, ctx):  # type: ignore[no-untyped-def]
        rows = await ctx.session.scalars(select(User).order_by(User.created_at.desc()).limit(limit))
        return [(u.email, u.display_name, u.status, ",".join(sorted(r.name for r in u.roles))) for u in rows]

    rows = _run(work)
    if not rows:
        click.echo("no users yet: create the first owner with `fastapp users create-admin --email ...`")
        return
    for email, name, status, roles in rows:
        click.echo(f"{email:40} {status:20} {roles:20} {name}")


@users.command("set-role")
@click.argument("email")
@click.argument("role")
def set_role(email: str, role: str) -> None:
    """Give the user EMAIL exactly the role ROLE (owner, admin, member, or a custom role)."""

    async def work(service, _ctx):  # type: ignore[no-untyped-def]
        user = await service.find_by_email(email)
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        await service.set_role(user, role, granter=None)
        return user

    user = _run(work)
    click.echo(f"{user.email} is now {role}")
