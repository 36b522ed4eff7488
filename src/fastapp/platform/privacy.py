"""The contract between the privacy domain and every domain that keeps personal data.

Each domain tells the registry, in its ``register()``, what it holds about a user, why, for how
long, and how to export and erase it (``PersonalData``); which consent purposes it defines
(``ConsentPurpose``); and which retention rules it enforces (``RetentionRule``). The privacy
domain (above every other domain) reads these to build exports, run erasures, gate features on
consent and write the data map. The types live here, below the domains, so that every domain
can declare its data without importing the privacy domain.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlalchemy.orm import InstrumentedAttribute

if TYPE_CHECKING:
    from fastapp.config import Config
    from fastapp.platform.context import Context


@dataclass(frozen=True)
class ExportedFile:
    """A stored object that belongs in a user's export, copied into the ZIP under ``files/``."""

    #: Path inside the export's ``files/`` folder (unique within one domain's files).
    name: str
    #: The object's key in the files storage (``platform.storage.Storage``).
    storage_key: str


@dataclass(frozen=True)
class ExportedData:
    """One domain's data about one user: JSON-ready records by kind, plus file references."""

    #: ``{"sessions": [{...}, ...], "profile": [{...}]}``: every value must serialise to JSON.
    records: Mapping[str, Sequence[Mapping[str, Any]]]
    files: Sequence[ExportedFile] = ()


@dataclass(frozen=True)
class ErasureSubject:
    """Who is being erased, as known just before any eraser runs (erasers may use the email and
    name to find copies, e.g. an address typed into an audit event or a mail record)."""

    user_id: uuid.UUID
    email: str
    display_name: str
    #: IP addresses the user's sessions were seen from.
    ips: frozenset[str] = frozenset()


Exporter = Callable[["Context", uuid.UUID], Awaitable[ExportedData]]
"""``async def export(ctx, user_id) -> ExportedData``: read-only; nothing of another user."""


async def delete_user_rows(ctx: Context, user_id: uuid.UUID, *columns: InstrumentedAttribute[Any]) -> int:
    """For erasers: delete, in ``ctx``'s transaction, every row whose ``column`` (a mapped
    attribute such as ``StoredFile.owner_id``) is ``user_id``; how many rows went in all."""
    changed = 0
    for column in columns:
        result = await ctx.session.execute(delete(column.class_).where(column == user_id))
        changed += int(result.rowcount)  # type: ignore[attr-defined]
    return changed


Eraser = Callable[["Context", ErasureSubject], Awaitable[int]]
"""``async def erase(ctx, subject) -> int``: delete or anonymize the subject's data in ``ctx``'s
transaction (the erasure job commits once for all domains); return how many rows changed.
Objects in storage are deleted after the commit (``ctx.on_commit``). Must be idempotent."""


@dataclass(frozen=True)
class PersonalData:
    """What one domain (or part of one) keeps about users, registered with
    ``Registry.add_personal_data``."""

    #: Short key, also the export's JSON file name (``accounts`` -> ``accounts.json``).
    key: str
    label: str
    #: What is held, for the data map and the export's README.
    description: str
    #: The GDPR Art. 6 basis, e.g. "Contract (Art. 6(1)(b)): needed to provide the account".
    legal_basis: str
    #: How long it is kept, in words (the data map shows it); enforced by a ``RetentionRule``.
    retention: str
    #: Every table holding this data (the test that fails on an unregistered table reads it).
    tables: tuple[str, ...]
    export: Exporter
    erase: Eraser
    #: Erasers run in ascending order; the accounts' user row goes last.
    erase_order: int = 100


@dataclass(frozen=True)
class ConsentPurpose:
    """Why a non-essential cookie, script or message may be used; users grant or withdraw it."""

    key: str
    label: str
    description: str
    #: Always on and not consentable (strictly necessary cookies and processing).
    necessary: bool = False


@dataclass(frozen=True)
class RetentionRule:
    """A scheduled deletion of one kind of data older than a configured number of days."""

    key: str
    label: str
    #: The number of days, read from the configuration.
    days: Callable[[Config], int]
    #: ``async def purge(ctx, cutoff) -> int``: delete what is older than ``cutoff``; return the count.
    purge: Callable[[Context, datetime], Awaitable[int]]
    #: The ``FASTAPP_*`` variable that sets ``days`` (the data map names it).
    setting: str = ""


@dataclass(frozen=True)
class SignUpHook:
    """Something sign-up asks for and records (accepting the policies, keeping a visitor's
    consent choices). Pages and the API call each registered hook.

    ``answers`` holds the submitted form fields (pages) or the request body's fields (API), plus
    ``visitor_id`` when the browser carries one.
    """

    #: Extra fields of the sign-up form: ``async (runtime) -> list of FT``.
    fields: Callable[[Any], Awaitable[list[Any]]] | None = None
    #: Before any account is created, on every sign-up (a taken address too, so answers stay the
    #: same): ``async (ctx, answers) -> None``; raise ``Invalid(fields=...)`` to refuse.
    check: Callable[[Context, Mapping[str, Any]], Awaitable[None]] | None = None
    #: Once a new account exists, in the same transaction: ``async (ctx, user_id, answers) -> None``.
    created: Callable[[Context, uuid.UUID, Mapping[str, Any]], Awaitable[None]] | None = None


#: The anonymous visitor's random id, kept once they decide on the cookie banner (it ties their
#: consent records to them until sign-up merges them into the account).
VISITOR_COOKIE = "fastapp_visitor"
#: The visitor's current consent decisions (which purposes are granted), read by pages to decide
#: whether to show the banner and whether non-essential features may run.
CONSENT_COOKIE = "fastapp_consent"
