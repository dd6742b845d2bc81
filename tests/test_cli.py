"""The command line's errors: clear messages and exit code 2, never a stack trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.cli import main
from orchestration.config import ConfigError, Settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    landing = tmp_path / "landing"
    landing.mkdir()
    monkeypatch.setenv("CHAT_ANALYTICS_LANDING_DIR", str(landing))
    monkeypatch.setenv("CHAT_ANALYTICS_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    monkeypatch.setenv("CHAT_ANALYTICS_START_DATE", "2026-03-01")
    return tmp_path


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CHAT_ANALYTICS_TIMEZONE", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("CHAT_ANALYTICS_TIMEZONE", "../../etc/localtime", "unknown time zone"),
        ("CHAT_ANALYTICS_TIMEZONE", "localtime", "unknown time zone 'localtime'"),
        ("CHAT_ANALYTICS_INACTIVITY_MINUTES", "0", "inactivity must be positive"),
        ("CHAT_ANALYTICS_INACTIVITY_MINUTES", "1000000", "at most 525600 minutes"),
        ("CHAT_ANALYTICS_INACTIVITY_MINUTES", "ten", "whole number of minutes"),
        ("CHAT_ANALYTICS_HANDOVER_TIMEOUT_HOURS", "0", "must be longer than the inactivity"),
        ("CHAT_ANALYTICS_HANDOVER_TIMEOUT_HOURS", "0.1", "must be longer than the inactivity"),
        ("CHAT_ANALYTICS_HANDOVER_TIMEOUT_HOURS", "-24", "positive number of hours"),
        ("CHAT_ANALYTICS_HANDOVER_TIMEOUT_HOURS", "a day", "positive number of hours"),
        ("CHAT_ANALYTICS_HANDOVER_TIMEOUT_HOURS", "10000", "at most 8784 hours"),
        ("CHAT_ANALYTICS_HANDOVER_TIMEOUT_HOURS", "1.0001", "whole number of seconds"),
        ("CHAT_ANALYTICS_START_DATE", "2026-13-01", "YYYY-MM-DD"),
        ("CHAT_ANALYTICS_DUCKDB_MEMORY_LIMIT", "4", "memory limit must be a size"),
        ("CHAT_ANALYTICS_DUCKDB_MEMORY_LIMIT", "4GB'; drop table x; --", "memory limit must be a size"),
    ],
)
def test_bad_configuration_is_refused(
    env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, err = run(["materialize", "--start", "2026-03-02", "--end", "2026-03-03"], capsys)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_start_after_end(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["materialize", "--start", "2026-03-05", "--end", "2026-03-03"], capsys)
    assert code == 2 and "is after --end" in err


def test_range_outside_the_partitions(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["materialize", "--start", "2026-02-20", "--end", "2026-03-03"], capsys)
    assert code == 2 and "within the partitions 2026-03-01" in err


def test_missing_landing_directory(env: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("CHAT_ANALYTICS_LANDING_DIR", str(env / "nowhere"))
    code, err = run(["materialize", "--start", "2026-03-02", "--end", "2026-03-03"], capsys)
    assert code == 2 and "does not exist" in err


def test_bad_date_is_a_usage_error(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["materialize", "--start", "2026-3-32", "--end", "2026-03-03"])
    assert exit_info.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_report_without_a_warehouse(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["report"], capsys)
    assert code == 2 and "does not exist yet" in err


def test_paths_with_spaces_and_quotes_are_accepted(tmp_path: Path) -> None:
    odd = tmp_path / 'it\'s a "dir"'
    settings = Settings.from_env(
        {
            "CHAT_ANALYTICS_LANDING_DIR": str(odd / "landing"),
            "CHAT_ANALYTICS_WAREHOUSE": str(odd / "w h.duckdb"),
        }
    )
    assert settings.warehouse.is_absolute() and settings.warehouse.name == "w h.duckdb"
    with pytest.raises(ConfigError):
        Settings.from_env({"CHAT_ANALYTICS_WAREHOUSE": "  "})
