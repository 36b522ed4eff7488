"""Dates and times as the viewer wants them: their timezone, date order and clock.

``format_datetime`` is the one formatter pages use; ``DisplayPrefs`` is what it needs to know
about the viewer (``ui.request.viewer_prefs`` finds it for a request). A ``<time>`` element keeps
the exact UTC instant in its ``datetime`` attribute for machines and assistive technology.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fasthtml.common import FT, Time

_DATE_PATTERNS = {"iso": "%Y-%m-%d", "dmy": "%d/%m/%Y", "mdy": "%m/%d/%Y"}


@dataclass(frozen=True)
class DisplayPrefs:
    """How one viewer reads dates; the defaults (UTC, ISO, 24-hour) for visitors."""

    timezone: str = "UTC"
    date_format: str = "iso"
    time_format: str = "24h"


DEFAULT_DISPLAY = DisplayPrefs()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_datetime(value: datetime, prefs: DisplayPrefs = DEFAULT_DISPLAY, *, seconds: bool = False) -> str:
    """``value`` in the viewer's timezone and formats, ending with the zone's abbreviation
    (e.g. ``31/01/2026 1:45 PM CET``). A naive ``value`` is taken as UTC."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    local = aware.astimezone(_zone(prefs.timezone))
    date_part = local.strftime(_DATE_PATTERNS.get(prefs.date_format, _DATE_PATTERNS["iso"]))
    if prefs.time_format == "12h":
        hour = local.hour % 12 or 12
        time_part = f"{hour}:{local:%M}{f':{local:%S}' if seconds else ''} {'AM' if local.hour < 12 else 'PM'}"
    else:
        time_part = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{date_part} {time_part} {local.tzname() or prefs.timezone}"


def DateTime(value: datetime, prefs: DisplayPrefs = DEFAULT_DISPLAY, *, seconds: bool = False) -> FT:
    """A ``<time>`` element: the formatted text, the exact instant in ``datetime``."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return Time(format_datetime(aware, prefs, seconds=seconds), datetime=aware.astimezone(UTC).isoformat())
