"""What domains declare: notification categories and kinds, and who receives them.

A **category** groups kinds for the user's preferences (one toggle per category and channel);
a **kind** is one event worth telling someone about. Domains declare both in ``register()``::

    registry.add_notification_category(Category("account", "Your account", "Roles and access changes"))
    registry.add_notification_kind(NotificationKind(
        key="account.role_granted", category="account",
        title="You now have the {role} role", body="{actor} gave you the {role} role.",
        link="/account", email_template="notification",
    ))

``title``, ``body`` and ``link`` are ``str.format`` templates filled from the ``data`` given to
``notify()``. A mandatory category (security notices) cannot be turned off; a category that is not
``urgent`` may be mailed as a daily digest when the user asks for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

#: The email category of a digest that lists several categories: unsubscribing from it turns off
#: email for every category the user has put on the daily digest.
DIGEST_CATEGORY = "digest"


class Channel(StrEnum):
    in_app = "in_app"
    email = "email"


class Frequency(StrEnum):
    immediately = "immediately"
    daily = "daily"


@dataclass(frozen=True, kw_only=True)
class Category:
    key: str
    label: str
    description: str = ""
    #: Cannot be turned off (security notices); shown locked on the preferences page.
    mandatory: bool = False
    #: Sent at once, never held for the daily digest.
    urgent: bool = False
    #: Channels on by default for a user who has not chosen.
    default_channels: frozenset[Channel] = frozenset({Channel.in_app, Channel.email})
    #: A consent purpose (e.g. "marketing"): the category's email goes only to users who granted
    #: it (``registry.consent_check``); None for the service's own messages.
    consent: str | None = None


@dataclass(frozen=True, kw_only=True)
class NotificationKind:
    key: str
    category: str
    title: str
    body: str = ""
    link: str | None = None
    #: The channels this kind can use at all (a user's preferences narrow them further).
    channels: frozenset[Channel] = frozenset({Channel.in_app, Channel.email})
    #: Mail template (``<name>.txt`` / ``<name>.html``); None uses the generic ``notification`` one.
    email_template: str | None = None
    #: Example data for template previews and tests.
    sample: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipient:
    """Who a notification goes to, as the accounts domain knows them."""

    user_id: uuid.UUID
    email: str
    display_name: str
    #: False for deactivated or locked accounts: they get nothing.
    active: bool = True
