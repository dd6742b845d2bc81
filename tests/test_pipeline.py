"""End to end through Dagster: generated events -> raw -> dbt -> marts, checked against the
independent Python reference of the definitions (tests/reference_metrics.py)."""

from __future__ import annotations

import gzip
import json
import math
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from reference_metrics import compute_marts

from orchestration.automation import changed_partitions, folder_fingerprints, previous_arrival_date
from orchestration.config import PROJECT_ROOT, Settings
from orchestration.dbt_manifest import MANIFEST_PATH
from orchestration.dbt_state import expected_fingerprint, reason_to_run_dbt
from orchestration.definitions import build_definitions
from orchestration.generator import GeneratorConfig, generate
from orchestration.names import DAILY_JOB, WAREHOUSE_POOL
from orchestration.runner import materialize_range

START = date(2026, 3, 5)
DAYS = 4
TIMEZONE = "America/Toronto"
MARTS = (
    "kpi_daily",
    "transfers_by_outcome",
    "activity_by_weekday_hour",
    "closed_by_department",
    "conversations_by_channel",
    "fct_conversations",
    "fct_handover_requests",
)
KEYS = {
    "kpi_daily": ("report_date", "channel"),
    "transfers_by_outcome": ("report_date", "channel", "outcome"),
    "activity_by_weekday_hour": ("report_date", "hour_of_day", "channel"),
    "closed_by_department": ("report_date", "department", "channel"),
    "conversations_by_channel": ("report_date", "channel", "support_type"),
    "fct_conversations": ("conversation_id",),
    "fct_handover_requests": ("handover_id",),
}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Spaces and quotes in paths must survive every layer (settings, DuckDB, dbt's profile).
    root = tmp_path_factory.mktemp("pipeline") / 'it\'s a "dir"'
    return Settings(
        landing_dir=root / "landing",
        warehouse=root / "warehouse.duckdb",
        timezone=TIMEZONE,
        inactivity_minutes=10,
        start_date=START,
    )


@pytest.fixture(scope="module")
def defs(settings: Settings) -> dg.Definitions:
    return build_definitions(settings, lock_timeout_seconds=0)


@pytest.fixture(scope="module")
def materialized(settings: Settings, defs: dg.Definitions) -> Settings:
    generate(
        GeneratorConfig(
            landing_dir=settings.landing_dir,
            start=START,
            days=DAYS,
            seed=7,
            conversations_per_day=120,
            timezone=TIMEZONE,
        )
    )
    last_folder = max(date.fromisoformat(p.name) for p in settings.landing_dir.iterdir())
    assert materialize_range(settings, START, last_folder, definitions=defs)
    return settings


def read(settings: Settings, sql: str) -> list[dict]:
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def _normalise(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def assert_rows_equal(actual: dict, expected: dict, where: object) -> None:
    """Equal rows; floats to 1e-6 relative (sums of doubles depend on DuckDB's aggregation order)."""
    assert expected.keys() <= actual.keys(), where
    for column, want in expected.items():
        got = actual[column]
        if isinstance(want, float) and isinstance(got, float):
            assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6), (where, column, got, want)
        else:
            assert _normalise(got) == _normalise(want), (where, column, got, want)


def _keyed(rows: list[dict], key: tuple[str, ...]) -> dict[tuple, dict]:
    return {tuple(row[k] for k in key): {k: _normalise(v) for k, v in row.items()} for row in rows}


def test_definitions_load(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def(DAILY_JOB)
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_chat_events", "stg_chat__events", *MARTS} <= keys
    assert job.partitions_def is not None
    assert defs.resolve_schedule_def("daily_arrivals").execution_timezone == TIMEZONE
    assert defs.resolve_sensor_def("landing_folders") is not None
    checks = defs.resolve_asset_graph().asset_check_keys
    assert any(check.name == "quarantined_share_within_threshold" for check in checks)
    assert sum(1 for check in checks if check.asset_key.to_user_string() == "kpi_daily") >= 1


def test_every_mart_matches_the_reference(materialized: Settings) -> None:
    events = read(materialized, "select * from staging.stg_chat__events")
    assert len(events) > 1000
    expected = compute_marts(events, timezone=TIMEZONE, inactivity_minutes=10)
    for mart in MARTS:
        actual = read(materialized, f"select * from marts.{mart}")
        want, got = _keyed(expected[mart], KEYS[mart]), _keyed(actual, KEYS[mart])
        assert len(got) == len(actual), f"{mart}: duplicate keys"
        assert got.keys() == want.keys(), f"{mart}: rows differ"
        for key, row in want.items():
            assert_rows_equal(got[key], row, (mart, key))


def test_every_line_is_accounted_for(materialized: Settings) -> None:
    ((lines, valid, quarantined),) = [
        tuple(r.values())
        for r in read(
            materialized,
            "select sum(lines_read), sum(valid_rows), sum(quarantined_rows) from raw.load_log",
        )
    ]
    written = 0
    for path in materialized.landing_dir.rglob("*.ndjson.gz"):
        with gzip.open(path, "rb") as lines_of_file:  # bytes: some lines are invalid UTF-8 on purpose
            written += sum(1 for _ in lines_of_file)
    assert lines == written == valid + quarantined


def test_rerunning_a_partition_changes_nothing(materialized: Settings, defs: dg.Definitions) -> None:
    bookkeeping = (
        "select (select count(*) from raw.load_log), (select count(*) from intermediate._incremental_runs)"
    )
    before = {mart: read(materialized, f"select * from marts.{mart} order by all") for mart in MARTS}
    runs_before = read(materialized, bookkeeping)
    assert materialize_range(
        materialized, START + timedelta(days=1), START + timedelta(days=1), definitions=defs
    )
    after = {mart: read(materialized, f"select * from marts.{mart} order by all") for mart in MARTS}
    for mart in MARTS:
        assert len(after[mart]) == len(before[mart]), mart
        for old, new in zip(before[mart], after[mart], strict=True):
            assert_rows_equal(new, old, mart)
    # identical files are not reloaded (decision O10) and dbt, with nothing to do, is not started
    assert read(materialized, bookkeeping) == runs_before


def test_dbt_is_skipped_only_when_the_last_complete_run_processed_every_load(
    materialized: Settings, tmp_path: Path
) -> None:
    manifest = json.loads(MANIFEST_PATH.read_text())
    with duckdb.connect(str(materialized.warehouse), read_only=True) as con:
        # the fingerprint Python computes is the one dbt recorded: a drift in either formula fails here
        (recorded,) = con.execute(
            "select settings from intermediate._incremental_runs order by recorded_at desc limit 1"
        ).fetchone()
        assert recorded == expected_fingerprint(materialized, manifest)
        assert reason_to_run_dbt(con, materialized, manifest) is None
        assert reason_to_run_dbt(con, replace(materialized, inactivity_minutes=11), manifest) is not None
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(materialized.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "insert into raw.load_log select * replace (load_seq + 1 as load_seq, 'new' as load_id) "
            "from raw.load_log order by load_seq desc limit 1"
        )
        assert reason_to_run_dbt(con, materialized, manifest).startswith(
            "loads after the last complete dbt run"
        )
        con.execute("drop table marts.kpi_daily")
        assert reason_to_run_dbt(con, materialized, manifest) == "model kpi_daily does not exist"


def test_marts_have_a_freshness_policy_and_writers_share_a_pool_of_one(
    defs: dg.Definitions, tmp_path: Path
) -> None:
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert (node.freshness_policy is not None) == (node.group_name == "marts"), key
    writers = [graph.get(key) for key in graph.get_all_asset_keys() if graph.get(key).group_name != "serving"]
    assert all(node.pools == {WAREHOUSE_POOL} for node in writers)
    # the instance settings `make dev` installs: one writer of the pool at a time
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_schedule_requests_previous_arrival_day(defs: dg.Definitions) -> None:
    tick = datetime(2026, 3, 9, 7, 0, tzinfo=UTC)  # 02:00 in Toronto
    assert previous_arrival_date(tick) == date(2026, 3, 8)
    schedule = defs.resolve_schedule_def("daily_arrivals")
    context = dg.build_schedule_context(
        scheduled_execution_time=tick, repository_def=defs.get_repository_def()
    )
    request = schedule.evaluate_tick(context).run_requests[0]
    assert request.partition_key == "2026-03-08"


def test_sensor_notices_new_and_redelivered_folders(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "2026-03-05").mkdir(parents=True)
    (landing / "2026-03-05" / "a.ndjson").write_text("{}\n")
    first = folder_fingerprints(landing, date(2026, 3, 1), date(2026, 3, 31))
    assert changed_partitions({}, first) == ["2026-03-05"]
    (landing / "2026-03-06").mkdir()
    (landing / "2026-03-06" / "a.ndjson").write_text("{}\n")
    (landing / "2026-03-05" / "a.ndjson").write_text("{}\n{}\n")
    second = folder_fingerprints(landing, date(2026, 3, 1), date(2026, 3, 31))
    assert changed_partitions(first, second) == ["2026-03-05", "2026-03-06"]
    assert changed_partitions(second, second) == []
