"""Operating the pipeline: what a run shows and records.

- a backfill of N arrival dates records N raw materializations and one per model (decision O18);
- a quiet run (nothing new) records the models as current, so the marts are not flagged late the next
  day (decision O17);
- dates without a landing folder cost no warehouse access;
- `chat-analytics materialize` prints one line per stage and the log's path, also when a run fails;
- the progress display's lines, from dbt's own log events.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.definitions.freshness_evaluator import TimeWindowFreshnessPolicyEvaluator
from dagster._core.loader import LoadingContextForTest
from dagster._core.test_utils import freeze_time
from rich.console import Console

from orchestration import raw_asset
from orchestration.config import PROJECT_ROOT, Settings
from orchestration.console import ConsoleProgress
from orchestration.definitions import build_definitions
from orchestration.generator import GeneratorConfig, generate
from orchestration.names import RAW_ASSET
from orchestration.progress import DbtNode, dbt_node_event
from orchestration.raw_asset import load_range
from orchestration.raw_events import LoadResult
from orchestration.resources import WarehouseResource
from orchestration.runner import materialize_range

START = date(2026, 3, 2)
DAYS = 3
CLI = Path(sys.executable).parent / "chat-analytics"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dg.DagsterInstance, list[str]]:
    """Three days of events, materialized over a range of five dates (two without a folder)."""
    root = tmp_path_factory.mktemp("operations")
    settings = Settings(
        landing_dir=root / "landing",
        warehouse=root / "warehouse.duckdb",
        start_date=START - timedelta(days=30),
    )
    generate(
        GeneratorConfig(
            landing_dir=settings.landing_dir, start=START, days=DAYS, conversations_per_day=40, late_rate=0.0
        )
    )
    instance = dg.DagsterInstance.ephemeral()
    outcome = materialize_range(
        settings, START - timedelta(days=2), START + timedelta(days=DAYS - 1), instance=instance
    )
    assert outcome, outcome.failures
    return settings, instance, outcome.run_ids


def events_by_asset(instance: dg.DagsterInstance, run_ids: list[str], event_type: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for run_id in run_ids:
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is not None and event.event_type_value == event_type and event.asset_key is not None:
                counts[event.asset_key.to_user_string()] += 1
    return counts


def test_a_backfill_records_a_materialization_per_raw_partition_and_one_per_model(built) -> None:
    settings, instance, run_ids = built
    assert len(run_ids) == 2, "one ranged raw run, one unpartitioned run of everything downstream"
    materialized = events_by_asset(instance, run_ids, "ASSET_MATERIALIZATION")
    planned = events_by_asset(instance, run_ids, "ASSET_MATERIALIZATION_PLANNED")
    partitions = DAYS + 2
    assert materialized[RAW_ASSET] == planned[RAW_ASSET] == partitions
    others = {key: n for key, n in materialized.items() if key != RAW_ASSET}
    assert {"kpi_daily", "outcomes", "stg_chat__events", "serving_snapshot"} <= others.keys()
    assert set(others.values()) == {1} and set(planned[key] for key in others) == {1}
    assert len(others) >= 25


def kpi_freshness(instance: dg.DagsterInstance, defs: dg.Definitions, at: datetime) -> FreshnessState:
    node = defs.resolve_asset_graph().get(dg.AssetKey("kpi_daily"))
    with freeze_time(at):
        return asyncio.run(
            TimeWindowFreshnessPolicyEvaluator().evaluate_freshness(LoadingContextForTest(instance), node)
        )


def test_a_quiet_day_keeps_the_marts_fresh(built, tmp_path: Path) -> None:
    """Decision O17: a run that finds nothing new records every model as current ('not run: nothing
    changed'), so the marts' freshness policy does not flag them late the day after a quiet day."""
    settings, _, _ = built
    copy = Settings(
        landing_dir=settings.landing_dir,
        warehouse=tmp_path / "warehouse.duckdb",
        start_date=settings.start_date,
    )
    shutil.copyfile(settings.warehouse, copy.warehouse)
    shutil.copytree(settings.serving_path, copy.serving_path)
    defs = build_definitions(copy)
    instance = dg.DagsterInstance.ephemeral()
    day_one = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)

    def quiet_run(at: datetime) -> None:
        with freeze_time(at):
            assert materialize_range(copy, START, START, definitions=defs, instance=instance)

    quiet_run(day_one)
    next_day = day_one + timedelta(hours=27)
    assert kpi_freshness(instance, defs, next_day) == FreshnessState.WARN, "a day without a run is late"
    quiet_run(day_one + timedelta(hours=24))  # the next daily run: nothing new arrived
    assert kpi_freshness(instance, defs, next_day) == FreshnessState.PASS
    record = instance.get_latest_materialization_event(dg.AssetKey("kpi_daily"))
    assert record.asset_materialization.metadata["dbt"].value == "not run: nothing changed"
    serving = instance.get_latest_materialization_event(dg.AssetKey("serving_snapshot"))
    assert serving.asset_materialization.metadata["published"].value is False


def test_dates_without_a_folder_cost_no_warehouse_access(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    (landing / "2026-03-03").mkdir(parents=True)
    (landing / "2026-03-03" / "a.ndjson").write_text("")
    loaded: list[date] = []

    def load_partitions(
        warehouse: Path, landing_dir: Path, arrival_dates: list[date], **kwargs: object
    ) -> list[LoadResult]:
        loaded.extend(arrival_dates)
        return [LoadResult(day, landing_dir / day.isoformat(), True, "load") for day in arrival_dates]

    monkeypatch.setattr(raw_asset, "load_partitions", load_partitions)
    warehouse = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"), lock_timeout_seconds=0)
    dates = [date(2026, 3, 1) + timedelta(days=i) for i in range(365)]
    settings = Settings(landing_dir=landing, warehouse=tmp_path / "warehouse.duckdb")
    results = load_range(settings, warehouse, dates)
    assert loaded == [date(2026, 3, 3)]
    assert [r.arrival_date for r in results] == dates and sum(r.folder_exists for r in results) == 1
    metadata, checks = raw_asset.summarize_loads(results, 0.01)
    assert metadata["partitions_without_folder"] == 364
    assert len(metadata["per_partition"].value) < 1000, (
        "metadata stays small: Dagster copies it per partition"
    )
    (landing_check,) = [c for c in checks if c.check_name == raw_asset.LANDING_CHECK]
    assert (
        landing_check.metadata["missing_arrival_dates"].value
        == "2026-03-01..2026-03-02, 2026-03-04..2027-02-28"
    )


def test_a_range_without_folders_still_leaves_the_raw_tables(tmp_path: Path) -> None:
    # dbt's sources must exist even when nothing was loaded
    landing = tmp_path / "landing"
    landing.mkdir()
    warehouse = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"), lock_timeout_seconds=0)
    settings = Settings(landing_dir=landing, warehouse=tmp_path / "warehouse.duckdb")
    results = load_range(settings, warehouse, [date(2026, 3, 1), date(2026, 3, 2)])
    assert not any(r.folder_exists for r in results)
    with warehouse.open(read_only=True) as con:
        assert con.execute("select count(*) from raw.load_log").fetchone() == (0,)
        assert con.execute("select count(*) from raw.chat_events").fetchone() == (0,)


def cli(args: list[str], settings: Settings, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CHAT_ANALYTICS_LANDING_DIR": str(settings.landing_dir),
        "CHAT_ANALYTICS_WAREHOUSE": str(settings.warehouse),
        "CHAT_ANALYTICS_START_DATE": settings.start_date.isoformat(),
    }
    return subprocess.run(
        [str(CLI), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )


def test_materialize_shows_a_line_per_stage_and_the_log_path(built, tmp_path: Path) -> None:
    settings, _, _ = built
    copy = Settings(
        landing_dir=settings.landing_dir,
        warehouse=tmp_path / "warehouse.duckdb",
        start_date=settings.start_date,
    )
    shutil.copyfile(settings.warehouse, copy.warehouse)
    result = cli(["materialize", "--start", START.isoformat(), "--end", START.isoformat()], copy, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["raw", "dbt", "serving"], lines
    assert "1 arrival date" in lines[0] and "(1 unchanged)" in lines[0]
    assert "not run" in lines[1] and "published snapshot" in lines[2]  # no snapshot beside this copy yet
    assert lines[3].startswith("done in") and len(lines) == 4
    log = tmp_path / lines[3].split("full log: ")[1]
    assert "RUN_START" in log.read_text() and "STEP_SUCCESS" in log.read_text()
    assert result.stderr == "", "nothing else reaches the terminal: no warning, no log line"


def test_a_failed_run_shows_its_cause_and_the_log_path(tmp_path: Path) -> None:
    settings = Settings(landing_dir=tmp_path / "landing", warehouse=tmp_path / "wh.duckdb", start_date=START)
    (settings.landing_dir / START.isoformat()).mkdir(parents=True)
    (settings.landing_dir / START.isoformat() / "events.csv").write_text("a,b\n")
    result = cli(
        ["materialize", "--start", START.isoformat(), "--end", START.isoformat()], settings, tmp_path
    )
    assert result.returncode == 1
    out = result.stdout
    assert "raw      FAILED" in out and "unknown file type" in out and "events.csv" in out
    assert "full log: " in out.splitlines()[-1] and "Traceback" not in out + result.stderr
    log = tmp_path / out.splitlines()[-1].split("full log: ")[1]
    assert "STEP_FAILURE" in log.read_text()


def test_progress_lines_come_from_dbts_own_log_events() -> None:
    def raw(name: str, unique_id: str, resource_type: str, status: str | None = None) -> dict:
        data = {
            "node_info": {
                "unique_id": unique_id,
                "resource_type": resource_type,
                "node_name": unique_id.split(".")[2],
            }
        }
        if status:
            data["status"] = status
        return {"info": {"name": name}, "data": data}

    events = [
        raw("LogStartLine", "seed.chat_analytics.outcomes", "seed"),
        raw("LogSeedResult", "seed.chat_analytics.outcomes", "seed", "success"),
        raw("LogStartLine", "model.chat_analytics.kpi_daily", "model"),
        raw("LogModelResult", "model.chat_analytics.kpi_daily", "model", "success"),
        raw("LogTestResult", "test.chat_analytics.unique_kpi.1a2b", "test", "pass"),
        raw("LogTestResult", "test.chat_analytics.orphan_handover_events", "test", "warn"),
        raw("LogHookStartLine", "operation.chat_analytics.hook", "operation"),
        {"info": {"name": "MainReportVersion"}, "data": {}},
    ]
    nodes = [node for node in map(dbt_node_event, events) if node is not None]
    assert nodes[0] == DbtNode("seed.chat_analytics.outcomes", "outcomes", "seed", None)
    assert [n.status for n in nodes] == [None, "success", None, "success", "pass", "warn"]

    out = io.StringIO()
    progress = ConsoleProgress(Console(file=out, width=200), live=False)
    results = [
        LoadResult(
            START,
            Path("/l/2026-03-02"),
            True,
            "a",
            files=["x"],
            lines_read=10,
            valid_rows=9,
            quarantined_rows=1,
        ),
        LoadResult(START + timedelta(days=1), Path("/l/2026-03-03"), False, ""),
    ]
    with progress:
        progress.raw_started(2)
        for result in results:
            progress.raw_partition(result)
        progress.raw_finished(results)
        progress.dbt_started()
        progress.dbt_running("loads after the last complete dbt run", len(nodes))
        for node in nodes:
            progress.dbt_node(node)
        progress.dbt_finished(True)
        progress.serving_started()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(
        "raw      2 arrival dates, 1 file: 10 lines, 9 valid, 1 quarantined, 0 duplicates (1 without a folder)"
    )
    assert lines[1].startswith(
        "dbt      1 seed, 1 model, 2 tests: 3 passed, 1 warning (orphan_handover_events)"
    )
    assert lines[2].startswith("serving  FAILED"), "a stage that never finished is shown failed"
    assert all(line.rstrip().endswith(" s") for line in lines)


def test_the_demo_is_quiet() -> None:
    """`make demo` echoes no command and generates silently: its output is the run's lines and the tab."""
    demo = (PROJECT_ROOT / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    commands = [
        line.strip()
        for line in demo.splitlines()[1:]
        if line.startswith("\t") and not line.startswith("\t\t")
    ]
    assert commands and all(c.startswith("@") for c in commands), commands
    assert "generate --quiet" in demo
