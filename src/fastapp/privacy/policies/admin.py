"""``/admin/policies`` (``privacy:manage``): the versions of each policy (current, scheduled,
superseded) and the form that publishes a new one, with a preview.

"Preview" posts the same form to ``/admin/policies/preview``: HTMX swaps the rendered text in
below the form; without JavaScript the whole page comes back with the form filled in and the
preview under it. "Publish" calls ``services.publish`` (which checks the permission again and
audits) and comes back to the list (PRG) with a notice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fasthtml.common import FT, APIRouter, to_xml
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.files.admin_components import Pager
from fastapp.platform.csrf import csrf_token
from fastapp.platform.errors import Conflict, Invalid
from fastapp.platform.htmx import is_htmx
from fastapp.privacy.policies import components as c
from fastapp.privacy.policies import services
from fastapp.ui.dates import DisplayPrefs
from fastapp.ui.request import context_of, permitted, render_response, viewer_prefs

rt = APIRouter()
PERMISSION = services.MANAGE
FIELDS = ("kind", "version", "title", "body", "effective_at")


def _page_number(value: str) -> int:
    return int(value) if value.isdigit() and 0 < int(value) < 100_000 else 1


def _zone(prefs: DisplayPrefs) -> ZoneInfo:
    try:
        return ZoneInfo(prefs.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_local(value: str, prefs: DisplayPrefs) -> datetime | None:
    """The form's ``datetime-local`` value, read in the viewer's time zone; None when empty."""
    text = value.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            "Please correct the fields below.", fields={"effective_at": "Enter a date and time, e.g. 2026-01-31 09:00."}
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=_zone(prefs))).astimezone(UTC)


async def _page(
    request: Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    notice: str | None = None,
    preview: FT | None = None,
    status: int = 200,
) -> HTMLResponse:
    prefs = await viewer_prefs(request)
    tables = []
    async with context_of(request) as ctx:
        now = ctx.clock.now()
        for kind in services.KIND_LABELS:
            param = f"{kind}_page"
            page = _page_number(request.query_params.get(param, ""))
            found = await services.list_versions(ctx, kind=kind, page=page)
            in_force = await services.current(ctx, kind)
            rows = [
                c.VersionRow(
                    v,
                    "current"
                    if in_force is not None and v.id == in_force.id
                    else ("scheduled" if v.effective_at > now else "superseded"),
                )
                for v in found.items
            ]
            pager = Pager(
                f"{policies_admin.to()}?{param}={page + 1}" if page < found.pages else None,
                policies_admin.to() if page > 1 else None,
            )
            tables.append(c.VersionsTable(kind, rows, prefs, pager))
    form = c.PublishForm(
        publish.to(),
        preview_policy.to(),
        csrf_token(request.scope),
        values=values or {"kind": "privacy"},
        errors=errors or {},
        message=message,
        timezone=prefs.timezone,
    )
    content = c.AdminPoliciesPage(form, tables, notice=notice, preview=preview, now=now, prefs=prefs)
    return render_response(request, "Policies (admin)", content, status=status)


@rt("/admin/policies", methods=["get"])
async def policies_admin(request: Request, done: str = "") -> HTMLResponse:
    permitted(request, PERMISSION)
    return await _page(request, notice="The version was published." if done == "published" else None)


async def _values(request: Request) -> dict[str, str]:
    form = await request.form()
    return {name: str(form.get(name, "")) for name in FIELDS}


@rt("/admin/policies/preview", methods=["post"])
async def preview_policy(request: Request) -> Response:
    permitted(request, PERMISSION)
    values = await _values(request)
    preview = c.Preview(values["title"].strip(), values["body"][: services.MAX_BODY])
    if is_htmx(request.headers):
        return HTMLResponse(to_xml(preview))
    return await _page(request, values=values, preview=preview)


@rt("/admin/policies", methods=["post"])
async def publish(request: Request) -> Response:
    permitted(request, PERMISSION)
    values = await _values(request)
    try:
        effective_at = parse_local(values["effective_at"], await viewer_prefs(request))
        async with context_of(request) as ctx:
            await services.publish(
                ctx,
                kind=values["kind"],
                version=values["version"],
                title=values["title"],
                body=values["body"],
                effective_at=effective_at,
            )
    except (Invalid, Conflict) as exc:
        return await _page(request, values=values, errors=exc.fields, message=exc.detail, status=exc.status)
    return RedirectResponse(f"{policies_admin.to()}?done=published", status_code=303)
