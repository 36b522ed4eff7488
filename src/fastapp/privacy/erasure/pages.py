"""Account deletion pages: the privacy page's section, the request (re-authentication and the
typed address), the signed-out page that says what happens and when, and cancelling at sign-in.

Requesting needs a recent sign-in: an older one goes through the password confirmation first and
comes back to the section. Signing in to an account awaiting erasure shows an offer (rendered by
the accounts pages, which learn this address from ``registry.cancel_erasure_path``); its button
posts here, cancels the deletion and signs the user in.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

from fasthtml.common import FT, APIRouter, Redirect, to_xml
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.accounts import components as account_components
from fastapp.accounts import pages as account_pages
from fastapp.accounts import wiring
from fastapp.accounts.policy import require_recent_authentication
from fastapp.accounts.profile_components import set_theme_cookie
from fastapp.accounts.services import is_last_owner
from fastapp.accounts.web import context_of, csrf_of, runtime_of, signed_in
from fastapp.platform.context import Principal
from fastapp.platform.errors import Conflict, Invalid, ReauthenticationRequired
from fastapp.platform.htmx import is_htmx
from fastapp.privacy.erasure import components as c
from fastapp.privacy.erasure.services import LAST_OWNER, ErasureService
from fastapp.ui.request import render_response, viewer_prefs

rt = APIRouter()


CANCELLED_KEY = "erasure"


def section_link(query: str = "") -> str:
    """Where the section lives on the privacy page."""
    from fastapp.privacy import pages as privacy_pages  # it imports this module to build the page

    return f"{privacy_pages.privacy_page.to()}{query}#{c.SECTION_ID}"


async def _section(
    request: Request, principal: Principal, *, value: str = "", error: str | None = None, cancelled: bool = False
) -> FT:
    runtime = runtime_of(request)
    async with context_of(request) as ctx:
        last_owner = await is_last_owner(ctx, principal.user_id)
    settings = runtime.config.privacy
    return c.ErasureSection(
        request_erasure.to(),
        csrf_of(request),
        email=principal.email,
        grace_days=settings.erasure_grace_days,
        reminder_days=settings.erasure_reminder_days,
        last_owner=LAST_OWNER if last_owner else None,
        value=value,
        error=error,
        cancelled=cancelled,
    )


async def section(request: Request, principal: Principal) -> FT:
    """This part's section of the /privacy page (greeting a user who just cancelled the deletion)."""
    return await _section(request, principal, cancelled=request.query_params.get(CANCELLED_KEY) == "cancelled")


@rt("/privacy/erasure", methods=["post"])
async def request_erasure(request: Request, confirm: str = "") -> Response:
    """Schedule the deletion (after a recent password confirmation), end this browser's session
    with every other, and show what happens next; a wrong address is an inline error (422)."""
    principal = signed_in(request)
    runtime = runtime_of(request)
    try:
        require_recent_authentication(
            principal, now=runtime.backends.clock.now(), minutes=wiring.kit(runtime).settings.sudo_minutes
        )
    except ReauthenticationRequired:
        target = f"{account_pages.confirm_password_page.to()}?next={quote(section_link())}"
        response: Response = Redirect(target).__response__(request)
        return response
    try:
        async with context_of(request) as ctx:
            erasure = await ErasureService(runtime, ctx).request(principal, confirmation=confirm)
    except (Invalid, Conflict) as exc:
        body = await _section(request, principal, value=confirm, error=exc.fields.get("confirm", exc.detail))
        if is_htmx(request.headers):
            return HTMLResponse(to_xml(body), status_code=exc.status)
        return render_response(request, "Delete your account", body, status=exc.status)
    target = f"{scheduled_page.to()}?{urlencode({'due': erasure.due_at.isoformat()})}"
    if is_htmx(request.headers):  # htmx loads the page itself, without this cookie
        response = Response(status_code=204, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    k = wiring.kit(runtime)
    response.delete_cookie(k.cookie_name, path="/", secure=k.secure_cookies, httponly=True, samesite="lax")
    return response


@rt("/account/deletion-scheduled", methods=["get"])
async def scheduled_page(request: Request, due: str = "") -> HTMLResponse:
    """Signed out: when the erasure happens and how to cancel it (the date comes from the
    redirect; anything else in its place shows the words instead)."""
    try:
        due_at: datetime | None = datetime.fromisoformat(due)
    except ValueError:
        due_at = None
    if due_at is not None and due_at.tzinfo is None:
        due_at = None
    body = c.ScheduledPage(due_at, account_pages.sign_in_page.to(), await viewer_prefs(request))
    return render_response(request, "Account deletion scheduled", body)


@rt("/account/deletion/cancel", methods=["post"])
async def cancel_erasure(request: Request, token: str = "") -> Response:
    """Cancel the deletion the sign-in offer's token names, then sign in (or choose the new
    password an administrator asked for first)."""
    runtime = runtime_of(request)
    try:
        async with context_of(request) as ctx:
            user = await ErasureService(runtime, ctx).cancel(token)
            accounts = wiring.accounts(runtime, ctx)
            if (reset := accounts.required_reset_token(user)) is not None:
                reset_response: Response = Redirect(
                    f"{account_pages.reset_password_page.to()}?token={reset}"
                ).__response__(request)
                return reset_response
            _, session_token = await accounts.start_session(user, wiring.sessions(runtime, ctx), kind="browser")
            verified, theme = user.email_verified_at is not None, user.theme
    except Invalid as exc:
        link = account_components.Link("Sign in", account_pages.sign_in_page.to())
        body = account_components.AuthCard("The deletion was not cancelled", exc.detail, footer=link)
        return render_response(request, "The deletion was not cancelled", body, status=422)
    target = section_link(f"?{CANCELLED_KEY}=cancelled") if verified else account_pages.verify_pending.to()
    response = account_pages.signed_in_response(request, runtime, session_token, remember=False, target=target)
    if theme != "system":
        set_theme_cookie(request, response, theme)
    return response
