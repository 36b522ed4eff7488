"""Privacy (GDPR): data export, erasure with a grace period, consent, policy versions and retention.

The domain sits above every other domain: it reads what each one registered about the personal
data it keeps (``platform.privacy.PersonalData``) and drives exports and erasures through it.
Its parts are subpackages, each with a ``register(registry)``: ``exports``, ``erasure``,
``consent``, ``policies``, and ``retention`` (scheduled deletion and the data map).
"""

from __future__ import annotations

from fastapp.platform.registry import SIGNED_IN, Registry

#: The notification category of exports and erasure notices (always on: they answer the user's request).
CATEGORY = "privacy"


def register(registry: Registry) -> None:
    from fastapp.notifications import Category
    from fastapp.privacy import consent, erasure, exports, pages, personal_data, policies, retention

    registry.page_routers.append(pages.rt)
    registry.nav_items.append(("Privacy", pages.privacy_page.to(), "shield-check", SIGNED_IN))
    registry.add_notification_category(
        Category(
            key=CATEGORY,
            label="Privacy",
            description="Your data exports and account deletion.",
            mandatory=True,
            urgent=True,
        )
    )
    for part in (consent, policies, exports, erasure, retention):
        part.register(registry)
    personal_data.register(registry)
