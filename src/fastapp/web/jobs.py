"""``/admin/jobs`` (``jobs:manage``): the queue at a glance, and dead jobs to retry or discard.

Retrying and discarding are recorded in the audit log. The page answers in a few indexed counts,
so it can stay open on an operator's screen.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from fasthtml.common import FT, APIRouter, Caption, Details, Div, Form, P, Pre, Summary, Table, Tbody, Td, Th, Thead, Tr
from monsterui.franken import H2, Card, TextPresets
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from fastapp.audit import Action, record
from fastapp.platform.csrf import csrf_token
from fastapp.platform.errors import NotFound
from fastapp.platform.jobs import Job, JobState, QueueStats, dead_jobs, discard_dead, retry_dead, stats
from fastapp.ui.components import CsrfField, EmptyState, PageHeading, SubmitButton
from fastapp.ui.request import context_of, permitted, render_response

rt = APIRouter()
PERMISSION = "jobs:manage"
NOTICES = {"retried": "The job is queued again.", "discarded": "The job was discarded."}


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "none due"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def QueuesTable(queues: list[QueueStats]) -> FT:
    if not queues:
        return EmptyState("No jobs yet", "Jobs appear here once something enqueues them.", icon="list-checks")
    states = [s.value for s in JobState]
    return Div(
        Table(
            Caption("Jobs per queue and state"),
            Thead(Tr(Th("Queue", scope="col"), *(Th(s, scope="col") for s in states), Th("Oldest due", scope="col"))),
            Tbody(
                *(
                    Tr(
                        Th(q.queue, scope="row"),
                        *(Td(str(q.counts.get(s, 0))) for s in states),
                        Td(_age(q.oldest_ready_age)),
                    )
                    for q in queues
                )
            ),
            cls="uk-table uk-table-divider uk-table-sm",
        ),
        cls="overflow-x-auto",
        tabindex="0",
        role="region",
        aria_label="Queues table",
    )


def DeadJob(job: Job, csrf: str) -> FT:
    error = job.last_error or ""
    summary = error.strip().splitlines()[-1] if error.strip() else "no error recorded"
    return Div(
        P(
            f"{job.name} · queue {job.queue} · {job.attempts} attempts · "
            f"{job.finished_at.strftime('%Y-%m-%d %H:%M UTC') if job.finished_at else ''}",
            cls="font-medium",
        ),
        P(summary, cls=TextPresets.muted_sm),
        Details(Summary("Traceback"), Pre(error, cls="p-3 rounded bg-muted whitespace-pre-wrap break-all text-xs")),
        Div(
            Form(CsrfField(csrf), SubmitButton("Retry"), method="post", action=retry_job.to(job_id=str(job.id))),
            Form(
                CsrfField(csrf),
                SubmitButton("Discard", destructive=True),
                method="post",
                action=discard_job.to(job_id=str(job.id)),
                data_confirm="Discard this job for good?",
            ),
            cls="flex gap-2",
        ),
        cls="space-y-2 py-3",
    )


@rt("/admin/jobs", methods=["get"])
async def jobs_page(request: Request, done: str = "") -> HTMLResponse:
    permitted(request, PERMISSION)
    async with context_of(request) as ctx:
        queues = await stats(ctx)
        dead = await dead_jobs(ctx)
    csrf = csrf_token(request.scope)
    return render_response(
        request,
        "Jobs",
        Div(
            PageHeading("Jobs", "The durable queue: what waits, what runs, what failed for good."),
            Div(P(NOTICES[done]), cls="alert alert-success", role="status") if done in NOTICES else None,
            Card(QueuesTable(queues), header=H2("Queues", cls="text-lg"), cls="min-w-0"),
            Card(
                Div(*(DeadJob(j, csrf) for j in dead), cls="divide-y divide-border")
                if dead
                else P("No dead jobs.", cls=TextPresets.muted_sm),
                header=H2("Dead jobs", cls="text-lg"),
                cls="min-w-0",
            ),
            cls="space-y-6",
        ),
    )


def _job_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound("No dead job with that id.") from exc


async def _act(request: Request, job_id: str, verb: str) -> RedirectResponse:
    permitted(request, PERMISSION)
    ident = _job_id(job_id)
    async with context_of(request) as ctx:
        try:
            job = await (retry_dead if verb == "retried" else discard_dead)(ctx, ident)
        except LookupError as exc:
            raise NotFound(str(exc)) from exc
        action = Action.JOB_RETRIED if verb == "retried" else Action.JOB_DISCARDED
        await record(ctx, action, target=("job", ident), data={"name": job.name, "queue": job.queue})
    return RedirectResponse(f"{jobs_page.to()}?{urlencode({'done': verb})}", status_code=303)


@rt("/admin/jobs/{job_id}/retry", methods=["post"])
async def retry_job(request: Request, job_id: str) -> RedirectResponse:
    return await _act(request, job_id, "retried")


@rt("/admin/jobs/{job_id}/discard", methods=["post"])
async def discard_job(request: Request, job_id: str) -> RedirectResponse:
    return await _act(request, job_id, "discarded")
