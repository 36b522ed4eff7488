"""Development mail viewer: the messages ``OutboxMailer`` wrote under ``var/mail``, in the browser.

In development the app writes mail to files instead of sending it; these pages list them and show
one with its headers, text part and HTML part, so a developer can read a mail and follow its links
(a verification link, say) without a mail server. The composition root includes this router only
when ``FASTAPP_ENV=development``: it shows every mail the instance sent to anyone who can reach it.

The HTML part is shown in an ``<iframe sandbox srcdoc=...>``: sandboxed without ``allow-scripts``
its content can run nothing and has an opaque origin, and the page itself carries no inline script,
so the strict CSP holds. Mail HTML uses style attributes only, which that CSP allows.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

from fasthtml.common import FT, A, APIRouter, Caption, Dd, Div, Dl, Dt, Iframe, Li, Nav, P, Pre, Thead, Tr, Ul
from monsterui.franken import H2, Card, Details, Summary, Table, Tbody, Td, TextPresets, Th
from starlette.requests import Request

from fastapp.platform.mail import OutboxEntry, OutboxMailer, OutboxMessage
from fastapp.ui.components import EmptyState, PageHeading
from fastapp.ui.request import render

rt = APIRouter()
LIST_LIMIT = 200
# Long header values, URLs and mail lines wrap instead of scrolling sideways.
_WRAP = "white-space: pre-wrap; overflow-wrap: anywhere"


def _outbox(request: Request) -> OutboxMailer:
    return OutboxMailer(request.app.state.runtime.config.app.var_dir / "mail")


def _when(entry: OutboxEntry) -> str:
    return entry.sent_at.strftime("%Y-%m-%d %H:%M:%S UTC")


@rt("/dev/mail", methods=["get"])
async def mail_list(request: Request) -> FT | tuple[FT, ...]:
    """Newest first; an empty state until the app has written a message."""
    entries = await _outbox(request).list_messages(LIST_LIMIT)
    return render(request, "Outbox", OutboxContent(entries))


@rt("/dev/mail/{name}", methods=["get"])
async def mail_detail(request: Request, name: str) -> FT | tuple[FT, ...]:
    """One message; NotFound (404) for any name that is not a file in the outbox."""
    message = await _outbox(request).read_message(name)
    return render(request, message.entry.subject or "(no subject)", MessageContent(message))


def OutboxContent(entries: list[OutboxEntry]) -> FT:
    intro = "Mail the app sent in development mode: written to var/mail instead of being delivered."
    if not entries:
        return Div(
            PageHeading("Outbox", intro),
            EmptyState("No mail yet", "Messages appear here as soon as the app sends one.", icon="mail"),
        )
    rows = [
        Tr(
            Td(_when(entry), style="white-space: nowrap"),
            Td(entry.to, style=_WRAP),
            Td(A(entry.subject or "(no subject)", href=mail_detail.to(name=entry.name), cls="underline")),
            Td(entry.category),
        )
        for entry in entries
    ]
    return Div(
        PageHeading("Outbox", intro),
        Card(
            Table(
                Caption(f"{len(entries)} most recent messages, newest first", cls="sr-only"),
                Thead(Tr(*(Th(label, scope="col") for label in ("Sent", "To", "Subject", "Category")))),
                Tbody(*rows),
            )
        ),
    )


def MessageNav(message: OutboxMessage) -> FT:
    links = [Li(A("All mail", href=mail_list.to(), cls="underline"))]
    if message.newer:
        links.append(Li(A("Newer message", href=mail_detail.to(name=message.newer), cls="underline", rel="prev")))
    if message.older:
        links.append(Li(A("Older message", href=mail_detail.to(name=message.older), cls="underline", rel="next")))
    return Nav(Ul(*links, cls="flex flex-wrap gap-4"), aria_label="Outbox")


def MessageContent(message: OutboxMessage) -> FT:
    entry = message.entry
    links = _links(message.html)
    return Div(
        PageHeading(entry.subject or "(no subject)", f"To {entry.to} · {_when(entry)}"),
        MessageNav(message),
        Card(
            Ul(*(Li(A(url, href=url, cls="underline", style=_WRAP)) for url in links), cls="list-disc pl-5 space-y-1")
            if links
            else P("The HTML part has no links.", cls=TextPresets.muted_sm),
            header=H2("Links", cls="text-lg"),
        ),
        Card(
            Iframe(
                srcdoc=message.html,
                sandbox=True,  # no allow-scripts, no allow-same-origin: inert
                title=f"HTML part of “{entry.subject}”",
                width="100%",
                height="640",
                cls="border border-border rounded",
            ),
            Details(Summary("HTML source"), Pre(message.html, cls="p-3 text-sm", style=_WRAP)),
            header=H2("HTML part", cls="text-lg"),
        )
        if message.html
        else None,
        Card(Pre(message.text, cls="text-sm", style=_WRAP), header=H2("Text part", cls="text-lg")),
        Card(
            Dl(
                *(
                    Div(Dt(key, cls="font-medium"), Dd(value, cls="text-sm", style=_WRAP))
                    for key, value in message.headers
                ),
                cls="space-y-2",
            ),
            header=H2("Headers", cls="text-lg"),
        ),
        cls="space-y-6",
    )


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") if tag == "a" else None
        if href and urlsplit(href).scheme in {"http", "https"} and href not in self.links:
            self.links.append(href)


def _links(html: str) -> list[str]:
    """The distinct http(s) links of a mail's HTML, in order: clickable here, outside the sandbox."""
    collector = _LinkCollector()
    collector.feed(html)
    collector.close()
    return collector.links
