"""Settings from defaults, NEWSDAG_* environment variables and overrides; bad values give one clear line."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from datetime import date
from pathlib import Path

import pytest

from newsdag.flows.settings import ENV_NAMES, Settings
from newsdag.tasks.errors import ConfigError

NEWSDAG = Path(sys.executable).parent / "newsdag"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No NEWSDAG_* variable of the calling shell leaks into these tests."""
    for env_name in ENV_NAMES.values():
        monkeypatch.delenv(env_name, raising=False)


def test_every_setting_has_an_environment_variable() -> None:
    assert set(ENV_NAMES) == {f.name for f in fields(Settings)}
    assert all(env_name.startswith("NEWSDAG_") for env_name in ENV_NAMES.values())


def test_defaults_without_environment() -> None:
    settings = Settings.from_env()
    assert settings == Settings()
    assert settings.batch_size == 200 and settings.respect_tdm is False and settings.allow_networks == ()
    assert settings.archive_path == Path("warehouse/archive")  # beside the database
    assert settings.report_path == Path("warehouse/report.html")


@pytest.mark.parametrize(
    ("env_name", "raw", "name", "value"),
    [
        ("NEWSDAG_DB", "/data/news.duckdb", "db_path", Path("/data/news.duckdb")),
        ("NEWSDAG_BATCH_SIZE", "50", "batch_size", 50),
        ("NEWSDAG_LOCK_TIMEOUT", "2.5", "lock_timeout_seconds", 2.5),
        ("NEWSDAG_EARLIEST_DATE", "2000-01-31", "earliest_date", date(2000, 1, 31)),
        ("NEWSDAG_RESPECT_TDM", "Yes", "respect_tdm", True),
        ("NEWSDAG_RESPECT_TDM", "off", "respect_tdm", False),
        ("NEWSDAG_ALLOW_NETWORKS", " 127.0.0.0/8, ,10.0.0.0/8 ", "allow_networks", ("127.0.0.0/8", "10.0.0.0/8")),
        ("NEWSDAG_LANGUAGES", "de,en", "languages", ("de", "en")),
        ("NEWSDAG_DASK_ADDRESS", "tcp://scheduler:8786", "dask_address", "tcp://scheduler:8786"),
    ],
)
def test_environment_variables_are_read_as_their_setting_type(
    monkeypatch: pytest.MonkeyPatch, env_name: str, raw: str, name: str, value: object
) -> None:
    monkeypatch.setenv(env_name, raw)
    assert getattr(Settings.from_env(), name) == value


def test_an_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDAG_BATCH_SIZE", "")
    assert Settings.from_env().batch_size == 200


def test_overrides_win_over_the_environment_and_none_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDAG_BATCH_SIZE", "50")
    monkeypatch.setenv("NEWSDAG_WORKERS", "3")
    settings = Settings.from_env(batch_size=7, workers=None)
    assert (settings.batch_size, settings.workers) == (7, 3)


@pytest.mark.parametrize(
    ("env_name", "raw", "message"),
    [
        ("NEWSDAG_BATCH_SIZE", "ten", "NEWSDAG_BATCH_SIZE: cannot read 'ten': invalid literal for int()"),
        ("NEWSDAG_LOCK_TIMEOUT", "1m", "NEWSDAG_LOCK_TIMEOUT: cannot read '1m': could not convert"),
        ("NEWSDAG_EARLIEST_DATE", "31.01.2000", "NEWSDAG_EARLIEST_DATE: cannot read '31.01.2000': Invalid isoformat"),
        ("NEWSDAG_RESPECT_TDM", "maybe", "NEWSDAG_RESPECT_TDM: cannot read 'maybe': expected one of 0, 1, false,"),
        ("NEWSDAG_BATCH_SIZE", "0", "NEWSDAG_BATCH_SIZE: must be at least 1, got 0"),
        ("NEWSDAG_EXTRACT_TIMEOUT", "-1", "NEWSDAG_EXTRACT_TIMEOUT: must not be negative, got -1.0"),
        ("NEWSDAG_DRIFT_REJECT_RATE", "1.5", "NEWSDAG_DRIFT_REJECT_RATE: must be above 0 and at most 1, got 1.5"),
        ("NEWSDAG_READ_TIMEOUT", "0", "NEWSDAG_READ_TIMEOUT: must be positive, got 0.0"),
        ("NEWSDAG_ALLOW_NETWORKS", "localhost", "NEWSDAG_ALLOW_NETWORKS: not a network in CIDR notation: 'localhost'"),
    ],
)
def test_a_bad_environment_value_names_its_variable_in_one_line(
    monkeypatch: pytest.MonkeyPatch, env_name: str, raw: str, message: str
) -> None:
    monkeypatch.setenv(env_name, raw)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env()
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_bad_override_names_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"^batch_size: must be at least 1, got 0$"):
        Settings.from_env(batch_size=0)


def test_the_cli_prints_a_bad_setting_as_one_error_line(tmp_path: Path) -> None:
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NEWSDAG_BATCH_SIZE": "lots"}
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>text</p></body></html>", encoding="utf-8")
    command = [str(NEWSDAG), "ingest", str(page), "--db", str(tmp_path / "news.duckdb"), "--prefect", "never"]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "newsdag: error: NEWSDAG_BATCH_SIZE: cannot read 'lots': invalid literal for int() with base 10: 'lots'"
    ]
    assert not (tmp_path / "news.duckdb").exists()  # nothing was run
