"""What the job queue keeps about users (``platform.privacy``), and its retention rule.

A job's payload may name a user: their id (a digest), or an address (a provider's bounce report
being applied). Such payloads are work in progress, not records kept about the user, so:

- exports list only the names, states and dates of jobs whose payload names the user's id (the
  payload itself may concern other people too, e.g. a batch of bounce reports);
- erasure deletes *finished* jobs (succeeded or dead) whose payload or error names the user's id
  or address, and leaves pending ones alone: a job still due is work the system must finish (the
  erasure job itself is running at that moment, and a last confirmation mail may be queued), and
  it is deleted by the same rule, or by retention, once it has finished;
- retention: succeeded jobs older than FASTAPP_JOBS_RETENTION_DAYS are deleted by the privacy
  domain's daily retention job (``finished_jobs``), in batches: a full batch enqueues the
  ``jobs.purge`` job to continue. Dead jobs stay until an administrator retries or deletes them.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, or_, select

from fastapp.config import Config
from fastapp.platform.context import Context
from fastapp.platform.jobs import PURGE_BATCH, PURGE_JOB, Job, JobState, enqueue, purge_succeeded
from fastapp.platform.privacy import ErasureSubject, ExportedData, PersonalData, RetentionRule
from fastapp.platform.registry import Registry

#: Before the user row is anonymized; order among the others does not matter.
ERASE_ORDER = 40
FINISHED = (JobState.succeeded.value, JobState.dead.value)


def _naming(*needles: str) -> ColumnElement[bool]:
    """Jobs whose payload or last error contains any of ``needles`` (case-insensitive)."""
    clauses = [
        func.lower(column).contains(needle.lower(), autoescape=True)
        for needle in needles
        if needle
        for column in (Job.payload, Job.last_error)
    ]
    return or_(*clauses)


async def export_jobs(ctx: Context, user_id: uuid.UUID) -> ExportedData:
    rows = (
        await ctx.session.execute(
            select(Job.name, Job.state, Job.created_at, Job.finished_at)
            .where(_naming(str(user_id)))
            .order_by(Job.created_at)
        )
    ).all()
    return ExportedData(
        records={
            "jobs": [
                {
                    "name": name,
                    "state": state,
                    "created_at": created.isoformat(),
                    "finished_at": finished.isoformat() if finished else None,
                }
                for name, state, created, finished in rows
            ]
        }
    )


async def erase_jobs(ctx: Context, subject: ErasureSubject) -> int:
    result = await ctx.session.execute(
        delete(Job).where(Job.state.in_(FINISHED), _naming(str(subject.user_id), subject.email))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def purge_finished_jobs(ctx: Context, cutoff: datetime) -> int:
    removed = await purge_succeeded(ctx, before=cutoff)
    if removed >= PURGE_BATCH:
        await enqueue(ctx, PURGE_JOB)  # the rest, in a transaction of its own
    return removed


def _job_days(config: Config) -> int:
    return config.jobs.retention_days


def register(registry: Registry) -> None:
    registry.add_personal_data(
        PersonalData(
            key="jobs",
            label="Background jobs",
            description="Background work about you (a digest to send, a bounce report to apply) may name "
            "your account or address while it runs and until it is deleted.",
            legal_basis="Contract (Art. 6(1)(b)): doing the work your account needs.",
            retention="Finished jobs are deleted after FASTAPP_JOBS_RETENTION_DAYS.",
            tables=("jobs",),
            export=export_jobs,
            erase=erase_jobs,
            erase_order=ERASE_ORDER,
        )
    )
    registry.add_retention_rule(
        RetentionRule(
            key="finished_jobs",
            label="Finished background jobs",
            days=_job_days,
            purge=purge_finished_jobs,
            setting="FASTAPP_JOBS_RETENTION_DAYS",
        )
    )
