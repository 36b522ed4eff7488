"""Driving every domain's registered personal data: collecting one user's export, running every
eraser for one user (``erase_user``), and checking that every table with a user reference is
covered by a registered source or an exemption (``coverage_problems``)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import MetaData, Table, select

from fastapp.accounts.models import AuthSession, User
from fastapp.platform.context import Context
from fastapp.platform.errors import NotFound
from fastapp.platform.privacy import ErasureSubject, ExportedData, PersonalData
from fastapp.platform.registry import Registry

#: Column names that refer to a user even without a foreign key to ``users.id``.
USER_COLUMNS = frozenset({"user_id", "owner_id", "actor_id", "published_by", "held_by"})

Progress = Callable[[str, int, int], Awaitable[None]]
"""``async (label, done, total)``: called before each domain's exporter runs."""


def sources(ctx: Context) -> list[PersonalData]:
    """Every registered source of personal data, in key order."""
    if ctx.runtime is None:
        raise RuntimeError("a context without its runtime cannot reach the registry")
    return sorted(ctx.runtime.registry.personal_data.values(), key=lambda data: data.key)


async def collect_export(
    ctx: Context, user_id: uuid.UUID, *, progress: Progress | None = None
) -> dict[str, ExportedData]:
    """Every domain's data about ``user_id``, by the source's key."""
    found = sources(ctx)
    collected: dict[str, ExportedData] = {}
    for done, source in enumerate(found):
        if progress is not None:
            await progress(source.label, done, len(found))
        collected[source.key] = await source.export(ctx, user_id)
    return collected


async def erase_subject(ctx: Context, subject: ErasureSubject) -> dict[str, int]:
    """Run every eraser for ``subject`` in ``ctx``'s transaction, in ``erase_order``; the rows
    each changed, by source key."""
    ordered = sorted(sources(ctx), key=lambda data: (data.erase_order, data.key))
    return {source.key: await source.erase(ctx, subject) for source in ordered}


async def erase_user(ctx: Context, user_id: uuid.UUID) -> dict[str, int]:
    """Run every eraser for ``user_id`` in ``ctx``'s transaction; the rows each changed, by source.

    Who the user is (address, name, the IPs their sessions came from) is read before anything is
    erased: erasers use it to find copies outside the user's own rows. Running it again on an
    erased user is harmless (it finds nothing more). Raises ``NotFound`` for an unknown user.
    """
    user = await ctx.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    ips = (
        await ctx.session.scalars(
            select(AuthSession.ip).where(AuthSession.user_id == user_id, AuthSession.ip.is_not(None)).distinct()
        )
    ).all()
    subject = ErasureSubject(
        user_id=user_id, email=user.email, display_name=user.display_name, ips=frozenset(ip for ip in ips if ip)
    )
    return await erase_subject(ctx, subject)


def _refers_to_users(table: Table) -> bool:
    return any(fk.column.table.name == "users" for column in table.columns for fk in column.foreign_keys) or any(
        column.name in USER_COLUMNS for column in table.columns
    )


def coverage_problems(registry: Registry, metadata: MetaData) -> list[str]:
    """What keeps the registry from accounting for every table with a user reference: tables no
    source names and no exemption explains, and names that match no table. Empty when covered."""
    covered: dict[str, str] = {}
    problems: list[str] = []
    for source in registry.personal_data.values():
        for name in source.tables:
            covered.setdefault(name, source.key)
            if name not in metadata.tables:
                problems.append(f"personal data {source.key!r} names a table that does not exist: {name}")
    for name, reason in registry.personal_data_exempt.items():
        if name not in metadata.tables:
            problems.append(f"the exemption of {name!r} names a table that does not exist")
        if not reason.strip():
            problems.append(f"the exemption of {name!r} gives no reason")
    for table in metadata.sorted_tables:
        if table.name in covered or table.name in registry.personal_data_exempt:
            continue
        if table.name == "users" or _refers_to_users(table):
            problems.append(
                f"table {table.name!r} refers to users but no personal data source names it: register an "
                "exporter and eraser for it (Registry.add_personal_data) or exempt it with a reason "
                "(registry.personal_data_exempt)"
            )
    return sorted(problems)
