"""Describe this instance: what it is, since when, and on which backends it runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from fastapp import __version__
from fastapp.config import Config
from fastapp.platform.context import Context
from fastapp.platform.instance import ensure_instance


@dataclass(frozen=True)
class InstanceFacts:
    """Facts the composition root knows from configuration."""

    name: str
    environment: str
    database: str
    cache: str


def facts_from(config: Config) -> InstanceFacts:
    return InstanceFacts(
        name=config.app.name,
        environment=config.app.env.value,
        database="SQLite (embedded)" if config.is_sqlite else "PostgreSQL",
        cache="Redis" if config.redis.url else "in-process memory",
    )


@dataclass(frozen=True)
class InstanceSummary:
    name: str
    version: str
    environment: str
    instance_id: uuid.UUID
    since: datetime
    database: str
    cache: str


async def describe_instance(ctx: Context, facts: InstanceFacts) -> InstanceSummary:
    instance = await ensure_instance(ctx.session, now=ctx.clock.now())
    return InstanceSummary(
        name=facts.name,
        version=__version__,
        environment=facts.environment,
        instance_id=instance.id,
        since=instance.created_at,
        database=facts.database,
        cache=facts.cache,
    )
