"""The privacy page (/privacy): a signed-in user's consent choices, accepted policies, data
export and account deletion, one section from each part of the domain."""

from __future__ import annotations

from fasthtml.common import APIRouter, Div
from starlette.requests import Request
from starlette.responses import HTMLResponse

from fastapp.accounts.web import signed_in
from fastapp.privacy.consent import pages as consent_pages
from fastapp.privacy.erasure import pages as erasure_pages
from fastapp.privacy.exports import pages as export_pages
from fastapp.privacy.policies import pages as policy_pages
from fastapp.ui.components import PageHeading
from fastapp.ui.request import render_response

rt = APIRouter()


@rt("/privacy", methods=["get"])
async def privacy_page(request: Request) -> HTMLResponse:
    principal = signed_in(request)
    sections = [
        await consent_pages.section(request, principal),
        await policy_pages.section(request, principal),
        await export_pages.section(request, principal),
        await erasure_pages.section(request, principal),
    ]
    return render_response(
        request,
        "Privacy",
        Div(
            PageHeading(
                "Privacy and your data", "What we keep about you, the choices you made, and your rights over it."
            ),
            *sections,
            cls="space-y-6",
        ),
    )
