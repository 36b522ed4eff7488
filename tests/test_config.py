from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from fastapp.config import DEFAULT_SECRET, Config, Environment, HttpSettings, load_config

PRODUCTION_VARS = ("FASTAPP_SECRET_KEY", "FASTAPP_DATABASE_URL", "FASTAPP_DEBUG", "FASTAPP_SITE_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in list(__import__("os").environ):
        if name.startswith("FASTAPP_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_development_setup() -> None:
    config = load_config()
    assert config.app.env is Environment.development
    assert config.is_sqlite
    assert config.database_url == "sqlite+aiosqlite:///var/fastapp.db"
    assert config.redis.url == ""
    assert config.production_problems() == []


def test_environment_variables_are_read_per_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAPP_DATABASE_URL", "postgresql+asyncpg://u:pw@db:5432/app")
    monkeypatch.setenv("FASTAPP_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setenv("FASTAPP_PORT", "8080")
    monkeypatch.setenv("FASTAPP_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16")
    config = load_config()
    assert not config.is_sqlite
    assert config.http.port == 8080
    assert config.http.trusted_proxies == ["10.0.0.1", "192.168.0.0/16"]
    assert config.redis.url == "redis://cache:6379/0"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FASTAPP_NAME=Acme Portal\nFASTAPP_LOG_LEVEL=debug\n")
    config = load_config()
    assert config.app.name == "Acme Portal"
    assert config.app.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FASTAPP_SITE_URL", "not a url"),
        ("FASTAPP_PORT", "99999"),
        ("FASTAPP_TRUSTED_PROXIES", "10.0.0.300"),
        ("FASTAPP_LOG_LEVEL", "LOUD"),
        ("FASTAPP_ENV", "staging"),
    ],
)
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        load_config()


def test_production_with_defaults_names_every_variable_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAPP_ENV", "production")
    monkeypatch.setenv("FASTAPP_DEBUG", "true")
    problems = load_config().production_problems()
    for variable in PRODUCTION_VARS:
        assert any(p.startswith(variable) for p in problems), variable


def test_production_needs_redis_with_several_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAPP_ENV", "production")
    monkeypatch.setenv("FASTAPP_WORKERS", "4")
    assert any(p.startswith("FASTAPP_REDIS_URL") for p in load_config().production_problems())


def test_sound_production_configuration_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAPP_ENV", "production")
    monkeypatch.setenv("FASTAPP_SECRET_KEY", "x" * 48)
    monkeypatch.setenv("FASTAPP_DATABASE_URL", "postgresql+asyncpg://app@db/app")
    monkeypatch.setenv("FASTAPP_SITE_URL", "https://app.example.com/")
    monkeypatch.setenv("FASTAPP_ENCRYPTION_KEYS", "k1:" + "A" * 43)
    monkeypatch.setenv("FASTAPP_SMTP_URL", "smtp://mail.internal:587")
    monkeypatch.setenv("FASTAPP_CLAMD_URL", "tcp://clamd.internal:3310")
    config = load_config()
    assert config.production_problems() == []
    assert config.app.site_url == "https://app.example.com"
    assert config.app.is_https


def test_production_needs_a_virus_scanner_unless_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAPP_ENV", "production")

    def scanner_problems() -> list[str]:
        return [p for p in load_config().production_problems() if "CLAMD" in p or "VIRUS" in p]

    assert scanner_problems() == [
        "FASTAPP_CLAMD_URL: set a clamd address so uploads are scanned "
        "(or FASTAPP_VIRUS_SCANNING=false to run without virus scanning)"
    ]
    monkeypatch.setenv("FASTAPP_VIRUS_SCANNING", "off")
    assert scanner_problems() == []
    assert load_config().scanner.active_url == ""
    monkeypatch.setenv("FASTAPP_VIRUS_SCANNING", "on")
    monkeypatch.setenv("FASTAPP_CLAMD_URL", "unix:///run/clamav/clamd.ctl")
    assert scanner_problems() == []
    assert load_config().scanner.active_url == "unix:///run/clamav/clamd.ctl"


def test_no_scanner_is_the_embedded_default() -> None:
    config = load_config()
    assert (config.scanner.clamd_url, config.scanner.virus_scanning, config.scanner.active_url) == ("", True, "")


@pytest.mark.parametrize(
    "url", ["clamd.internal:3310", "tcp://clamd.internal", "tcp://:3310", "unix://relative/clamd.sock", "http://h:1"]
)
def test_a_clamd_url_must_be_tcp_or_unix(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("FASTAPP_CLAMD_URL", url)
    with pytest.raises(ValidationError, match=r"clamd_url"):
        load_config()


def test_short_secret_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAPP_ENV", "production")
    monkeypatch.setenv("FASTAPP_SECRET_KEY", "short")
    assert any(p.startswith("FASTAPP_SECRET_KEY") for p in load_config().production_problems())


def test_redacted_hides_secrets_but_keeps_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTAPP_SECRET_KEY", "super-secret-value-123")
    monkeypatch.setenv("FASTAPP_DATABASE_URL", "postgresql+asyncpg://app:hunter2@db.internal:5432/app")
    redacted = load_config().redacted()
    text = repr(redacted)
    assert "super-secret-value-123" not in text
    assert "hunter2" not in text
    assert redacted["app"]["secret_key"] == "***"
    assert redacted["database"]["url"] == "postgresql+asyncpg://***@db.internal:5432/app"
    assert redacted["redis"]["url"] == ""


def test_default_secret_marker_is_what_production_refuses() -> None:
    config = Config()
    assert config.app.secret_key.get_secret_value() == DEFAULT_SECRET


def test_static_url_trailing_slash_is_dropped() -> None:
    assert HttpSettings(static_url="https://cdn.example.com/assets/").static_url == "https://cdn.example.com/assets"
