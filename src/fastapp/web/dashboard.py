"""``/admin``: the administration dashboard, for anyone holding one of the admin permissions.

Links to the admin areas the viewer may use, and a few indexed counts: users by status, active
sessions, jobs waiting and dead, sign-ups per day for 30 days. Each figure shows only to viewers
holding the permission of the area it comes from. It lives in ``web`` because it reads several domains.
"""

from __future__ import annotations

from datetime import date

from fasthtml.common import FT, A, APIRouter, Dd, Div, Dl, Dt, Li, Ul
from monsterui.franken import H2, Card
from starlette.requests import Request
from starlette.responses import HTMLResponse

from fastapp.accounts import directory
from fastapp.platform.auth import principal_of
from fastapp.platform.context import Principal
from fastapp.platform.errors import PermissionDenied, Unauthenticated
from fastapp.platform.jobs import JobState, stats
from fastapp.platform.registry import SIGNED_IN
from fastapp.ui.charts import DailyBars
from fastapp.ui.components import PageHeading
from fastapp.ui.layout import NavItem
from fastapp.ui.request import context_of, render_response

rt = APIRouter()
#: Holding any one of these opens the dashboard.
PERMISSIONS = ("users:read", "audit:read", "jobs:manage", "email:manage", "files:manage")
PATH = "/admin"


def _viewer(request: Request) -> Principal:
    principal = principal_of(request.scope)
    if principal is None or principal.via != "cookie":
        raise Unauthenticated("Sign in to continue.", next=request.url.path)
    if not any(principal.can(p) for p in PERMISSIONS):
        raise PermissionDenied("This page is for administrators.")
    return principal


def _figures(title: str, facts: list[tuple[str, int]]) -> FT:
    return Card(
        Dl(
            *(part for label, value in facts for part in (Dt(label), Dd(str(value), cls="font-semibold"))),
            cls="grid grid-cols-[1fr_auto] gap-x-4 gap-y-1",
        ),
        header=H2(title, cls="text-lg"),
    )


def Dashboard(
    links: list[tuple[str, str]],
    users: dict[str, int] | None,
    sessions: int | None,
    jobs: tuple[int, int] | None,
    signups: list[tuple[date, int]] | None,
) -> FT:
    cards = []
    if users is not None:
        cards.append(_figures("Users", [(s.replace("_", " "), n) for s, n in users.items()]))
    if sessions is not None:
        cards.append(_figures("Sessions", [("active", sessions)]))
    if jobs is not None:
        cards.append(_figures("Jobs", [("waiting", jobs[0]), ("dead", jobs[1])]))
    return Div(
        PageHeading("Administration", "Where to go, and how things stand."),
        Card(
            Ul(*(Li(A(label, href=href, cls="underline")) for label, href in links), cls="space-y-1"),
            header=H2("Areas", cls="text-lg"),
        ),
        Div(*cards, cls="grid gap-6 sm:grid-cols-2 lg:grid-cols-3") if cards else None,
        Card(
            DailyBars(signups, what="sign-ups", label="Sign-ups per day table"),
            header=H2("Sign-ups, last 30 days", cls="text-lg"),
            cls="min-w-0",
        )
        if signups is not None
        else None,
        cls="space-y-6",
    )


@rt(PATH, methods=["get"])
async def dashboard(request: Request) -> HTMLResponse:
    principal = _viewer(request)
    nav: list[NavItem] = request.app.state.nav
    # The admin areas: navigation items behind a permission the viewer holds (not "signed in").
    links = [
        (item.label, item.href)
        for item in nav
        if item.href != PATH and item.permission not in ("", SIGNED_IN) and principal.can(item.permission)
    ]
    users = sessions = jobs = signups = None
    async with context_of(request) as ctx:
        if principal.can("users:read"):
            users = await directory.count_by_status(ctx)
            sessions = await directory.active_sessions(ctx)
            signups = await directory.signups_per_day(ctx, 30)
        if principal.can("jobs:manage"):
            queues = await stats(ctx)
            jobs = (
                sum(q.counts.get(JobState.ready.value, 0) for q in queues),
                sum(q.counts.get(JobState.dead.value, 0) for q in queues),
            )
    return render_response(request, "Administration", Dashboard(links, users, sessions, jobs, signups))
