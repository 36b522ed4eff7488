"""Domain errors: what services raise instead of HTTP exceptions.

Each surface maps them once: ``api/errors.py`` to ``application/problem+json`` (RFC 9457) and
``web/errors.py`` to an error page, an inline form error or an HTMX toast. ``status`` and
``problem_type`` are the only HTTP-shaped facts an error carries; services never see requests.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a service may raise on purpose.

    ``detail`` is a message safe to show to the user; ``fields`` maps input field names to
    messages for inline form errors.
    """

    status: ClassVar[int] = 400
    problem_type: ClassVar[str] = "invalid"
    title: ClassVar[str] = "Invalid request"

    def __init__(self, detail: str, *, fields: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fields = dict(fields or {})
        self.extra = extra


class Invalid(DomainError):
    status = 422
    problem_type = "invalid"
    title = "Invalid input"


class NotFound(DomainError):
    status = 404
    problem_type = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    problem_type = "conflict"
    title = "Conflict"


class PermissionDenied(DomainError):
    status = 403
    problem_type = "permission-denied"
    title = "Permission denied"


class Unauthenticated(DomainError):
    """The action needs a signed-in user (pages redirect to sign-in, the API answers 401)."""

    status = 401
    problem_type = "unauthenticated"
    title = "Sign-in required"


class ReauthenticationRequired(PermissionDenied):
    """A sensitive action needs the user to have proved who they are recently ("sudo mode")."""

    problem_type = "reauthentication-required"
    title = "Confirm it is you"


class CsrfFailed(PermissionDenied):
    problem_type = "csrf-failed"
    title = "Request could not be verified"


class RateLimited(DomainError):
    status = 429
    problem_type = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, resets_in: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.resets_in = max(1, int(resets_in))


class PayloadTooLarge(DomainError):
    status = 413
    problem_type = "payload-too-large"
    title = "Request body too large"
