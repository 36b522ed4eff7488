"""``/admin/email`` (``email:manage``): delivery figures, messages, template previews, suppressions.

Every view is a URL with its filters in the query string. The overview counts per template and
day over a range (``analytics.report``); its numbers link to the messages behind them. Adding
and lifting suppressions go through ``suppression.add_by_admin`` / ``lift_by_admin``, which check
the permission again and write the audit event in the same transaction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fasthtml.common import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.notifications import admin_components as c
from fastapp.notifications import analytics
from fastapp.notifications.suppression import EMAIL_MANAGE, add_by_admin, lift_by_admin
from fastapp.platform.context import Runtime
from fastapp.platform.csrf import csrf_token
from fastapp.platform.errors import DomainError, Invalid
from fastapp.platform.mail import MailTemplates
from fastapp.platform.mail_templates import TEMPLATE_DIR as PLATFORM_TEMPLATES
from fastapp.ui.request import context_of, permitted, render_response, runtime_of

rt = APIRouter()
PERMISSION = EMAIL_MANAGE
NOTIFICATION_TEMPLATES = Path(__file__).parent / "mail_templates"
#: Sample data of the templates in a folder: ``{"template": {...context...}}``; ``{site_url}`` in
#: a string value becomes the site's URL.
SAMPLES_FILE = "samples.json"
NOTICES = {
    "added": "The address was added to the suppression list.",
    "lifted": "The suppression was lifted: mail to that address will be sent again.",
}


def _nav(current: str) -> Any:
    return c.EmailNav(
        current,
        [
            ("Overview", email_page.to()),
            ("Messages", messages_list.to()),
            ("Templates", templates_page.to()),
            ("Suppressions", suppressions_page.to()),
        ],
    )


def _url(path: str, values: dict[str, str]) -> str:
    kept = {k: v for k, v in values.items() if v}
    return f"{path}?{urlencode(kept)}" if kept else path


def _messages_url(template: str, day: str) -> str:
    return _url(messages_list.to(), {"template": template, "day": day})


# -- overview -----------------------------------------------------------------------------------


@rt("/admin/email", methods=["get"])
async def email_page(request: Request, since: str = "", until: str = "") -> HTMLResponse:
    permitted(request, PERMISSION)
    runtime = runtime_of(request)
    values = {"since": since[:10], "until": until[:10]}
    try:
        first, last = analytics.parse_range(since, until, today=runtime.backends.clock.now().date())
    except Invalid as exc:
        form = c.RangeForm(email_page.to(), values, exc.fields, exc.detail)
        return render_response(
            request, "Email", c.OverviewContent(_nav("Overview"), form, None, _messages_url), status=422
        )
    async with context_of(request) as ctx:
        report = await analytics.report(ctx, since=first, until=last)
    form = c.RangeForm(email_page.to(), {"since": first.isoformat(), "until": last.isoformat()}, {}, None)
    return render_response(request, "Email", c.OverviewContent(_nav("Overview"), form, report, _messages_url))


# -- messages -----------------------------------------------------------------------------------


@rt("/admin/email/messages", methods=["get"])
async def messages_list(request: Request) -> HTMLResponse:
    permitted(request, PERMISSION)
    values = {name: request.query_params.get(name, "")[:320] for name in ("status", "template", "recipient", "day")}
    before = request.query_params.get("before", "")[:400]
    async with context_of(request) as ctx:
        templates = await analytics.templates_in_use(ctx)
        try:
            wanted = analytics.parse_filter(**values)
            found, cursor = await analytics.messages_page(ctx, wanted, before=before)
        except Invalid as exc:
            form = c.MessageFilterForm(
                messages_list.to(), values, templates, analytics.STATUSES, exc.fields, exc.detail
            )
            return render_response(
                request, "Email messages", c.MessagesContent(_nav("Messages"), form, None), status=422
            )
    form = c.MessageFilterForm(messages_list.to(), values, templates, analytics.STATUSES, {}, None)
    results = c.MessagesTable(
        found,
        lambda ident: message_page.to(message_id=ident),
        next_url=_url(messages_list.to(), {**values, "before": cursor}) if cursor else None,
        first_url=_url(messages_list.to(), values) if before else None,
    )
    return render_response(request, "Email messages", c.MessagesContent(_nav("Messages"), form, results))


@rt("/admin/email/messages/{message_id}", methods=["get"])
async def message_page(request: Request, message_id: str) -> HTMLResponse:
    permitted(request, PERMISSION)
    async with context_of(request) as ctx:
        message, events = await analytics.message_with_events(ctx, message_id)
        views = [c.event_view(e) for e in events]
    back = _url(messages_list.to(), {"template": message.template, "day": message.created_at.date().isoformat()})
    return render_response(
        request, "Email message", c.MessageDetail(message, views, back_url=back, nav=_nav("Messages"))
    )


# -- template previews --------------------------------------------------------------------------


def _samples(folder: Path, site_url: str) -> dict[str, Any]:
    path = folder / SAMPLES_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{site_url}", site_url)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    return {str(name): fill(context) for name, context in data.items()} if isinstance(data, dict) else {}


def _kind_samples(runtime: Runtime, site_url: str) -> dict[str, dict[str, Any]]:
    """Sample data derived from notification kinds: their ``sample`` filled into title, body, link."""
    found: dict[str, dict[str, Any]] = {}
    for kind in runtime.registry.notification_kinds.values():
        if not kind.sample:
            continue
        try:
            link = kind.link.format(**kind.sample) if kind.link else None
            found.setdefault(
                kind.email_template or "notification",
                {
                    **kind.sample,
                    "user_name": "Ada Lovelace",
                    "title": kind.title.format(**kind.sample),
                    "body": kind.body.format(**kind.sample),
                    "link": f"{site_url}{link}" if link and link.startswith("/") else link,
                },
            )
        except (KeyError, IndexError, ValueError):
            continue  # a kind whose sample does not fill its own texts is left to samples.json
    return found


def template_previews(runtime: Runtime) -> list[c.Preview]:
    """Every mail template rendered with its sample data; one that cannot be is explained, not raised."""
    config = runtime.config
    site_url = config.app.site_url
    folders = [NOTIFICATION_TEMPLATES] if NOTIFICATION_TEMPLATES.is_dir() else []
    templates = MailTemplates(product=config.app.name, site_url=site_url, search_path=folders)
    samples: dict[str, Any] = {**_kind_samples(runtime, site_url), **_samples(PLATFORM_TEMPLATES, site_url)}
    for folder in folders:  # the notifications' folder comes first when rendering: it wins here too
        samples.update(_samples(folder, site_url))
    previews = []
    for name in templates.names():
        context = samples.get(name)
        if not isinstance(context, dict):
            previews.append(
                c.Preview(
                    name, error=f"No sample data: add an entry for {name!r} to {SAMPLES_FILE} beside the template."
                )
            )
            continue
        try:
            subject, text, html = templates.render(name, **context)
        except Exception as exc:  # noqa: BLE001 - any template fault is shown on the page, not raised
            previews.append(c.Preview(name, error=f"The sample data does not render: {type(exc).__name__}: {exc}"))
            continue
        previews.append(c.Preview(name, subject, html, text))
    return previews


@rt("/admin/email/templates", methods=["get"])
async def templates_page(request: Request) -> HTMLResponse:
    permitted(request, PERMISSION)
    previews = template_previews(runtime_of(request))
    return render_response(request, "Email templates", c.TemplatesContent(_nav("Templates"), previews))


# -- suppressions -------------------------------------------------------------------------------


async def _suppressions(
    request: Request,
    *,
    notice: str | None = None,
    add: tuple[dict[str, str], DomainError | None] = ({}, None),
    status: int = 200,
) -> HTMLResponse:
    search = request.query_params.get("q", "")[:320]
    before = request.query_params.get("before", "")[:400]
    async with context_of(request) as ctx:
        rows, cursor = await analytics.suppressions_page(ctx, search=search, before=before)
        total = await analytics.suppression_count(ctx)
    csrf = csrf_token(request.scope)
    values, error = add
    table = c.SuppressionsTable(
        rows,
        csrf,
        lift_url=lift_suppression.to(),
        next_url=_url(suppressions_page.to(), {"q": search, "before": cursor or ""}) if cursor else None,
        first_url=_url(suppressions_page.to(), {"q": search}) if before else None,
        searched=bool(search.strip()),
    )
    form = c.AddForm(
        add_suppression.to(),
        csrf,
        values,
        error.fields if error else {},
        error.detail if error and not error.fields else None,
    )
    content = c.SuppressionsContent(
        _nav("Suppressions"), notice, total, c.SearchForm(suppressions_page.to(), search), table, form
    )
    return render_response(request, "Email suppressions", content, status=status)


@rt("/admin/email/suppressions", methods=["get"])
async def suppressions_page(request: Request, done: str = "") -> HTMLResponse:
    permitted(request, PERMISSION)
    return await _suppressions(request, notice=NOTICES.get(done))


@rt("/admin/email/suppressions", methods=["post"])
async def add_suppression(request: Request) -> Response:
    permitted(request, PERMISSION)
    form = await request.form()
    values = {k: str(form.get(k, ""))[:600] for k in ("address", "note")}
    try:
        async with context_of(request) as ctx:
            await add_by_admin(ctx, values["address"], note=values["note"])
    except DomainError as exc:
        return await _suppressions(request, add=(values, exc), status=exc.status)
    return RedirectResponse(_url(suppressions_page.to(), {"done": "added"}), status_code=303)


@rt("/admin/email/suppressions/lift", methods=["post"])
async def lift_suppression(request: Request) -> Response:
    permitted(request, PERMISSION)
    form = await request.form()
    async with context_of(request) as ctx:
        await lift_by_admin(ctx, str(form.get("address", ""))[:320])
    return RedirectResponse(_url(suppressions_page.to(), {"done": "lifted"}), status_code=303)
