"""``/notifications`` (the inbox), ``/settings/notifications`` (preferences), the header bell's
menu and count, and ``/notifications/stream`` (live updates as Server-Sent Events).

Every page acts for the signed-in browser session only, on its own notifications. Changes are
POST forms with a CSRF token: HTMX swaps the item or list in place with a toast; without
JavaScript the form posts and the browser comes back to the page it was on.
"""

from __future__ import annotations

import uuid
from functools import lru_cache

from fasthtml.common import FT, APIRouter, NotStr, to_xml
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from fastapp.notifications import components as c
from fastapp.notifications import live, services
from fastapp.notifications.kinds import Category, Frequency
from fastapp.platform.auth import principal_of, request_context_args
from fastapp.platform.context import Context, Principal, open_context
from fastapp.platform.csrf import csrf_token
from fastapp.platform.errors import Invalid, NotFound, PermissionDenied, Unauthenticated
from fastapp.platform.htmx import is_htmx
from fastapp.ui.components import OobToast
from fastapp.ui.request import context_of, render_response, runtime_of, viewer_prefs

rt = APIRouter()
NOTICES = {
    "read": "Marked as read.",
    "all-read": "Every notification is marked as read.",
    "archived": "Archived.",
    "unarchived": "Moved back to your inbox.",
}


def _member(request: Request) -> Principal:
    """The browser session's verified principal; to sign-in (or 403) otherwise."""
    principal = principal_of(request.scope)
    if principal is None or principal.via != "cookie":
        raise Unauthenticated("Sign in to see your notifications.", next=request.url.path)
    if not principal.verified:
        raise PermissionDenied("Confirm your email address first: open the link we mailed you.")
    return principal


def _categories(request: Request) -> dict[str, Category]:
    found: dict[str, Category] = runtime_of(request).registry.notification_categories
    return found


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound("No such notification.") from exc


# -- the inbox ------------------------------------------------------------------------------------


def _values(request: Request, source: dict[str, str] | None = None) -> dict[str, str]:
    params = source if source is not None else dict(request.query_params)
    view = params.get("view", "all")
    category = params.get("category", "")
    return {
        "view": view if view in dict(c.VIEWS) else "all",
        "category": category if category in _categories(request) else "",
    }


def _filter(values: dict[str, str]) -> services.InboxFilter:
    return services.InboxFilter(
        unread_only=values["view"] == "unread",
        category=values["category"] or None,
        archived=services.Archived.only if values["view"] == "archived" else services.Archived.exclude,
    )


def _back(values: dict[str, str]) -> str:
    return c.query_url(notifications_page.to(), values)


def _urls(action: str, ident: str) -> str:
    routes = {"read": read_one, "archive": archive_one, "unarchive": unarchive_one}
    url: str = routes[action].to(notification_id=ident)
    return url


async def _results(request: Request, ctx: Context, values: dict[str, str], cursor: str = "") -> FT:
    page = await services.inbox(ctx, _filter(values), cursor=cursor or None)
    labels = {k: cat.label for k, cat in _categories(request).items()}
    csrf = csrf_token(request.scope)
    back = _back(values)
    prefs = await viewer_prefs(request)
    items = [
        c.NotificationItem(
            row, category=labels.get(row.category, row.category), csrf=csrf, back=back, urls=_urls, prefs=prefs
        )
        for row in page.items
    ]
    empty = {
        "unread": ("Nothing unread", "You are all caught up."),
        "archived": ("Nothing archived", "Notifications you archive wait here."),
    }.get(values["view"], ("No notifications", "When something happens that concerns you, it shows up here."))
    next_url = (
        c.query_url(notifications_page.to(), {**values, "cursor": page.next_cursor}) if page.next_cursor else None
    )
    return c.Results(items, empty=empty, next_url=next_url)


@rt("/notifications", methods=["get"])
async def notifications_page(request: Request, cursor: str = "", done: str = "") -> HTMLResponse:
    _member(request)
    values = _values(request)
    async with context_of(request) as ctx:
        results = await _results(request, ctx, values, cursor[:200])
    if is_htmx(request.headers) and request.headers.get("hx-target") == c.RESULTS_ID:
        return HTMLResponse(to_xml(results))
    page = c.InboxPage(
        c.FilterForm(notifications_page.to(), values, list(_categories(request).values())),
        results,
        c.ReadAllForm(read_all.to(), csrf_token(request.scope), values),
        settings_page.to(),
        NOTICES.get(done),
    )
    return render_response(request, "Notifications", page)


def _safe_back(value: str) -> str:
    """Where a plain form post returns: the inbox, with whatever filters it had."""
    base = notifications_page.to()
    return value if value == base or value.startswith(base + "?") else base


def _done(back: str, notice: str) -> RedirectResponse:
    joiner = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{joiner}done={notice}", status_code=303)


async def _change(request: Request, notification_id: str, action: str, next: str) -> Response:
    _member(request)
    change = {"read": services.mark_read, "archived": services.archive, "unarchived": services.unarchive}[action]
    ident = _id(notification_id)
    async with context_of(request) as ctx:
        row = await change(ctx, ident)
        label = _categories(request).get(row.category)
        item = c.NotificationItem(
            row,
            category=label.label if label else row.category,
            csrf=csrf_token(request.scope),
            back=_safe_back(next),
            urls=_urls,
            prefs=await viewer_prefs(request),
        )
    if is_htmx(request.headers):
        return HTMLResponse(to_xml((item, OobToast(NOTICES[action], "success"))))
    return _done(_safe_back(next), action)


@rt("/notifications/{notification_id}/read", methods=["post"])
async def read_one(request: Request, notification_id: str, next: str = "") -> Response:
    return await _change(request, notification_id, "read", next)


@rt("/notifications/{notification_id}/archive", methods=["post"])
async def archive_one(request: Request, notification_id: str, next: str = "") -> Response:
    return await _change(request, notification_id, "archived", next)


@rt("/notifications/{notification_id}/unarchive", methods=["post"])
async def unarchive_one(request: Request, notification_id: str, next: str = "") -> Response:
    return await _change(request, notification_id, "unarchived", next)


@rt("/notifications/read-all", methods=["post"])
async def read_all(request: Request) -> Response:
    _member(request)
    form = await request.form()
    values = _values(request, {k: str(v) for k, v in form.items()})
    async with context_of(request) as ctx:
        await services.mark_all_read(ctx, category=values["category"] or None)
        results = await _results(request, ctx, values)
    if is_htmx(request.headers):
        return HTMLResponse(to_xml((results, OobToast(NOTICES["all-read"], "success"))))
    return _done(_back(values), "all-read")


# -- the bell -------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _bell(menu_url: str, stream_url: str, count_url: str, page_url: str, settings_url: str) -> NotStr:
    # The same for every user and page: rendered once. The count arrives from app.js.
    return NotStr(
        to_xml(
            c.Bell(
                menu_url=menu_url,
                stream_url=stream_url,
                count_url=count_url,
                page_url=page_url,
                settings_url=settings_url,
            )
        )
    )


def bell_widget(request: Request) -> FT | None:
    """The header widget (``registry.header_widgets``): the bell, for verified browser sessions."""
    principal = principal_of(request.scope)
    if principal is None or principal.via != "cookie" or not principal.verified:
        return None
    return _bell(bell_menu.to(), stream.to(), bell_count.to(), notifications_page.to(), settings_page.to())


@rt("/notifications/menu", methods=["get"])
async def bell_menu(request: Request) -> HTMLResponse:
    """The bell menu's list, fetched when the menu opens."""
    _member(request)
    async with context_of(request) as ctx:
        rows = await services.latest(ctx)
    return HTMLResponse(to_xml(c.BellMenu(rows, notifications_page.to())))


@rt("/notifications/count", methods=["get"])
async def bell_count(request: Request) -> Response:
    """``{"unread": n}``: what app.js polls when live updates are unavailable."""
    principal = principal_of(request.scope)
    if principal is None or principal.via != "cookie" or not principal.verified:
        return JSONResponse({"detail": "Sign in to see your notifications."}, status_code=401)
    async with context_of(request) as ctx:
        unread = await services.unread_count(ctx)
    return JSONResponse({"unread": unread}, headers={"Cache-Control": "no-store"})


@rt("/notifications/stream", methods=["get"])
async def stream(request: Request) -> Response:
    """Server-Sent Events: the unread count at once, then every new notification and count."""
    principal = principal_of(request.scope)
    if principal is None or principal.via != "cookie" or not principal.verified:
        # No redirect: EventSource cannot follow one to a page; app.js falls back to polling.
        return Response("Sign in to receive notifications.", status_code=401, media_type="text/plain")
    runtime = runtime_of(request)
    args = request_context_args(request.scope)

    async def initial() -> bytes:
        async with open_context(runtime, **args) as ctx:  # a short transaction, closed before streaming
            unread = await services.unread_count(ctx)
        return live.sse("unread", {"unread": unread}, retry_ms=live.RETRY_MS)

    return live.EventStream(runtime.backends.cache, principal.user_id, initial, closing=live.closing_event(runtime))


# -- settings -------------------------------------------------------------------------------------


@rt("/settings/notifications", methods=["get"])
async def settings_page(request: Request, saved: str = "") -> HTMLResponse:
    principal = _member(request)
    async with context_of(request) as ctx:
        prefs = await services.preferences(ctx, principal.user_id)
    form = c.PreferencesForm(save_settings.to(), csrf_token(request.scope), prefs)
    notice = "Your notification settings are saved." if saved else None
    return render_response(request, "Notification settings", c.SettingsPage(form, notifications_page.to(), notice))


def _changes(form: dict[str, list[str]], categories: dict[str, Category]) -> dict[str, services.PreferenceChange]:
    """The form's rows as changes: an unticked switch is off (browsers send nothing for it)."""
    changes: dict[str, services.PreferenceChange] = {}
    for key in form.get("category", []):
        if key in changes:
            continue
        frequency = (form.get(f"frequency.{key}") or [""])[0]
        category = categories.get(key)
        choosable = category is not None and not (category.mandatory or category.urgent)
        changes[key] = services.PreferenceChange(
            in_app=bool(form.get(f"in_app.{key}")),
            email=bool(form.get(f"email.{key}")),
            email_frequency=Frequency(frequency) if choosable and frequency in set(Frequency) else None,
        )
    return changes


@rt("/settings/notifications", methods=["post"])
async def save_settings(request: Request) -> Response:
    principal = _member(request)
    data = await request.form()
    form = {key: [str(v) for v in data.getlist(key)] for key in data}
    csrf = csrf_token(request.scope)
    try:
        async with context_of(request) as ctx:
            prefs = await services.update_preferences(ctx, principal.user_id, _changes(form, _categories(request)))
    except Invalid as exc:
        async with context_of(request) as ctx:
            current = await services.preferences(ctx, principal.user_id)
        body = c.PreferencesForm(save_settings.to(), csrf, current, error=exc.detail)
        if is_htmx(request.headers):
            return HTMLResponse(to_xml(body), status_code=422)
        return render_response(
            request, "Notification settings", c.SettingsPage(body, notifications_page.to(), None), status=422
        )
    if is_htmx(request.headers):
        toast = OobToast("Your notification settings are saved.", "success")
        return HTMLResponse(to_xml((c.PreferencesForm(save_settings.to(), csrf, prefs), toast)))
    return RedirectResponse(f"{settings_page.to()}?saved=1", status_code=303)
