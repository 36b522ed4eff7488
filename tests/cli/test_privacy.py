"""``fastapp privacy datamap``: prints the data map, checks and rewrites a document's section."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fastapp.cli import main

DOC = "# Privacy\n\nIntro.\n\n<!-- datamap:start -->\nstale\n<!-- datamap:end -->\n\nMore.\n"


def test_datamap_prints_every_source_rule_and_setting(env: None) -> None:
    printed = CliRunner().invoke(main, ["privacy", "datamap"])
    assert printed.exit_code == 0, printed.output
    assert "| Account (`accounts`) |" in printed.output
    assert "`FASTAPP_PRIVACY_ENDED_SESSION_DAYS` (90)" in printed.output
    assert "| `audit` | Audit events | 400 | `FASTAPP_AUDIT_RETENTION_DAYS` |" in printed.output


def test_datamap_follows_the_configuration(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAPP_PRIVACY_EMAIL_RECORD_DAYS", "30")
    printed = CliRunner().invoke(main, ["privacy", "datamap"])
    assert "| `email_records` | Email records and their delivery events | 30 |" in printed.output


def test_check_and_write_a_documents_section(env: None, tmp_path: Path) -> None:
    runner = CliRunner()
    doc = tmp_path / "privacy.md"
    doc.write_text(DOC)
    stale = runner.invoke(main, ["privacy", "datamap", "--check", str(doc)])
    assert stale.exit_code == 1
    assert "out of date" in stale.output
    wrote = runner.invoke(main, ["privacy", "datamap", "--write", str(doc)])
    assert wrote.exit_code == 0, wrote.output
    text = doc.read_text()
    assert text.startswith("# Privacy\n\nIntro.\n\n<!-- datamap:start -->\n### Personal data by source")
    assert text.endswith("<!-- datamap:end -->\n\nMore.\n") and "stale" not in text
    fresh = runner.invoke(main, ["privacy", "datamap", "--check", str(doc)])
    assert fresh.exit_code == 0, fresh.output
    assert "up to date" in fresh.output

    doc.write_text("# No markers\n")
    missing = runner.invoke(main, ["privacy", "datamap", "--check", str(doc)])
    assert missing.exit_code == 1
    assert "has no <!-- datamap:start -->" in missing.output
