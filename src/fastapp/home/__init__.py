"""The home page and the instance description (pages and API)."""

from __future__ import annotations

from fastapp.home import api, pages
from fastapp.platform.registry import Registry


def register(registry: Registry) -> None:
    registry.page_routers.append(pages.rt)
    registry.api_routers.append(api.router)
    registry.nav_items.append(("Home", pages.index.to(), "house", ""))
