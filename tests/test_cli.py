"""The command line's errors: clear messages and exit code 2, never a stack trace; `report` and
`dashboard` read the serving snapshot, never the warehouse."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from test_serving import Build, copy_build, shared_build

from orchestration.cli import main
from orchestration.config import ConfigError, Settings
from orchestration.conversations_tab import TabFilter, tab_for
from orchestration.labels import format_metric, metric_label


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


def test_report_without_a_snapshot(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["report"], capsys)
    assert code == 2 and "no serving snapshot at" in err and "make demo" in err
    assert str(env / "serving" / "chat_analytics.duckdb") in err and "Traceback" not in err


@pytest.fixture
def built(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Build:
    """A private copy of the shared build, which the CLI's environment points at."""
    build = copy_build(shared_build(tmp_path_factory), tmp_path / "copy")
    for key in [k for k in os.environ if k.startswith("CHAT_ANALYTICS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CHAT_ANALYTICS_WAREHOUSE", str(build.settings.warehouse))
    monkeypatch.setenv("CHAT_ANALYTICS_TIMEZONE", build.settings.timezone)
    return build


def test_report_reads_the_snapshot_never_the_warehouse(
    built: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the warehouse locked by a writer, then gone, the report prints the snapshot's numbers."""
    argv = ["report", "--end", "2026-03-04", "--days", "3", "--channel", "web", "--hours", "8-20"]
    tab = tab_for(
        built.serving.serving_file,
        TabFilter(date(2026, 3, 2), date(2026, 3, 4), ("web",), (8, 20)),
        "Europe/Paris",
    )
    writer = duckdb.connect(str(built.settings.warehouse))  # a run holding the warehouse's lock
    try:
        code, _ = run(argv, capsys)
    finally:
        writer.close()
    assert code == 0
    built.settings.warehouse.unlink()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("Conversations: 2026-03-02 to 2026-03-04 (Europe/Paris) · web · hours 8-20")
    for key, value in tab.headline.items():
        assert f"{metric_label(key, 'en')}" in out and f" {format_metric(key, value, 'en')}\n" in out


def test_report_on_an_outdated_snapshot(built: Build, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = built.serving.serving_file
    snapshot.chmod(0o644)
    con = duckdb.connect(str(snapshot))
    con.execute("alter table marts.fct_handover_requests drop column first_agent_reply_at")
    con.close()
    code, err = run(["report"], capsys)
    assert code == 2 and "older version of the marts" in err
    assert "fct_handover_requests lacks first_agent_reply_at" in err and "Traceback" not in err


def test_dashboard_serves_the_app_with_streamlit(env: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`dashboard` becomes Streamlit serving dashboard/app.py headless on the given address."""
    calls: list[list[str]] = []
    monkeypatch.setattr(os, "execv", lambda path, argv: calls.append([path, *argv]))
    assert main(["dashboard", "--port", "8765", "--host", "0.0.0.0"]) == 0
    ((path, *argv),) = calls
    assert path == sys.executable and argv[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert Path(argv[4]) == Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    options = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert options["--server.port"] == "8765" and options["--server.address"] == "0.0.0.0"
    assert options["--server.headless"] == "true" and options["--browser.gatherUsageStats"] == "false"
    captured = capsys.readouterr()
    assert "http://0.0.0.0:8765" in captured.out and "no serving snapshot" in captured.err
    assert main(["dashboard"]) == 0 and calls[-1][calls[-1].index("--server.port") + 1] == "8501"
    assert calls[-1][calls[-1].index("--server.address") + 1] == "127.0.0.1"


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_dashboard_refuses_a_bad_port(env: Path, capsys: pytest.CaptureFixture[str], port: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["dashboard", "--port", port])
    assert exit_info.value.code == 2 and "the port must be" in capsys.readouterr().err


def test_dashboard_stops_on_a_bad_setting_before_serving(env: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(os, "execv", lambda *args: pytest.fail("the server must not start"))
    monkeypatch.setenv("CHAT_ANALYTICS_SERVING_DIR", str(env / "wh.duckdb"))
    code, err = run(["dashboard"], capsys)
    assert code == 2 and "would overwrite the warehouse" in err


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
