"""Files: uploads with validation, storage (local or S3), quotas, virus scanning, downloads and
the file manager.

Other domains and the pages use ``services`` (upload, list, get, rename, delete, restore, usage,
admin views and quotas), ``downloads`` (download URLs, streaming responses) and
``upload.receive_request`` (streaming a multipart request to a temporary file).
"""

from __future__ import annotations

from fastapp.platform.registry import SIGNED_IN, Registry


def register(registry: Registry) -> None:
    """Routes, jobs and schedules of the files domain."""
    from fastapp.files import personal_data

    _register_backend(registry)
    personal_data.register(registry)
    _register_pages(registry)


def _register_backend(registry: Registry) -> None:
    """The API, the scan and purge jobs and their schedules, and the quarantine notification."""
    from fastapp.files import api, tasks
    from fastapp.files.scanning import QUARANTINED_KIND, sample_data
    from fastapp.notifications import Category, NotificationKind

    registry.api_routers.append(api.router)
    registry.add_job(tasks.SCAN_JOB, tasks.scan)
    registry.add_job(tasks.PURGE_JOB, tasks.purge)
    registry.add_job(tasks.RESCAN_JOB, tasks.rescan)
    registry.schedules.extend([tasks.PURGE_SCHEDULE, tasks.RESCAN_SCHEDULE])
    registry.add_notification_category(
        Category(key="files", label="Files", description="Your uploads: virus scan results.", urgent=True)
    )
    registry.add_notification_kind(
        NotificationKind(
            key=QUARANTINED_KIND,
            category="files",
            title="A file you uploaded was quarantined",
            body="The virus scan found {signature} in {name}. It cannot be downloaded.",
            link="/files",
            sample=sample_data(),
        )
    )


def _register_pages(registry: Registry) -> None:
    """The file manager (``/files``) and ``/admin/files``, with their navigation links."""
    from fastapp.files import admin, pages

    registry.page_routers.append(pages.rt)
    registry.page_routers.append(admin.rt)
    # "" shows the link to every visitor; /files sends a signed-out one to sign in first.
    registry.nav_items.append(("Files", pages.files_page.to(), "folder", SIGNED_IN))
    registry.nav_items.append(("Files (admin)", admin.files_admin.to(), "folder-cog", admin.PERMISSION))
