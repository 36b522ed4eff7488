"""Audit log: a tamper-evident record of authentication, administration and sensitive access.

Domains call ``record(ctx, Action..., ...)`` inside the transaction of the change they describe.
"""

from __future__ import annotations

from fastapp.audit.actions import Action
from fastapp.audit.services import Actor, record
from fastapp.platform.registry import Registry

__all__ = ["Action", "Actor", "record", "register"]


def register(registry: Registry) -> None:
    """Nothing to route yet: the viewer and the API arrive with them."""
