"""Password hashing (Argon2id) and the password policy.

argon2-cffi's defaults are the RFC 9106 "low memory" Argon2id profile. ``verify`` runs the same
work whether or not an account exists (``verify_dummy``), so response time does not reveal
which emails are registered. Strength is judged by zxcvbn, which knows common passwords, names
and keyboard patterns, with the user's own email and name as inputs it penalises.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from fastapp.platform.errors import Invalid

MIN_LENGTH = 12
MAX_LENGTH = 1024
MIN_SCORE = 3  # zxcvbn 0..4: "safely unguessable: moderate protection from offline slow-hash scenario"
_ZXCVBN_PREFIX = 100  # zxcvbn is quadratic in length; a longer password is judged by its start

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("fastapp dummy password for timing equalisation")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False for a mismatch or an unreadable hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_dummy(password: str) -> None:
    """Spend the time of a real verification, for an email that has no account."""
    verify_password(_DUMMY_HASH, password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's; rehash on sign-in."""
    return _hasher.check_needs_rehash(password_hash)


def check_policy(password: str, *, user_inputs: list[str], field: str = "password") -> None:
    """Raise ``Invalid`` (with a message for ``field``) when the password is too short, too long,
    common or otherwise easy to guess."""
    if len(password) < MIN_LENGTH:
        _refuse(field, f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        _refuse(field, f"Use at most {MAX_LENGTH} characters.")
    result = zxcvbn(password[:_ZXCVBN_PREFIX], user_inputs=[i for i in user_inputs if i])
    if result["score"] < MIN_SCORE:
        feedback = result.get("feedback") or {}
        hint = feedback.get("warning") or "This password is easy to guess."
        suggestions = " ".join(feedback.get("suggestions") or ["Add more words or characters that are not common."])
        _refuse(field, f"{hint.rstrip('.')}. {suggestions}".strip())


def _refuse(field: str, message: str) -> None:
    raise Invalid(message, fields={field: message})
