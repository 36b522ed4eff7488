"""The data map generated from the registry, and docs/privacy.md kept in step with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastapp.app import build_registry
from fastapp.platform.privacy import ConsentPurpose
from fastapp.privacy.datamap import datamap_markdown, generated_section, with_section
from tests.conftest import make_config

DOC = Path(__file__).parents[2] / "docs" / "privacy.md"


def test_docs_privacy_holds_the_current_data_map(tmp_path: Path) -> None:
    expected = datamap_markdown(build_registry(), make_config(tmp_path))
    assert generated_section(DOC.read_text()) == expected, (
        "docs/privacy.md is out of date: run `uv run fastapp privacy datamap --write docs/privacy.md`"
    )


def test_the_map_names_every_source_table_rule_and_purpose(tmp_path: Path) -> None:
    registry = build_registry()
    registry.consent_purposes.clear()
    registry.add_consent_purpose(ConsentPurpose("necessary", "Necessary", "Signing in | security.", necessary=True))
    registry.add_consent_purpose(ConsentPurpose("marketing", "Marketing", "News\nby mail."))
    text = datamap_markdown(registry, make_config(tmp_path))
    for source in registry.personal_data.values():
        assert f"(`{source.key}`)" in text
        assert all(f"`{table}`" in text for table in source.tables)
    for key in registry.retention_rules:
        assert f"| `{key}` |" in text
    assert "| Necessary (`necessary`) | Signing in \\| security. | always on (strictly necessary) |" in text
    assert "| Marketing (`marketing`) | News by mail. | asked; off until granted |" in text
    assert "| `policy_versions` |" in text
    registry.consent_purposes.clear()
    assert "No consent purposes are registered." in datamap_markdown(registry, make_config(tmp_path))


def test_sections_are_found_and_replaced() -> None:
    doc = "a\n<!-- datamap:start -->\nold\n<!-- datamap:end -->\nb\n"
    assert generated_section(doc) == "old\n"
    assert with_section(doc, "new\n") == "a\n<!-- datamap:start -->\nnew\n<!-- datamap:end -->\nb\n"
    assert generated_section("no markers") is None
    with pytest.raises(ValueError, match="no <!-- datamap:start -->"):
        with_section("no markers", "x\n")
