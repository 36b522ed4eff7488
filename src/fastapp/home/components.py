"""The home page's components."""

from __future__ import annotations

from fasthtml.common import FT, A, Code, Dd, Div, Dl, Dt, Li, P, Ul
from monsterui.franken import H2, ButtonT, Card, TextPresets

from fastapp.home.services import InstanceSummary
from fastapp.ui.components import PageHeading


def Fact(term: str, value: str) -> FT:
    return Div(Dt(term, cls=TextPresets.muted_sm), Dd(value, cls="font-medium break-all"), cls="space-y-1")


def InstanceCard(summary: InstanceSummary) -> FT:
    return Card(
        Dl(
            Fact("Version", summary.version),
            Fact("Mode", summary.environment),
            Fact("Database", summary.database),
            Fact("Cache and pub/sub", summary.cache),
            Fact("Instance", str(summary.instance_id)),
            Fact("Running since", summary.since.strftime("%Y-%m-%d %H:%M UTC")),
            cls="grid grid-cols-1 sm:grid-cols-2 gap-4",
        ),
        header=H2("This instance", cls="text-lg"),
    )


def NextSteps(api_docs_url: str, show_details: bool) -> FT:
    steps = [
        Li(
            "Browse and try the JSON API in the ",
            A("interactive API documentation", href=api_docs_url, cls="underline"),
            ".",
        ),
        Li("Check the service from a load balancer with ", Code("/healthz"), " and ", Code("/readyz"), "."),
    ]
    if show_details:
        steps.append(Li("Print the effective configuration with ", Code("uv run fastapp config check"), "."))
    return Card(Ul(*steps, cls="list-disc pl-5 space-y-2"), header=H2("Next steps", cls="text-lg"))


def HomeContent(summary: InstanceSummary, *, api_docs_url: str, show_details: bool) -> FT:
    intro = (
        f"{summary.name} is running. Pages, a versioned JSON API and the core services share one "
        "application and one security stack."
    )
    return Div(
        PageHeading(f"Welcome to {summary.name}", intro),
        Div(
            InstanceCard(summary) if show_details else None,
            NextSteps(api_docs_url, show_details),
            cls="grid gap-6 lg:grid-cols-2",
        ),
        P(A("Open the API documentation", href=api_docs_url, cls=("uk-btn", ButtonT.primary))),
        cls="space-y-6",
    )
