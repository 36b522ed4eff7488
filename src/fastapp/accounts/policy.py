"""Permissions and the built-in roles. Checks are always by permission, never by role name."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapp.platform.context import Principal
from fastapp.platform.errors import PermissionDenied, ReauthenticationRequired

#: Every permission the platform knows, with what it allows. Domains add theirs as they arrive.
PERMISSIONS: dict[str, str] = {
    "users:read": "See user accounts and their details",
    "users:manage": "Change, deactivate and reactivate user accounts",
    "roles:manage": "Create roles and assign roles to users",
    "audit:read": "Read the audit log",
    "jobs:manage": "See the job queue; retry or discard failed jobs",
    "email:manage": "See email delivery statistics and messages; manage the suppression list",
    "files:manage": "See every user's files and usage, quarantined files; set file quotas",
    "privacy:manage": "See and process erasure requests, place legal holds; publish policy versions",
}

#: Built-in roles from the top down; each holds its own permissions and all of those below it.
BUILT_IN_ROLES: list[tuple[str, str, frozenset[str]]] = [
    ("owner", "Owns the instance: every permission, cannot be removed while the last", frozenset(PERMISSIONS)),
    (
        "admin",
        "Administers users and roles",
        frozenset(
            {
                "users:read",
                "users:manage",
                "roles:manage",
                "audit:read",
                "jobs:manage",
                "email:manage",
                "files:manage",
                "privacy:manage",
            }
        ),
    ),
    ("member", "A signed-up user", frozenset()),
]
DEFAULT_ROLE = "member"
OWNER_ROLE = "owner"


def require(principal: Principal | None, permission: str) -> Principal:
    """Return the principal when it holds ``permission``; raise ``PermissionDenied`` otherwise."""
    if principal is None or not principal.can(permission):
        raise PermissionDenied("You do not have permission to do that.")
    return principal


def can_grant(granter_permissions: frozenset[str], role_permissions: frozenset[str]) -> bool:
    """A user may only hand out permissions they hold themselves."""
    return role_permissions <= granter_permissions


def require_recent_authentication(principal: Principal, *, now: datetime, minutes: int) -> None:
    """Sensitive actions ("sudo mode") need a password or second factor within ``minutes``."""
    if now - principal.authenticated_at > timedelta(minutes=minutes):
        raise ReauthenticationRequired(
            f"For your security, confirm your password: it has been more than {minutes} minutes since you signed in."
        )
