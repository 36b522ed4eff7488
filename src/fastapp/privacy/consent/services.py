"""Consent: what a user (or an anonymous visitor) granted or withdrew, purpose by purpose.

Every decision is a ``ConsentRecord``: the purpose, granted or withdrawn, when, under which
privacy-policy version and from where (banner, settings, sign-up, api). Records are only ever
added, so the table is the history; the current state of a purpose is its newest record, and a
purpose without one is not granted (necessary purposes are always on and never recorded).

A visitor's records carry their random visitor id; at sign-up ``merge_visitor`` hands them to the
new account. ``has_consent`` is the question features and marketing mail ask.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, update

from fastapp.audit import Action, record
from fastapp.platform.context import Context
from fastapp.platform.errors import Invalid, Unauthenticated
from fastapp.platform.privacy import ConsentPurpose
from fastapp.privacy.models import ConsentRecord, PolicyKind, PolicyVersion

#: Where a decision was made.
SOURCES = frozenset({"banner", "settings", "sign-up", "api"})
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
#: A visitor id is our own ``secrets.token_urlsafe``: anything else is not one of ours.
VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: Where each user's current state is cached for page rendering (``consent.web``).
CACHE_PREFIX = "privacy:consent:"


def purposes(ctx: Context) -> dict[str, ConsentPurpose]:
    if ctx.runtime is None:
        raise RuntimeError("consent needs ctx.runtime: open the context with open_context(runtime, ...)")
    return ctx.runtime.registry.consent_purposes


def consentable(registered: Mapping[str, ConsentPurpose]) -> list[ConsentPurpose]:
    """The purposes a person can grant or withdraw, in registration order."""
    return [p for p in registered.values() if not p.necessary]


def is_visitor_id(value: str | None) -> bool:
    return value is not None and VISITOR_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class ConsentState:
    """The current state of every registered purpose for one person."""

    #: Purpose key -> granted, for every registered purpose (necessary ones are True).
    granted: dict[str, bool]
    #: The consentable purposes with a recorded decision.
    decided: frozenset[str]

    def complete(self, registered: Mapping[str, ConsentPurpose]) -> bool:
        """Whether every consentable purpose has a decision (the banner need not ask again)."""
        return all(p.key in self.decided for p in consentable(registered))


def _owner(user_id: uuid.UUID | None, visitor_id: str | None) -> ColumnElement[bool]:
    if (user_id is None) == (visitor_id is None):
        raise ValueError("give exactly one of user_id and visitor_id")
    if user_id is not None:
        return ConsentRecord.user_id == user_id
    if not is_visitor_id(visitor_id):
        raise Invalid("This browser's visitor id is not valid.", fields={"visitor_id": "Not a visitor id"})
    # A visitor's records stay findable by its id after sign-up merged them into the account:
    # the browser's decision did not change by signing up.
    return ConsentRecord.visitor_id == visitor_id


async def _newest(ctx: Context, owner: ColumnElement[bool], purpose: str | None = None) -> dict[str, bool]:
    """Purpose -> granted of each purpose's newest record (of ``purpose`` only, when given)."""
    query = select(ConsentRecord.purpose, ConsentRecord.granted).where(owner)
    if purpose is not None:
        query = query.where(ConsentRecord.purpose == purpose)
    rows = await ctx.session.execute(query.order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc()))
    newest: dict[str, bool] = {}
    for purpose, granted in rows.all():
        newest.setdefault(purpose, bool(granted))
    return newest


async def current(ctx: Context, *, user_id: uuid.UUID | None = None, visitor_id: str | None = None) -> ConsentState:
    """The current state for a user or a visitor: the newest record per purpose, not granted
    where there is none, necessary purposes always granted."""
    newest = await _newest(ctx, _owner(user_id, visitor_id))
    registered = purposes(ctx)
    return ConsentState(
        granted={key: p.necessary or newest.get(key, False) for key, p in registered.items()},
        decided=frozenset(key for key in newest if key in registered and not registered[key].necessary),
    )


async def policy_version(ctx: Context) -> str:
    """The version of the privacy policy in force now ("" when none is published)."""
    found = await ctx.session.scalar(
        select(PolicyVersion.version)
        .where(PolicyVersion.kind == PolicyKind.privacy.value, PolicyVersion.effective_at <= ctx.clock.now())
        .order_by(PolicyVersion.effective_at.desc())
        .limit(1)
    )
    return found or ""


def _validate(registered: Mapping[str, ConsentPurpose], granted: Mapping[str, bool]) -> dict[str, bool]:
    """The decisions to consider (necessary ones dropped); ``Invalid`` naming every bad purpose."""
    problems: dict[str, str] = {}
    wanted: dict[str, bool] = {}
    for key, value in granted.items():
        purpose = registered.get(key)
        if purpose is None:
            problems[key] = f"Unknown purpose {key!r}."
        elif purpose.necessary:
            if not value:
                problems[key] = f"{purpose.label} is strictly necessary: it cannot be withdrawn."
        else:
            wanted[key] = bool(value)
    if problems:
        raise Invalid(" ".join(problems.values()), fields=problems)
    return wanted


async def record_decision(
    ctx: Context,
    *,
    granted: Mapping[str, bool],
    source: str,
    user_id: uuid.UUID | None = None,
    visitor_id: str | None = None,
) -> ConsentState:
    """Record a user's or a visitor's decisions and return their new state.

    One record per purpose whose state changes (a purpose never decided counts as changed), each
    with the privacy-policy version in force. ``Invalid`` (nothing written) for an unknown
    purpose or an attempt to withdraw a necessary one. A user's changes are audited and their
    cached state dropped once the transaction commits.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown consent source {source!r}")
    owner = _owner(user_id, visitor_id)
    registered = purposes(ctx)
    wanted = _validate(registered, granted)
    before = await _newest(ctx, owner)
    changed = {key: value for key, value in wanted.items() if before.get(key) != value}
    if changed:
        version = await policy_version(ctx)
        now = ctx.clock.now()
        ctx.session.add_all(
            ConsentRecord(
                id=uuid.uuid4(),
                user_id=user_id,
                visitor_id=visitor_id,
                purpose=key,
                granted=value,
                policy_version=version,
                source=source,
                created_at=now,
            )
            for key, value in changed.items()
        )
        await ctx.session.flush()
        if user_id is not None:
            await record(
                ctx,
                Action.PRIVACY_CONSENT_CHANGED,
                target=("user", user_id),
                data={
                    "source": source,
                    "granted": sorted(k for k, v in changed.items() if v),
                    "withdrawn": sorted(k for k, v in changed.items() if not v),
                    "policy_version": version,
                },
            )
            _forget_cached(ctx, user_id)
    after = {**before, **changed}
    return ConsentState(
        granted={key: p.necessary or after.get(key, False) for key, p in registered.items()},
        decided=frozenset(key for key in after if key in registered and not registered[key].necessary),
    )


def _forget_cached(ctx: Context, user_id: uuid.UUID) -> None:
    runtime = ctx.runtime
    if runtime is None:
        return
    key = CACHE_PREFIX + str(user_id)

    async def forget() -> None:
        await runtime.backends.cache.delete(key)

    ctx.on_commit(forget)


@dataclass(frozen=True)
class HistoryPage:
    items: list[ConsentRecord]
    page: int
    per_page: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


async def history(ctx: Context, user_id: uuid.UUID, *, page: int = 1, per_page: int = PAGE_SIZE) -> HistoryPage:
    """``user_id``'s decisions, newest first, one page of them (pages count from 1)."""
    if page < 1 or not 1 <= per_page <= MAX_PAGE_SIZE:
        raise Invalid(f"Pages count from 1 and hold 1 to {MAX_PAGE_SIZE} records.", fields={"page": "Out of range"})
    mine = ConsentRecord.user_id == user_id
    total = int(await ctx.session.scalar(select(func.count()).select_from(ConsentRecord).where(mine)) or 0)
    rows = await ctx.session.scalars(
        select(ConsentRecord)
        .where(mine)
        .order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return HistoryPage(items=list(rows.all()), page=page, per_page=per_page, total=total)


async def merge_visitor(ctx: Context, visitor_id: str, user_id: uuid.UUID) -> int:
    """At sign-up: the visitor's records become the new user's; returns how many moved.

    The records move rather than being copied with source ``sign-up``: their original time,
    source and policy version are the evidence of when and how consent was given (GDPR Art.
    7(1)), and a copy would claim a decision the user did not make at sign-up. Records already
    merged into an account (a second sign-up from the same browser) stay with that account.
    """
    if not is_visitor_id(visitor_id):
        return 0
    result = await ctx.session.execute(
        update(ConsentRecord)
        .where(ConsentRecord.visitor_id == visitor_id, ConsentRecord.user_id.is_(None))
        .values(user_id=user_id)
        .execution_options(synchronize_session=False)
    )
    moved = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if moved:
        state = await current(ctx, user_id=user_id)
        await record(
            ctx,
            Action.PRIVACY_CONSENT_CHANGED,
            target=("user", user_id),
            data={
                "source": "sign-up",
                "merged_records": moved,
                "granted": sorted(k for k in state.decided if state.granted[k]),
                "withdrawn": sorted(k for k in state.decided if not state.granted[k]),
            },
        )
        _forget_cached(ctx, user_id)
    return moved


async def has_consent(ctx: Context, purpose: str, *, visitor_id: str | None = None) -> bool:
    """Whether the signed-in principal (or, with ``visitor_id``, that visitor) granted ``purpose``.

    Necessary purposes are always granted; with neither a principal nor a visitor id, nothing
    else is. ``Invalid`` for a purpose no one registered (a typo must not read as "no").
    """
    registered = purposes(ctx)
    spec = registered.get(purpose)
    if spec is None:
        raise Invalid(f"Unknown consent purpose {purpose!r}.", fields={"purpose": "Unknown purpose"})
    if spec.necessary:
        return True
    if visitor_id is not None:
        if not is_visitor_id(visitor_id):
            return False
        return (await _newest(ctx, _owner(None, visitor_id), purpose)).get(purpose, False)
    if ctx.principal is None:
        return False
    return (await _newest(ctx, _owner(ctx.principal.user_id, None), purpose)).get(purpose, False)


async def user_has_consent(ctx: Context, user_id: uuid.UUID, purpose: str) -> bool:
    """``registry.consent_check``: whether ``user_id`` granted ``purpose`` (read from the
    database, so a decision made earlier in the same transaction counts)."""
    registered = purposes(ctx)
    spec = registered.get(purpose)
    if spec is None:
        return False
    return spec.necessary or (await _newest(ctx, _owner(user_id, None), purpose)).get(purpose, False)


def me(ctx: Context) -> uuid.UUID:
    if ctx.principal is None:
        raise Unauthenticated("Sign in to manage your consent.")
    return ctx.principal.user_id
