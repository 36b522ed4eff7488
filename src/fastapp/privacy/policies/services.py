"""Policy versions: publishing the privacy policy and the terms, which versions are current,
and users' acceptances.

A version applies from its ``effective_at``; the current version of a kind is the newest one
whose date has come. Versions of one kind take effect in the order they are published: a new
version may not take effect before one already published (a scheduled version would otherwise
be overtaken by an older-numbered one). An effective date more than a minute in the past is
refused rather than taken as "now": a back-dated version would claim that acceptances recorded
before it was written covered its text. No date means "now".

Acceptance is recorded per version and never withdrawn (a user who no longer agrees erases
their account instead), which is what lets the request gate cache "accepted" answers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fastapp.audit.actions import Action
from fastapp.audit.services import Actor, record
from fastapp.platform.context import Context
from fastapp.platform.errors import Conflict, Invalid, PermissionDenied
from fastapp.privacy.models import PolicyAcceptance, PolicyKind, PolicyVersion

MANAGE = "privacy:manage"
#: Each kind and how pages name it.
KIND_LABELS = {PolicyKind.privacy.value: "Privacy policy", PolicyKind.terms.value: "Terms of service"}
#: Where acceptances come from (``PolicyAcceptance.source``).
SOURCES = frozenset({"sign-up", "page", "api"})
PAGE_SIZE = 20
MAX_BODY = 100_000
#: How far in the past an effective date may be (the time the form took to fill in).
PAST_TOLERANCE = timedelta(minutes=1)
#: ``runtime.services`` key of the request gate's per-process cache, dropped when a version is
#: published so this process sees it at once (others within the cache's lifetime).
CACHE_KEY = "privacy.policies.cache"
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


@dataclass(frozen=True)
class VersionPage:
    items: list[PolicyVersion]
    page: int
    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def label_of(kind: str) -> str:
    return KIND_LABELS.get(kind, kind)


def _require_manager(ctx: Context) -> None:
    if ctx.principal is None or not ctx.principal.can(MANAGE):
        raise PermissionDenied("Publishing policies needs the privacy:manage permission.")


async def _latest(ctx: Context, kind: str) -> PolicyVersion | None:
    """The version of ``kind`` that takes effect last (current or scheduled)."""
    return await ctx.session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.kind == kind)
        .order_by(PolicyVersion.effective_at.desc(), PolicyVersion.published_at.desc())
        .limit(1)
    )


async def publish(
    ctx: Context, *, kind: str, version: str, title: str, body: str, effective_at: datetime | None
) -> PolicyVersion:
    """Publish a version of ``kind`` taking effect at ``effective_at`` (None: now).

    Raises ``PermissionDenied`` without ``privacy:manage``, ``Invalid`` (with the fields) for bad
    input or a date in the past or before the latest version's, ``Conflict`` when the version
    number is taken for that kind.
    """
    _require_manager(ctx)
    now = ctx.clock.now()
    version, title = version.strip(), title.strip()
    errors: dict[str, str] = {}
    if kind not in KIND_LABELS:
        errors["kind"] = "Choose the privacy policy or the terms."
    if not _VERSION.match(version):
        errors["version"] = "Enter 1 to 32 letters, digits, dots, dashes or underscores (e.g. 2 or 2024-06)."
    if not 1 <= len(title) <= 200:
        errors["title"] = "Enter a title of 1 to 200 characters."
    if not body.strip() or len(body) > MAX_BODY:
        errors["body"] = f"Enter the text (up to {MAX_BODY:,} characters)."
    when = now if effective_at is None else effective_at
    if when.tzinfo is None:
        errors["effective_at"] = "Give the effective date with its time zone."
    elif when < now - PAST_TOLERANCE:
        errors["effective_at"] = "The effective date is in the past: leave it empty to apply the version now."
    if errors:
        raise Invalid("Please correct the fields below.", fields=errors)
    latest = await _latest(ctx, kind)
    if latest is not None and when < latest.effective_at:
        raise Invalid(
            f"Version {latest.version} takes effect on {latest.effective_at:%Y-%m-%d %H:%M} UTC; "
            "a newer version must take effect after it.",
            fields={"effective_at": "Choose a date after the latest version's."},
        )
    taken = await ctx.session.scalar(
        select(PolicyVersion.id).where(PolicyVersion.kind == kind, PolicyVersion.version == version)
    )
    if taken is not None:
        raise Conflict(
            f"Version {version} of the {label_of(kind).lower()} already exists: choose a new version number.",
            fields={"version": "This version number is taken."},
        )
    published = PolicyVersion(
        id=uuid.uuid4(),
        kind=kind,
        version=version,
        title=title,
        body=body,
        effective_at=when,
        published_at=now,
        published_by=ctx.principal.user_id if ctx.principal else None,
    )
    ctx.session.add(published)
    await ctx.session.flush()
    await record(
        ctx,
        Action.PRIVACY_POLICY_PUBLISHED,
        target=("policy", published.id),
        data={"kind": kind, "version": version, "effective_at": published.effective_at.isoformat()},
    )
    runtime = ctx.runtime

    async def forget() -> None:
        if runtime is not None:
            runtime.services.pop(CACHE_KEY, None)

    ctx.on_commit(forget)
    return published


async def current(ctx: Context, kind: str) -> PolicyVersion | None:
    """The version of ``kind`` in force now, or None before the first one takes effect."""
    return await ctx.session.scalar(
        select(PolicyVersion)
        .where(PolicyVersion.kind == kind, PolicyVersion.effective_at <= ctx.clock.now())
        .order_by(PolicyVersion.effective_at.desc(), PolicyVersion.published_at.desc())
        .limit(1)
    )


async def current_all(ctx: Context) -> list[PolicyVersion]:
    """The version in force of each kind that has one, privacy policy first."""
    found = [await current(ctx, kind) for kind in KIND_LABELS]
    return [version for version in found if version is not None]


async def next_change(ctx: Context) -> datetime | None:
    """When the next scheduled version takes effect (None when none is scheduled)."""
    value: datetime | None = await ctx.session.scalar(
        select(func.min(PolicyVersion.effective_at)).where(PolicyVersion.effective_at > ctx.clock.now())
    )
    return value


async def accepted_among(ctx: Context, user_id: uuid.UUID, policy_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``policy_ids`` the user has accepted."""
    wanted = list(policy_ids)
    if not wanted:
        return set()
    found = await ctx.session.scalars(
        select(PolicyAcceptance.policy_id).where(
            PolicyAcceptance.user_id == user_id, PolicyAcceptance.policy_id.in_(wanted)
        )
    )
    return set(found)


async def pending_for(ctx: Context, user_id: uuid.UUID) -> list[PolicyVersion]:
    """Current versions the user has not accepted yet."""
    versions = await current_all(ctx)
    accepted = await accepted_among(ctx, user_id, (v.id for v in versions))
    return [v for v in versions if v.id not in accepted]


def parse_ids(values: Iterable[object]) -> list[uuid.UUID]:
    """Policy version ids from strings (or UUIDs); ``Invalid`` for anything else."""
    ids: list[uuid.UUID] = []
    for value in values:
        try:
            ids.append(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value).strip()))
        except ValueError:
            raise Invalid(
                "A policy id is not valid.", fields={"policy_ids": f"{str(value)[:40]!r} is not a policy id."}
            ) from None
    return list(dict.fromkeys(ids))


async def accept(
    ctx: Context, user_id: uuid.UUID, policy_ids: Sequence[uuid.UUID], source: str, *, email: str | None = None
) -> list[PolicyVersion]:
    """Record that the user accepted these current versions; return the ones newly accepted.

    Accepting a version twice changes nothing (idempotent). Raises ``Invalid`` for no ids or an
    unknown id, ``Conflict`` for a version that is not current (superseded or not yet in force).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown acceptance source {source!r}")
    if not policy_ids:
        raise Invalid("Choose the versions to accept.", fields={"policy_ids": "Accept the current versions."})
    wanted = list(dict.fromkeys(policy_ids))
    versions = {v.id: v for v in await ctx.session.scalars(select(PolicyVersion).where(PolicyVersion.id.in_(wanted)))}
    unknown = [i for i in wanted if i not in versions]
    if unknown:
        raise Invalid("No policy version has that id.", fields={"policy_ids": f"Unknown policy {unknown[0]}."})
    in_force = {v.id for v in await current_all(ctx)}
    stale = [versions[i] for i in wanted if i not in in_force]
    if stale:
        old = stale[0]
        raise Conflict(
            f"Version {old.version} of the {label_of(old.kind).lower()} is not the current one: "
            "review the current version and accept it."
        )
    now = ctx.clock.now()
    insert = pg_insert if ctx.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    newly: list[PolicyVersion] = []
    for policy_id in wanted:
        # An upsert: two tabs (or a double click) accepting at once must not collide.
        result = await ctx.session.execute(
            insert(PolicyAcceptance)
            .values(id=uuid.uuid4(), user_id=user_id, policy_id=policy_id, accepted_at=now, source=source)
            .on_conflict_do_nothing(index_elements=["user_id", "policy_id"])
        )
        if result.rowcount:  # type: ignore[attr-defined]
            newly.append(versions[policy_id])
    for version in newly:
        await record(
            ctx,
            Action.PRIVACY_POLICY_ACCEPTED,
            actor=Actor.user(user_id, email) if ctx.principal is None else None,
            target=("policy", version.id),
            data={"kind": version.kind, "version": version.version, "source": source},
        )
    return newly


async def acceptances(ctx: Context, user_id: uuid.UUID) -> list[tuple[PolicyAcceptance, PolicyVersion]]:
    """Every version the user accepted, newest first."""
    rows = await ctx.session.execute(
        select(PolicyAcceptance, PolicyVersion)
        .join(PolicyVersion, PolicyVersion.id == PolicyAcceptance.policy_id)
        .where(PolicyAcceptance.user_id == user_id)
        .order_by(PolicyAcceptance.accepted_at.desc(), PolicyVersion.kind)
    )
    return [(acceptance, version) for acceptance, version in rows]


async def get_version(ctx: Context, kind: str, version: str) -> PolicyVersion | None:
    """A published version of ``kind`` by its number, once it is in force or to a manager."""
    found = await ctx.session.scalar(
        select(PolicyVersion).where(PolicyVersion.kind == kind, PolicyVersion.version == version)
    )
    if found is None:
        return None
    if found.effective_at > ctx.clock.now() and not (ctx.principal and ctx.principal.can(MANAGE)):
        return None  # a scheduled text is not public before its date
    return found


async def list_versions(
    ctx: Context, *, kind: str | None = None, page: int = 1, per_page: int = PAGE_SIZE
) -> VersionPage:
    """Versions newest first (by effective date), scheduled ones included for managers only."""
    conditions = [PolicyVersion.kind == kind] if kind else []
    if not (ctx.principal and ctx.principal.can(MANAGE)):
        conditions.append(PolicyVersion.effective_at <= ctx.clock.now())
    page = max(1, page)
    total = int(await ctx.session.scalar(select(func.count()).select_from(PolicyVersion).where(*conditions)) or 0)
    items = await ctx.session.scalars(
        select(PolicyVersion)
        .where(*conditions)
        .order_by(PolicyVersion.effective_at.desc(), PolicyVersion.published_at.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return VersionPage(list(items), page, total, per_page)
