"""The public endpoints mail links point at: open pixel, click redirect, unsubscribe.

None needs a session: the signed token in the URL is the credential (``tracking.py``). The
unsubscribe URL takes POSTs without a CSRF token, because mail clients post to it themselves
(RFC 8058 one-click); it is listed in ``CSRF_EXEMPT`` below and checks the token's signature instead.
"""

from __future__ import annotations

from fasthtml.common import FT, A, APIRouter, Div, Form, P
from monsterui.franken import Card
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.notifications import tracking
from fastapp.notifications.email import kit
from fastapp.platform.csrf import csrf_token
from fastapp.platform.errors import NotFound
from fastapp.ui.components import CsrfField, PageHeading, SubmitButton
from fastapp.ui.request import context_of, render_response, runtime_of

rt = APIRouter()
#: csrf_exempt: one-click unsubscribe POSTs come from mail clients, with no CSRF token; the signed
#: token in the query string is what authorises them.
CSRF_EXEMPT = frozenset({tracking.UNSUBSCRIBE_PATH})
NO_STORE = {"Cache-Control": "no-store, private"}


@rt(tracking.OPEN_PATH, methods=["get"])
async def email_open(request: Request, token: str) -> Response:
    """The open pixel: always the image; recorded only for a valid token (and a real GET, not a
    HEAD from a link checker)."""
    message_id = kit(runtime_of(request)).tokens.read_open(token)
    if message_id is not None and request.method == "GET":
        async with context_of(request) as ctx:
            await tracking.record_open(ctx, message_id)
    return Response(tracking.PIXEL, media_type="image/gif", headers=NO_STORE)


@rt(tracking.CLICK_PATH, methods=["get"])
async def email_click(request: Request, token: str) -> Response:
    """Record the click and redirect to the signed URL; 404, and no redirect, for a bad token."""
    found = kit(runtime_of(request)).tokens.read_click(token)
    if found is None:
        raise NotFound(tracking.INVALID_LINK)
    message_id, url = found
    if request.method == "GET":
        async with context_of(request) as ctx:
            await tracking.record_click(ctx, message_id, url)
    return RedirectResponse(url, status_code=302, headers=NO_STORE)


def UnsubscribeCard(title: str, subtitle: str, *body: FT) -> FT:
    return Div(PageHeading(title, subtitle), Card(*body), cls="max-w-md mx-auto")


@rt(tracking.UNSUBSCRIBE_PATH, methods=["get"])
async def unsubscribe_page(request: Request) -> HTMLResponse:
    """A confirmation button (a POST: mail scanners that follow links must not unsubscribe)."""
    token = request.query_params.get("token", "")
    async with context_of(request) as ctx:
        target = await tracking.find_unsubscription(ctx, kit(runtime_of(request)).tokens, token)
    action = request.url.path + "?" + request.url.query
    form = Form(CsrfField(csrf_token(request.scope)), SubmitButton("Unsubscribe"), method="post", action=action)
    body = P(f"You will no longer get emails about {target.label}. Security and account emails still arrive.")
    return render_response(request, "Unsubscribe", UnsubscribeCard("Unsubscribe", "Stop these emails?", body, form))


@rt(tracking.UNSUBSCRIBE_PATH, methods=["post"])
async def unsubscribe(request: Request) -> HTMLResponse:
    """The page's button, or a mail client's one-click POST (body ``List-Unsubscribe=One-Click``)."""
    token = request.query_params.get("token", "")
    form = await request.form()
    one_click = form.get("List-Unsubscribe") == "One-Click"
    async with context_of(request) as ctx:
        target = await tracking.find_unsubscription(ctx, kit(runtime_of(request)).tokens, token)
        await tracking.unsubscribe(ctx, target, one_click=one_click)
    text = f"You will no longer get emails about {target.label}. Security and account emails still arrive."
    home = A("Back to the home page", href="/", cls="uk-link")
    return render_response(request, "Unsubscribed", UnsubscribeCard("You are unsubscribed", text, home))
