from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from fastapp.cli import main
from tests.accounts.conftest import STRONG


def test_verify_reports_all_events_then_the_broken_link(env: None, var_dir: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(main, ["audit", "verify"])
    assert empty.exit_code == 0, empty.output
    assert "All 0 events verify." in empty.output
    for address in ("a@example.com", "b@example.com"):
        made = runner.invoke(
            main, ["users", "create-admin", "--email", address, "--password-stdin"], input=STRONG + "\n"
        )
        assert made.exit_code == 0, made.output
    good = runner.invoke(main, ["audit", "verify"])
    assert good.exit_code == 0, good.output
    assert "All 2 events verify." in good.output

    with sqlite3.connect(var_dir / "fastapp.db") as db:
        db.execute("UPDATE audit_events SET target_id = 'someone-else' WHERE seq = 1")
    broken = runner.invoke(main, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "Broken: event #1 was altered" in broken.output
    assert "(0 of 2 events verified before it)" in broken.output


def test_purge_keeps_what_is_within_retention(env: None) -> None:
    runner = CliRunner()
    runner.invoke(main, ["users", "create-admin", "--email", "a@example.com", "--password-stdin"], input=STRONG + "\n")
    kept = runner.invoke(main, ["audit", "purge"])
    assert kept.exit_code == 0, kept.output
    assert "No events from before" in kept.output
    refused = runner.invoke(main, ["audit", "purge", "--days", "0"])
    assert refused.exit_code == 2
    assert "keep at least one day" in refused.output
