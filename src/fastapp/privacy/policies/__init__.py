"""Privacy: policies."""

from __future__ import annotations

from fastapp.platform.registry import Registry


def register(registry: Registry) -> None:
    """Routes, jobs and hooks of this part of the privacy domain."""
