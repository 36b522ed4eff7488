"""Privacy exports: pages."""

from __future__ import annotations

from fasthtml.common import FT, APIRouter, Section
from starlette.requests import Request

from fastapp.platform.context import Principal

rt = APIRouter()


async def section(request: Request, principal: Principal) -> FT:
    """This part's section of the /privacy page."""
    return Section()
