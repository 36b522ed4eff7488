"""``/files``: the signed-in user's file manager.

Uploads go from app.js to ``POST /api/v1/files`` (one request per file, with a progress bar);
without JavaScript the same form posts to ``/files/upload`` and the browser comes back here. The
list's filters are a GET form HTMX upgrades; rename, delete and restore are POST forms with a
CSRF token that HTMX swaps in place, or that redirect back when posted plainly.

Every route acts for the browser session only, on its own files: another user's file is
``NotFound`` (the services decide that, not this module).
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs

from fasthtml.common import FT, APIRouter, to_xml
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from fastapp.files import components as c
from fastapp.files import downloads, services
from fastapp.files.models import StoredFile
from fastapp.files.upload import DEFAULT_PURPOSE, ReceivedUpload, too_large_message
from fastapp.platform.auth import principal_of, request_context_args
from fastapp.platform.context import Context, Principal, Runtime, open_context
from fastapp.platform.csrf import csrf_token
from fastapp.platform.errors import (
    DomainError,
    Invalid,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
)
from fastapp.platform.htmx import is_htmx
from fastapp.ui.components import OobToast, Toast
from fastapp.ui.layout import Page
from fastapp.ui.request import page_context, render_response, viewer_prefs

rt = APIRouter()
#: Where app.js sends each file: ``files.api``'s upload route under the API's mount (the layers
#: keep files below ``fastapp.api``, so its prefix is spelled out as ``downloads.SIGNED_PATH`` is).
API_UPLOAD_URL = "/api/v1/files"
NOTICES = {
    "uploaded": "Uploaded.",
    "renamed": "Renamed.",
    "deleted": "Moved to Recently deleted.",
    "restored": "Restored.",
}
#: The sort choices of ``components.SORTS`` as the services' order.
ORDERS = {
    "newest": (services.FileSort.date, True),
    "oldest": (services.FileSort.date, False),
    "name": (services.FileSort.name, False),
    "name_desc": (services.FileSort.name, True),
    "largest": (services.FileSort.size, True),
    "smallest": (services.FileSort.size, False),
}


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _context(request: Request) -> AbstractAsyncContextManager[Context]:
    return open_context(_runtime(request), **request_context_args(request.scope))


def _member(request: Request) -> Principal:
    """The browser session's verified principal; to sign-in (or 403) otherwise (the API's
    uploads need a confirmed address too)."""
    principal = principal_of(request.scope)
    if principal is None or principal.via != "cookie":
        raise Unauthenticated("Sign in to see your files.", next=request.url.path)
    if not principal.verified:
        raise PermissionDenied("Confirm your email address first: open the link we mailed you.")
    return principal


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise NotFound("No such file.") from exc


def _values(params: dict[str, str]) -> dict[str, str]:
    view = params.get("view", "active")
    kind = params.get("kind", "")
    sort = params.get("sort", "newest")
    page = params.get("page", "1")
    return {
        "view": view if view in dict(c.VIEWS) else "active",
        "q": params.get("q", "")[:120],
        "kind": kind if kind in dict(c.KINDS) else "",
        "sort": sort if sort in dict(c.SORTS) else "newest",
        "page": page if page.isdigit() and 0 < int(page) < 100_000 else "1",
    }


def _back(values: dict[str, str]) -> str:
    return c.query_url(
        files_page.to(),
        {k: v for k, v in values.items() if (k, v) not in {("view", "active"), ("sort", "newest"), ("page", "1")}},
    )


def _values_of(back: str) -> dict[str, str]:
    """The list's filters from a ``_back`` URL (where a form came from)."""
    return _values({k: v[0] for k, v in parse_qs(back.partition("?")[2]).items()})


def _safe_back(value: str) -> str:
    """Where a plain form post returns: the file manager, with whatever filters it had."""
    base = files_page.to()
    return value if value == base or value.startswith(base + "?") else base


def _urls(row: StoredFile) -> c.FileUrls:
    ident = str(row.id)
    download: str = download_file.to(file_id=ident)
    return c.FileUrls(
        download=download,
        inline=f"{download}?inline=1",
        rename=rename_file.to(file_id=ident),
        delete=delete_file.to(file_id=ident),
        restore=restore_file.to(file_id=ident),
    )


async def _results(
    request: Request,
    ctx: Context,
    principal: Principal,
    values: dict[str, str],
    failed_rename: tuple[uuid.UUID, str, str] | None = None,
) -> FT:
    """The list region; ``failed_rename`` (file, name tried, error) reopens that row's form."""
    deleted = values["view"] == "deleted"
    sort, descending = ORDERS[values["sort"]]
    found = await services.list_files(
        ctx,
        services.FileQuery(
            search=values["q"],
            sort=sort,
            descending=descending,
            type=values["kind"] or None,
            deleted=deleted,
            page=int(values["page"]),
        ),
    )
    usage = await services.usage(ctx, principal.user_id)
    csrf = csrf_token(request.scope)
    back = _back(values)
    retention = timedelta(days=services.settings_of(ctx).purge_days)
    prefs = await viewer_prefs(request)
    rows = [
        c.DeletedRow(row, restore_file.to(file_id=str(row.id)), row.deleted_at + retention, csrf, back, prefs=prefs)
        if deleted and row.deleted_at is not None
        else c.FileRow(row, _urls(row), csrf, back, prefs=prefs, **_rename_state(row, failed_rename))
        for row in found.items
    ]
    page = found.page
    last = found.pages
    pager = (
        c.Pager(
            _back({**values, "page": str(page - 1)}) if page > 1 else None,
            _back({**values, "page": str(page + 1)}) if page < last else None,
            f"Page {min(page, last)} of {last} · {found.total} files",
        )
        if last > 1 or page > 1
        else None
    )
    return c.Results(
        view=values["view"],
        rows=rows,
        refresh_url=_back(values),
        quota=c.QuotaBar(usage.bytes, usage.max_bytes, usage.files, usage.max_files),
        pager=pager,
        searched=bool(values["q"] or values["kind"]),
    )


def _rename_state(row: StoredFile, failed: tuple[uuid.UUID, str, str] | None) -> dict[str, str | None]:
    if failed is None or failed[0] != row.id:
        return {"rename_value": None, "rename_error": None}
    return {"rename_value": failed[1], "rename_error": failed[2]}


async def _page(
    request: Request,
    values: dict[str, str],
    *,
    notice: str | None = None,
    error: str | None = None,
    failed_rename: tuple[uuid.UUID, str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    principal = _member(request)
    async with _context(request) as ctx:
        results = await _results(request, ctx, principal, values, failed_rename)
    if is_htmx(request.headers) and request.headers.get("hx-target") == c.RESULTS_ID:
        return HTMLResponse(to_xml(results), status_code=status)
    csrf = csrf_token(request.scope)
    deleted = values["view"] == "deleted"
    tabs = c.ViewTabs(
        values["view"],
        {"active": files_page.to(), "deleted": c.query_url(files_page.to(), {"view": "deleted"})},
    )
    page = c.FilesPage(
        upload=None if deleted else c.UploadForm(upload_form.to(), API_UPLOAD_URL, csrf, error=error),
        tabs=tabs,
        filters=None if deleted else c.FilterForm(files_page.to(), values),
        results=results,
    )
    if notice is None or is_htmx(request.headers):
        return render_response(request, "Files", page, status=status)
    # After a plain form post (PRG) the outcome arrives as a toast, as it does over HTMX.
    shell = replace(page_context(request), toasts=(Toast(notice, "success"),))
    return HTMLResponse(to_xml(Page(shell, "Files", page)), status_code=status)


@rt("/files", methods=["get"])
async def files_page(request: Request, done: str = "") -> HTMLResponse:
    return await _page(request, _values(dict(request.query_params)), notice=NOTICES.get(done))


def _done(back: str, notice: str) -> RedirectResponse:
    joiner = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{joiner}done={notice}", status_code=303)


@rt("/files/upload", methods=["post"])
async def upload_form(request: Request) -> Response:
    """The uploader without JavaScript: one multipart form post, then back to the list."""
    _member(request)
    config = _runtime(request).config
    form = await request.form()
    try:
        received = await _received(
            form.get("file"),
            str(form.get("purpose") or "") or DEFAULT_PURPOSE,
            max_bytes=config.files.max_upload_bytes,
            tmp_dir=config.app.var_dir / "tmp" / "uploads",
        )
        try:
            async with _context(request) as ctx:
                await services.upload(ctx, received)
        finally:
            received.discard()
    except DomainError as exc:
        return await _page(request, _values({}), error=exc.detail, status=exc.status)
    finally:
        await form.close()
    return _done(files_page.to(), "uploaded")


async def _received(part: object, purpose: str, *, max_bytes: int, tmp_dir: Path) -> ReceivedUpload:
    """The form's file as the upload service takes it: copied to a temporary file, hashed.

    FastHTML has parsed the whole form before a route runs (so ``upload.receive_request``
    cannot stream it here); the body limit bounds what that costs.
    """
    if not isinstance(part, UploadFile) or not part.filename:
        raise Invalid("Choose a file to upload.", fields={"file": "No file was sent."})
    source: UploadFile = part

    def copy() -> ReceivedUpload:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        handle = tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="upload-", delete=False)  # noqa: SIM115 - kept
        with handle:
            source.file.seek(0)
            while chunk := source.file.read(1024 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    break
                digest.update(chunk)
                handle.write(chunk)
        received = ReceivedUpload(
            path=Path(handle.name),
            filename=source.filename or "",
            declared_type=source.content_type or "",
            size=size,
            sha256=digest.hexdigest(),
            purpose=purpose,
        )
        if size > max_bytes:
            received.discard()
            raise PayloadTooLarge(too_large_message(max_bytes))
        if size == 0:
            received.discard()
            raise Invalid("The file is empty.", fields={"file": "The file is empty."})
        return received

    return await asyncio.to_thread(copy)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items() if isinstance(v, str)}


@rt("/files/{file_id}/rename", methods=["post"])
async def rename_file(request: Request, file_id: str) -> Response:
    _member(request)
    ident = _id(file_id)
    form = await _form(request)
    name = form.get("name", "")[:300]
    back = _safe_back(form.get("next", ""))
    csrf = csrf_token(request.scope)
    try:
        async with _context(request) as ctx:
            row = await services.rename(ctx, ident, name)
            fresh = c.FileRow(row, _urls(row), csrf, back, prefs=await viewer_prefs(request))
    except Invalid as exc:
        message = exc.fields.get("name") or exc.detail
        if not is_htmx(request.headers):
            return await _page(request, _values_of(back), failed_rename=(ident, name, message), status=422)
        async with _context(request) as ctx:
            row = await services.get_file(ctx, ident)
            failed = c.FileRow(
                row, _urls(row), csrf, back, rename_value=name, rename_error=message, prefs=await viewer_prefs(request)
            )
        return HTMLResponse(to_xml(failed), status_code=422)
    if is_htmx(request.headers):
        return HTMLResponse(to_xml((fresh, OobToast(NOTICES["renamed"], "success"))))
    return _done(back, "renamed")


async def _move(request: Request, file_id: str, action: str) -> Response:
    principal = _member(request)
    ident = _id(file_id)
    form = await _form(request)
    back = _safe_back(form.get("next", ""))
    async with _context(request) as ctx:
        if action == "deleted":
            await services.delete(ctx, ident)
        else:
            await services.restore(ctx, ident)
        if is_htmx(request.headers):
            results = await _results(request, ctx, principal, _values_of(back))
    if is_htmx(request.headers):
        return HTMLResponse(to_xml((results, OobToast(NOTICES[action], "success"))))
    return _done(back, action)


@rt("/files/{file_id}/delete", methods=["post"])
async def delete_file(request: Request, file_id: str) -> Response:
    return await _move(request, file_id, "deleted")


@rt("/files/{file_id}/restore", methods=["post"])
async def restore_file(request: Request, file_id: str) -> Response:
    return await _move(request, file_id, "restored")


@rt("/files/{file_id}/download", methods=["get"])
async def download_file(request: Request, file_id: str, inline: str = "") -> Response:
    """The file's bytes for its owner (``?inline=1`` shows an image in the browser)."""
    _member(request)
    ident = _id(file_id)
    async with _context(request) as ctx:
        return await downloads.serve(ctx, ident, inline=bool(inline), range_header=request.headers.get("range"))
