"""Driving every domain's registered personal data: collecting one user's export and running
every eraser for one user, in registration order."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from fastapp.platform.context import Context
from fastapp.platform.privacy import ErasureSubject, ExportedData, PersonalData

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
