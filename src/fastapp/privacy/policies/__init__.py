"""Privacy: policy versions. Administrators publish versions of the privacy policy and the
terms; sign-up asks to accept the versions in force; a request gate sends signed-in users who
have not accepted a new version to the accept page (pages) or answers 403 (API)."""

from __future__ import annotations

from fastapp.platform.registry import Registry


def register(registry: Registry) -> None:
    """The pages, admin pages and API, the sign-up hook and the request gate."""
    from fastapp.privacy.policies import admin, api, gate, pages, signup

    registry.page_routers.append(pages.rt)
    registry.page_routers.append(admin.rt)
    registry.api_routers.append(api.router)
    registry.nav_items.append(("Policies (admin)", admin.policies_admin.to(), "scroll-text", admin.PERMISSION))
    registry.sign_up_hooks.append(signup.HOOK)
    registry.request_gates.append(gate.policy_gate)
