"""The data map: what personal data FastApp stores, where, why and for how long, generated from
the registry (``datamap_markdown``), printed by ``fastapp privacy datamap`` and kept in
``docs/privacy.md`` between ``START`` and ``END`` (a test fails when it is stale).

The ``FASTAPP_*`` settings a source's retention text names are shown with their current values,
so an operator's own configuration gives their own map.
"""

from __future__ import annotations

import re
from typing import Any

from fastapp.config import Config
from fastapp.platform.registry import Registry

START = "<!-- datamap:start -->"
END = "<!-- datamap:end -->"
_SETTING = re.compile(r"FASTAPP_[A-Z0-9_]+")


def setting_values(config: Config) -> dict[str, Any]:
    """Every ``FASTAPP_*`` variable of the configuration's sections and its current value."""
    values: dict[str, Any] = {}
    for name in config.SECTIONS:
        section = getattr(config, name)
        prefix = str(section.model_config.get("env_prefix", "FASTAPP_"))
        for field in type(section).model_fields:
            values[f"{prefix}{field}".upper()] = getattr(section, field)
    return values


def _cell(text: str) -> str:
    """One Markdown table cell: no line breaks, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _with_values(text: str, values: dict[str, Any]) -> str:
    """``text`` with each setting it names followed by its current value."""

    def value(match: re.Match[str]) -> str:
        name = match.group(0)
        return f"`{name}` ({values[name]})" if name in values else f"`{name}`"

    return _SETTING.sub(value, text)


def datamap_markdown(registry: Registry, config: Config) -> str:
    """The data map in Markdown (ends with a newline), from the registry and ``config``."""
    values = setting_values(config)
    lines = [
        "### Personal data by source",
        "",
        "Each source is one file of a data export (`<key>.json`) and one step of an erasure.",
        "",
        "| Source | What is stored | Tables | Legal basis | Kept |",
        "|---|---|---|---|---|",
    ]
    for data in sorted(registry.personal_data.values(), key=lambda d: d.key):
        tables = ", ".join(f"`{name}`" for name in data.tables)
        lines.append(
            f"| {_cell(data.label)} (`{data.key}`) | {_cell(data.description)} | {tables} | "
            f"{_cell(data.legal_basis)} | {_cell(_with_values(data.retention, values))} |"
        )
    lines += [
        "",
        "### Retention rules",
        "",
        "Enforced daily by the `privacy.retention` job; a run that deletes anything is recorded in the audit log.",
        "",
        "| Rule | Deletes | After (days) | Setting |",
        "|---|---|---|---|",
    ]
    for key, rule in sorted(registry.retention_rules.items()):
        setting = f"`{rule.setting}`" if rule.setting else ""
        lines.append(f"| `{key}` | {_cell(rule.label)} | {rule.days(config)} | {setting} |")
    lines += ["", "### Consent purposes", ""]
    if registry.consent_purposes:
        lines += ["| Purpose | What it allows | Consent |", "|---|---|---|"]
        for key, purpose in sorted(registry.consent_purposes.items()):
            needed = "always on (strictly necessary)" if purpose.necessary else "asked; off until granted"
            lines.append(f"| {_cell(purpose.label)} (`{key}`) | {_cell(purpose.description)} | {needed} |")
    else:
        lines.append("No consent purposes are registered.")
    lines += [
        "",
        "### Tables with a user reference and no personal data to export",
        "",
        "| Table | Why |",
        "|---|---|",
    ]
    for name, reason in sorted(registry.personal_data_exempt.items()):
        lines.append(f"| `{name}` | {_cell(reason)} |")
    return "\n".join(lines) + "\n"


def generated_section(document: str) -> str | None:
    """The text between the markers in ``document``, or None when they are missing."""
    start, end = document.find(START), document.find(END)
    if start < 0 or end < start:
        return None
    return document[start + len(START) : end].strip("\n") + "\n"


def with_section(document: str, datamap: str) -> str:
    """``document`` with the text between its markers replaced by ``datamap``.

    Raises ``ValueError`` when the markers are missing.
    """
    start, end = document.find(START), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no {START} ... {END} section")
    return document[: start + len(START)] + "\n" + datamap + document[end:]
