"""Site-wide page routes that belong to no domain: the theme preference."""

from __future__ import annotations

from fasthtml.common import APIRouter, Redirect
from starlette.requests import Request
from starlette.responses import Response

from fastapp.accounts.profile import ProfileService
from fastapp.platform.auth import principal_of
from fastapp.platform.errors import Invalid
from fastapp.platform.htmx import is_htmx, trigger_header
from fastapp.ui.layout import THEME_MODES
from fastapp.ui.request import THEME_COOKIE, context_of

rt = APIRouter()
THEME_COOKIE_MAX_AGE = 400 * 24 * 3600


@rt("/preferences/theme", methods=["post"])
async def set_theme(request: Request, mode: str = "") -> Response:
    """Remember the light / dark / system choice in a cookie the shell reads on every page, and
    for a signed-in user in their preferences too (so it follows them to other browsers)."""
    if mode not in THEME_MODES:
        raise Invalid(f"Choose one of: {', '.join(THEME_MODES)}.", fields={"mode": "Unknown theme"})
    principal = principal_of(request.scope)
    if principal is not None and principal.via == "cookie":
        async with context_of(request) as ctx:
            await ProfileService(ctx).update_preferences(principal.user_id, {"theme": mode})
    secure = request.app.state.secure_cookies
    if is_htmx(request.headers):
        response = Response(status_code=204, headers=trigger_header({"themeChanged": {"mode": mode}}))
    else:
        back = request.headers.get("referer", "/")
        response = Redirect(back if back.startswith(str(request.base_url)) else "/").__response__(request)
    response.set_cookie(
        THEME_COOKIE, mode, max_age=THEME_COOKIE_MAX_AGE, path="/", secure=secure, httponly=True, samesite="lax"
    )
    return response
