"""Server-rendered charts: inline SVG with a text alternative, no JavaScript.

``DailyBars`` draws one count per day as bars; its numbers are also given as a table (in a
``<details>``) for people who cannot see the chart.
"""

from __future__ import annotations

from datetime import date

from fasthtml.common import FT, Details, Div, Span, Summary, Td, Th, Tr
from fasthtml.svg import G, Rect, Svg, Title

from fastapp.ui.components import DataTable

BAR_FILL = "fill: var(--color-primary, #2563eb)"


def DailyBars(days: list[tuple[date, int]], *, what: str, label: str) -> FT:
    """``days`` (oldest first) as an SVG bar chart of ``what`` per day ("sign-ups"), each bar titled
    with its day and count, the whole labelled with a summary, followed by the same numbers as a table.
    ``label`` names the table region (unique on the page)."""
    if not days:
        return Div(Span(f"No {what} to show."))
    peak = max((n for _, n in days), default=0)
    scale = peak or 1
    step, height = 10, 100
    bars = [
        G(
            Title(f"{day.isoformat()}: {n} {what}"),
            Rect(
                x=i * step + 1,
                y=round(height - n / scale * height, 2),
                width=step - 2,
                height=round(n / scale * height, 2),
                style=BAR_FILL,
            ),
        )
        for i, (day, n) in enumerate(days)
    ]
    total = sum(n for _, n in days)
    first, last = days[0][0].isoformat(), days[-1][0].isoformat()
    summary = f"{what.capitalize()} per day from {first} to {last}: {total} in all, at most {peak} a day."
    return Div(
        Svg(
            *bars,
            viewBox=f"0 0 {len(days) * step} {height}",
            preserveAspectRatio="none",
            role="img",
            aria_label=summary,
            cls="w-full border border-border rounded",
            style="height: 8rem",
            focusable="false",
        ),
        Div(Span(first), Span(f"peak {peak} a day"), Span(last), cls="flex justify-between text-xs"),
        Details(
            Summary("The chart's numbers as a table"),
            DataTable(
                f"{what.capitalize()} per day, newest first",
                ("Day", what.capitalize()),
                [Tr(Th(day.isoformat(), scope="row"), Td(str(n))) for day, n in reversed(days)],
                label=label,
            ),
        ),
        cls="space-y-2",
    )
