from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clean FASTAPP_* environment in a temporary working folder; returns what it set."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("FASTAPP_"):
            monkeypatch.delenv(name)
    values = {"FASTAPP_VAR_DIR": str(tmp_path / "var"), "FASTAPP_LOG_LEVEL": "WARNING"}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def var_dir(env: dict[str, str]) -> Path:
    return Path(env["FASTAPP_VAR_DIR"])
