"""A readable device name ("Firefox on Windows") from a User-Agent header."""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse


@lru_cache(maxsize=1024)
def device_name(user_agent: str) -> str:
    if not user_agent:
        return "Unknown device"
    result = parse(user_agent[:512])
    browser = result.user_agent.family if result.user_agent else ""
    system = result.os.family if result.os else ""
    browser = "" if browser == "Other" else browser
    system = "" if system == "Other" else system
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"
