"""The registry the app owns: the extension points domains fill in their ``register()``.

Domains add page routers, API routers, health checks and CSRF exemptions here; the composition
root reads it once when building the app. Later issues add rate limiters, job handlers,
schedules, privacy exporters, notification kinds and settings definitions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from fastapp.platform.privacy import ConsentPurpose, PersonalData, RetentionRule, SignUpHook

#: The nav "permission" every signed-in user holds (their own files, inbox, ...).
SIGNED_IN = "@signed-in"

HealthCheck = Callable[[], Awaitable[None]]
"""Return when healthy; raise (any exception, its message is reported) when not."""


@dataclass
class Registry:
    page_routers: list[Any] = field(default_factory=list)
    api_routers: list[Any] = field(default_factory=list)
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    csrf_exempt: set[str] = field(default_factory=set)
    #: (label, href, icon, permission) links in the main navigation, in registration order; a
    #: link with a permission is shown only to users who hold it ("" shows it to everyone,
    #: ``SIGNED_IN`` to every signed-in user).
    nav_items: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: Run once at start-up, after migrations, each in its own transaction (seed data, caches).
    on_startup: list[Callable[[AsyncSession], Awaitable[None]]] = field(default_factory=list)

    #: Long-running tasks of each process (started after start-up, cancelled at shutdown).
    background: list[Callable[[Any], Coroutine[Any, Any, None]]] = field(default_factory=list)
    #: Where pages send a visitor who must sign in (set by the accounts domain).
    sign_in_path: str | None = None
    #: URLs of the header's account menu: sign_in, sign_up, account, sign_out (set by accounts).
    account_links: dict[str, str] = field(default_factory=dict)
    #: Where an administrator sees one user, with ``{user_id}`` (set by accounts; linked from the audit log).
    user_detail_path: str | None = None
    #: Named rate limiters and their default limits ("5 per minute; 20 per hour").
    rate_limits: dict[str, str] = field(default_factory=dict)
    #: Job handlers by name: ``async def handler(runtime, ctx, payload)`` (see ``platform/jobs.py``).
    jobs: dict[str, Callable[[Any, Any, dict[str, Any]], Awaitable[None]]] = field(default_factory=dict)

    #: Periodic work: ``platform.jobs.Schedule`` objects (cron expressions enqueuing jobs).
    schedules: list[Any] = field(default_factory=list)
    #: Job queues the app uses; workers take all of them unless told otherwise (``--queues``).
    queues: list[str] = field(default_factory=lambda: ["default"])
    #: Notification categories and kinds by key (``notifications.kinds``); domains declare theirs.
    notification_categories: dict[str, Any] = field(default_factory=dict)
    notification_kinds: dict[str, Any] = field(default_factory=dict)
    #: ``async def lookup(ctx, user_ids) -> {user_id: notifications.Recipient}`` (set by accounts):
    #: how notifications learn a user's address and name without reading another domain's tables.
    recipients: Callable[[Any, Any], Awaitable[Any]] | None = None
    #: ``async def lookup(ctx, user_ids) -> {user_id: set of role names}`` (set by accounts): how
    #: files picks per-role default quotas without reading another domain's tables.
    user_roles: Callable[[Any, Any], Awaitable[dict[Any, set[str]]]] | None = None
    #: Widgets shown in the page header for a signed-in user, left of the account menu:
    #: ``(request) -> FT | None`` (the notification bell).
    header_widgets: list[Callable[[Any], Any]] = field(default_factory=list)
    #: Notices shown on every full page, visitors' too, at the top of ``<body>`` (the consent
    #: banner): ``(request) -> FT | None``. Called on every page render: no database query.
    page_notices: list[Callable[[Any], Any]] = field(default_factory=list)
    #: Application fields of the user profile (``accounts.profile.ProfileField``), in display
    #: order; their values are kept in ``User.profile_extra`` (see docs/development.md).
    profile_fields: list[Any] = field(default_factory=list)
    #: ``async def lookup(runtime, user_id) -> ui.dates.DisplayPrefs`` (set by accounts): how
    #: pages of any domain show dates in the viewer's timezone and formats.
    display_preferences: Callable[[Any, Any], Awaitable[Any]] | None = None
    #: What each domain keeps about users, how to export and erase it (``platform.privacy``).
    personal_data: dict[str, PersonalData] = field(default_factory=dict)
    #: Tables with a user reference that hold no personal data to export or erase, with the reason.
    personal_data_exempt: dict[str, str] = field(default_factory=dict)
    #: Consent purposes by key: necessary, preferences, analytics, marketing, and the application's.
    consent_purposes: dict[str, ConsentPurpose] = field(default_factory=dict)
    #: Retention rules by key, enforced daily by the privacy domain's retention job.
    retention_rules: dict[str, RetentionRule] = field(default_factory=dict)
    #: What sign-up asks for and records besides the account (policy acceptance, consent).
    sign_up_hooks: list[SignUpHook] = field(default_factory=list)
    #: ``async (ctx, user_id, purpose) -> bool`` (set by privacy): whether a user granted a purpose.
    consent_check: Callable[[Any, Any, str], Awaitable[bool]] | None = None
    #: ``async (runtime, scope, principal) -> Response | None`` run for signed-in requests after
    #: authentication: a response stops the request there (a policy that must be accepted first);
    #: a gate may also raise a ``DomainError``, rendered for the surface (problem+json or a page).
    request_gates: list[Callable[[Any, Any, Any], Awaitable[Any]]] = field(default_factory=list)
    #: Where sign-in sends a user whose account awaits erasure, to offer cancelling (set by privacy).
    cancel_erasure_path: str | None = None

    def add_personal_data(self, data: PersonalData) -> None:
        if data.key in self.personal_data:
            raise ValueError(f"personal data {data.key!r} is registered twice")
        self.personal_data[data.key] = data

    def add_consent_purpose(self, purpose: ConsentPurpose) -> None:
        if purpose.key in self.consent_purposes:
            raise ValueError(f"consent purpose {purpose.key!r} is registered twice")
        self.consent_purposes[purpose.key] = purpose

    def add_retention_rule(self, rule: RetentionRule) -> None:
        if rule.key in self.retention_rules:
            raise ValueError(f"retention rule {rule.key!r} is registered twice")
        self.retention_rules[rule.key] = rule

    def add_notification_category(self, category: Any) -> None:
        if category.key in self.notification_categories:
            raise ValueError(f"notification category {category.key!r} is registered twice")
        self.notification_categories[category.key] = category

    def add_notification_kind(self, kind: Any) -> None:
        if kind.key in self.notification_kinds:
            raise ValueError(f"notification kind {kind.key!r} is registered twice")
        if kind.category not in self.notification_categories:
            raise ValueError(f"notification kind {kind.key!r} names an unknown category {kind.category!r}")
        self.notification_kinds[kind.key] = kind

    def add_job(self, name: str, handler: Callable[[Any, Any, dict[str, Any]], Awaitable[None]]) -> None:
        if name in self.jobs:
            raise ValueError(f"job {name!r} is registered twice")
        self.jobs[name] = handler

    def add_queue(self, name: str) -> None:
        if name not in self.queues:
            self.queues.append(name)

    def add_rate_limit(self, name: str, default: str) -> None:
        if name in self.rate_limits:
            raise ValueError(f"rate limiter {name!r} is registered twice")
        self.rate_limits[name] = default

    def add_health_check(self, name: str, check: HealthCheck) -> None:
        if name in self.health_checks:
            raise ValueError(f"health check {name!r} is registered twice")
        self.health_checks[name] = check
