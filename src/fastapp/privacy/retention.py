"""Privacy: the daily retention job that runs every registered retention rule.

Each domain registers the rules for the data it owns (``platform.privacy.RetentionRule``):
unverified accounts and ended sessions (accounts), read notifications and email records
(notifications), finished jobs (the job queue), audit events (audit), data exports (exports).
One job, ``privacy.retention``, runs them all daily, each in a transaction of its own so a
failing rule neither stops the others nor undoes what they removed, then records one
``privacy.retention.applied`` audit event with the count per rule (and the rules that failed)
when anything was deleted or a rule failed.

Finished jobs and audit events used to have daily purge jobs of their own; they are rules here
instead, so that retention is enforced, logged and documented (the data map) in one place and
nothing runs twice. Their ``jobs.purge`` / ``audit.purge`` handlers remain for on-demand runs
(and ``jobs.purge`` continues a finished-jobs purge larger than one batch).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog

from fastapp.audit import Action, Actor, record
from fastapp.platform.context import Context, Runtime, open_context
from fastapp.platform.jobs import Schedule
from fastapp.platform.registry import Registry

RETENTION_JOB = "privacy.retention"
RETENTION_SCHEDULE = Schedule(RETENTION_JOB, "37 3 * * *", RETENTION_JOB)  # daily, 03:37 UTC

log = structlog.get_logger("fastapp.privacy.retention")


async def apply_retention(runtime: Runtime, ctx: Context, _payload: dict[str, Any]) -> None:
    """The ``privacy.retention`` job: every rule in key order, then one audit event with counts.

    Rules run in contexts of their own (committed one by one; their after-commit work, such as
    deleting stored objects, runs then); ``ctx`` only records the outcome.
    """
    counts: dict[str, int] = {}
    failed: list[str] = []
    now = ctx.clock.now()
    for key, rule in sorted(runtime.registry.retention_rules.items()):
        cutoff = now - timedelta(days=rule.days(runtime.config))
        try:
            async with open_context(runtime, request_id=ctx.request_id, ip=None) as alone:
                counts[key] = await rule.purge(alone, cutoff)
        except Exception:
            # One broken rule must not keep the others from running.
            log.exception("retention rule failed", rule=key)
            failed.append(key)
            continue
        log.info("retention rule applied", rule=key, removed=counts[key], cutoff=cutoff.isoformat())
    if not failed and not any(counts.values()):
        return  # nothing happened: a daily "deleted nothing" would only bury the events that matter
    await record(
        ctx,
        Action.PRIVACY_RETENTION_APPLIED,
        actor=Actor.system(RETENTION_JOB),
        outcome="failure" if failed else "success",
        data={"counts": counts, "failed": failed},
    )


def register(registry: Registry) -> None:
    """The retention job and its schedule."""
    registry.add_job(RETENTION_JOB, apply_retention)
    registry.schedules.append(RETENTION_SCHEDULE)
