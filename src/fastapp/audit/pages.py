"""``/admin/audit``: the audit log viewer (filters, keyset pages, event detail, exports).

Holders of ``audit:read`` only. The filter form is a plain GET form that HTMX upgrades to swap
only the results; every state is a URL, so it can be bookmarked, shared and paged back.
"""

from __future__ import annotations

from fasthtml.common import APIRouter, to_xml
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from fastapp.audit import components as c
from fastapp.audit import export, queries
from fastapp.platform.context import Principal
from fastapp.platform.errors import Invalid, NotFound
from fastapp.platform.htmx import is_htmx
from fastapp.ui.dates import DisplayPrefs
from fastapp.ui.request import context_of, permitted, render_response, runtime_of, viewer_prefs

rt = APIRouter()
PERMISSION = "audit:read"
FILTER_FIELDS = ("actor", "action", "target", "outcome", "ip", "since", "until")


def _reader(request: Request) -> Principal:
    return permitted(request, PERMISSION)


def _values(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "")[:320] for name in FILTER_FIELDS}


@rt("/admin/audit", methods=["get"])
async def audit_page(request: Request) -> HTMLResponse:
    _reader(request)
    values = _values(request)
    prefs = await viewer_prefs(request)
    try:
        wanted = queries.parse_filter(**values)
    except Invalid as exc:
        return _render(request, values, [], None, exc, prefs, status=422)
    before = request.query_params.get("before", "")
    cursor = int(before) if before.isdigit() else None
    async with context_of(request) as ctx:
        rows, next_cursor = await queries.page(ctx.session, wanted, before=cursor, limit=50)
        items = [queries.event_record(r) for r in rows]
    return _render(request, values, items, next_cursor, None, prefs)


def _render(
    request: Request,
    values: dict[str, str],
    items: list[dict[str, object]],
    next_cursor: int | None,
    error: Invalid | None,
    prefs: DisplayPrefs,
    *,
    status: int = 200,
) -> HTMLResponse:
    kept = {k: v for k, v in values.items() if v}
    results = c.ResultsTable(
        items,
        detail_url=lambda seq: event_page.to(seq=seq),
        next_url=c.query_url(audit_page.to(), {**kept, "before": str(next_cursor)}) if next_cursor else None,
        export_urls={
            "CSV": c.query_url(export_page.to(), {**kept, "format": "csv"}),
            "JSON Lines": c.query_url(export_page.to(), {**kept, "format": "jsonl"}),
        },
        prefs=prefs,
    )
    if is_htmx(request.headers) and request.headers.get("hx-target") == "audit-results":
        return HTMLResponse(to_xml(results), status_code=status)
    form = c.FilterForm(audit_page.to(), values, error.fields if error else {}, error.detail if error else None)
    return render_response(request, "Audit log", c.AuditPage(form, results), status=status)


@rt("/admin/audit/export", methods=["get"])
async def export_page(request: Request, format: str = "csv") -> Response:
    """The filtered events as a download; the export is recorded first."""
    _reader(request)
    if format not in export.FORMATS:
        raise Invalid("Choose csv or jsonl.")
    wanted = queries.parse_filter(**_values(request))
    async with context_of(request) as ctx:
        await export.record_export(ctx, wanted, format)
    return StreamingResponse(
        export.lines(runtime_of(request), wanted, format),
        media_type=export.FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="audit-events.{format}"'},
    )


@rt("/admin/audit/{seq}", methods=["get"])
async def event_page(request: Request, seq: int) -> HTMLResponse:
    _reader(request)
    async with context_of(request) as ctx:
        event = await queries.one(ctx.session, seq)
        if event is None:
            raise NotFound("No audit event with that number (it may have been purged).")
        item = queries.event_record(event)
    path = runtime_of(request).registry.user_detail_path
    user_url = (lambda ident: path.format(user_id=ident)) if path else None
    detail = c.EventDetail(item, back_url=audit_page.to(), user_url=user_url, prefs=await viewer_prefs(request))
    return render_response(request, f"Audit event #{seq}", detail)
