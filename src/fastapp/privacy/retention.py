"""Privacy: retention rules run by a daily job, and the data map generated from the registry."""

from __future__ import annotations

from fastapp.platform.registry import Registry


def register(registry: Registry) -> None:
    """The retention job and its schedule."""
