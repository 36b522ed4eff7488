"""The home page: what this instance is and where to go next."""

from __future__ import annotations

from fasthtml.common import FT, APIRouter
from starlette.requests import Request

from fastapp.home.components import HomeContent
from fastapp.home.services import describe_instance, facts_from
from fastapp.platform.context import Runtime, open_context
from fastapp.ui.request import render

rt = APIRouter()
API_DOCS_URL = "/api/docs"


@rt("/", methods=["get"])
async def index(request: Request) -> FT | tuple[FT, ...]:
    runtime: Runtime = request.app.state.runtime
    async with open_context(runtime, request_id=request.state.request_id, ip=None) as ctx:
        summary = await describe_instance(ctx, facts_from(runtime.config))
    # Backend details help an operator and would help an attacker: shown outside production only.
    show = not runtime.config.is_production
    return render(request, "Home", HomeContent(summary, api_docs_url=API_DOCS_URL, show_details=show))
