"""``/api/v1/me/export``: request an export of your data, follow its progress, download it.

Requesting needs a sign-in within the last minutes, like every sensitive action of the API
(``403 reauthentication-required`` otherwise: sign in again for a fresh token).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from fastapp.accounts import wiring
from fastapp.accounts.policy import require_recent_authentication
from fastapp.api.deps import ContextDep, PrincipalDep, RuntimeDep
from fastapp.platform.context import Context
from fastapp.privacy.exports import downloads, services
from fastapp.privacy.exports.schemas import ExportOut
from fastapp.privacy.models import DataExport

router = APIRouter(prefix="/me/export", tags=["privacy"])
#: Where the API is mounted: this module stays below ``fastapp.api`` (import layers), so the
#: prefix is spelled out, as the files domain's signed download path is.
API_ROOT = "/api/v1"


def _out(ctx: Context, export: DataExport) -> ExportOut:
    url = API_ROOT + router.url_path_for("download_export", export_id=str(export.id))
    return ExportOut.of(export, now=ctx.clock.now(), download_url=url)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=ExportOut)
async def request_export(principal: PrincipalDep, ctx: ContextDep, runtime: RuntimeDep) -> ExportOut:
    """Ask for a ZIP of all your data (needs a sign-in within the last minutes). 409 while the
    previous one is being prepared; 429 (``Retry-After``, ``available_at``) within the interval
    after the last one."""
    require_recent_authentication(principal, now=ctx.clock.now(), minutes=wiring.kit(runtime).settings.sudo_minutes)
    return _out(ctx, await services.request_export(ctx, principal.user_id))


@router.get("", response_model=ExportOut)
async def latest_export(principal: PrincipalDep, ctx: ContextDep) -> ExportOut:
    """Your latest export: its status and progress, and while it is ready where to download it
    and until when. 404 when you have never requested one."""
    return _out(ctx, await services.get_latest(ctx, principal.user_id))


@router.get("/{export_id}/download", name="download_export", response_class=Response)
async def download_export(export_id: uuid.UUID, principal: PrincipalDep, ctx: ContextDep) -> Response:
    """The ZIP (``application/zip``, as an attachment) while the export is ready; 404 once it
    has expired, before it is ready, or for an export that is not yours."""
    return await downloads.serve(ctx, principal.user_id, export_id)
