"""Who may see and fetch a file: pure predicates over the principal and the row."""

from __future__ import annotations

from fastapp.files.models import FileStatus, StoredFile
from fastapp.platform.context import Principal

#: Held by owners and admins: every user's files, usage and quarantine; quotas.
MANAGE = "files:manage"


def can_manage(principal: Principal | None) -> bool:
    return principal is not None and principal.can(MANAGE)


def can_see(principal: Principal | None, file: StoredFile) -> bool:
    """The owner sees their files; a manager sees everyone's (metadata only, see ``can_fetch``)."""
    return principal is not None and (file.owner_id == principal.user_id or can_manage(principal))


def can_fetch(principal: Principal | None, file: StoredFile) -> bool:
    """Whether ``principal`` may have the file's bytes.

    Nothing pending a scan or infected is ever served, nor a deleted file. A clean file is served
    to whoever may see it; an unscanned one (no scanner configured) only to its owner.
    """
    if principal is None or file.deleted_at is not None or not can_see(principal, file):
        return False
    if file.status == FileStatus.clean.value:
        return True
    return file.status == FileStatus.unscanned.value and file.owner_id == principal.user_id
