from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fastapp.cli import main
from fastapp.platform import migrate
from tests.conftest import PG_URL, TEST_SECRET, fresh_pg_database


def test_production_with_defaults_refuses_to_serve_and_names_each_variable(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["serve"], env={"FASTAPP_ENV": "production"})
    assert result.exit_code == 2
    for variable in ("FASTAPP_SECRET_KEY", "FASTAPP_DATABASE_URL", "FASTAPP_SITE_URL"):
        assert variable in result.output
    assert not Path(env["FASTAPP_VAR_DIR"]).exists()  # refused before touching anything


def test_invalid_configuration_names_the_variable(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["config", "check"], env={"FASTAPP_PORT": "nope"})
    assert result.exit_code == 1
    assert "FASTAPP_PORT" in result.output


def test_config_check_prints_redacted_configuration(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["config", "check"], env={"FASTAPP_SECRET_KEY": TEST_SECRET})
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["app"]["secret_key"] == "***"
    assert TEST_SECRET not in result.output
    assert "configuration OK" in result.stderr


def test_config_check_fails_for_unsafe_production(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["config", "check"], env={"FASTAPP_ENV": "production"})
    assert result.exit_code == 1
    assert "problem: FASTAPP_SECRET_KEY" in result.stderr


def test_openapi_writes_the_document(env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "openapi.json"
    result = CliRunner().invoke(main, ["openapi", "-o", str(target)])
    assert result.exit_code == 0, result.output
    document = json.loads(target.read_text())
    assert document["info"]["title"] == "FastApp API"
    assert "/instance" in document["paths"]
    printed = CliRunner().invoke(main, ["openapi"])
    assert json.loads(printed.stdout) == document


def test_db_commands_on_sqlite(env: dict[str, str]) -> None:
    runner = CliRunner()
    assert "base (not migrated)" in runner.invoke(main, ["db", "current"]).output
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0
    assert f"database at {migrate.head()}" in upgraded.output
    assert "(up to date)" in runner.invoke(main, ["db", "current"]).output
    down = runner.invoke(main, ["db", "downgrade", "base"])
    assert down.exit_code == 0
    assert "base (empty)" in down.output
    assert runner.invoke(main, ["db", "upgrade", "head"]).exit_code == 0


def test_db_revision_with_no_model_change_writes_an_empty_migration(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    for source in migrate.MIGRATIONS_DIR.joinpath("versions").glob("0*.py"):
        (versions / source.name).write_text(source.read_text())
    original = migrate._alembic_config

    def config_with_tmp_versions(*args: object, **kwargs: object) -> object:
        cfg = original(*args, **kwargs)  # type: ignore[arg-type]
        cfg.set_main_option("version_locations", str(versions))
        return cfg

    monkeypatch.setattr(migrate, "_alembic_config", config_with_tmp_versions)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(main, ["db", "revision", "-m", "nothing changed"])
    assert result.exit_code == 0, result.output
    written = [p for p in versions.glob("*.py") if "nothing_changed" in p.name]
    assert len(written) == 1
    text = written[0].read_text()
    assert f"Revises: {migrate.head()}" in text
    assert "op.create_table" not in text
    assert "op.drop_table" not in text


@pytest.mark.parametrize("kind", ["sqlite"] + (["postgresql"] if PG_URL else []))
def test_parallel_processes_migrate_once(env: dict[str, str], kind: str, tmp_path: Path) -> None:
    """Several processes starting at once, as several workers or hosts would."""
    with contextlib.ExitStack() as stack:
        url = f"sqlite+aiosqlite:///{tmp_path}/parallel.db"
        if kind == "postgresql":
            url = stack.enter_context(fresh_pg_database("fastapp_p"))
        child_env = {**os.environ, **env, "FASTAPP_DATABASE_URL": url}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "fastapp", "db", "upgrade"],
                env=child_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert all(f"database at {migrate.head()}" in out for out, _ in outputs)
