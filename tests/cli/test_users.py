from __future__ import annotations

from click.testing import CliRunner

from fastapp.cli import main
from tests.accounts.conftest import STRONG


def test_create_admin_list_and_set_role(env: None) -> None:
    runner = CliRunner()
    assert "no users yet" in runner.invoke(main, ["users", "list"]).output
    created = runner.invoke(
        main, ["users", "create-admin", "--email", "Root@Example.com", "--password-stdin"], input=STRONG + "\n"
    )
    assert created.exit_code == 0, created.output
    assert "created owner Root@example.com" in created.output
    listed = runner.invoke(main, ["users", "list"]).output
    assert "Root@example.com" in listed and "owner" in listed and "active" in listed
    last = runner.invoke(main, ["users", "set-role", "root@example.com", "member"])
    assert last.exit_code == 1 and "last owner" in last.output
    duplicate = runner.invoke(
        main, ["users", "create-admin", "--email", "root@example.com", "--password-stdin"], input=STRONG + "\n"
    )
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    weak = runner.invoke(
        main, ["users", "create-admin", "--email", "b@example.com", "--password-stdin"], input="weak\n"
    )
    assert weak.exit_code == 1 and "at least 12" in weak.output
    unknown = runner.invoke(main, ["users", "set-role", "nobody@example.com", "admin"])
    assert unknown.exit_code == 1 and "no user" in unknown.output
