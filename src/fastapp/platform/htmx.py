"""HTMX request detection and response headers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def is_htmx(headers: Mapping[str, str]) -> bool:
    """True for an HTMX request that expects a fragment (not a history restore)."""
    return headers.get("hx-request") == "true" and headers.get("hx-history-restore-request") != "true"


def trigger_header(events: Mapping[str, Any]) -> dict[str, str]:
    """``HX-Trigger`` header firing ``events`` (name -> detail) on the client."""
    return {"HX-Trigger": json.dumps(dict(events), separators=(",", ":"))}
