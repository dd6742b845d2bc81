"""The Spark engine against the DuckDB engine (`make test-spark`).

One generated data set (every quarantine reason, duplicates in the same and later folders, late events,
both DST days of America/Toronto, NDJSON.gz and Parquet files, the shapes of conversations v2) goes
through the same Dagster job on both engines; every mart of the two published Parquet snapshots must be
equal column for column: the same schema and `EXCEPT ALL` empty both ways. The raw layers must hold the
same rows, and the dbt unit tests and data tests must pass on Spark too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dbt_helpers import RAW_EVENT_COLUMNS, _complete
from raw_engines import SPARK_RAW, DuckDBRaw
from test_dbt_models import RAW_ROWS, TOLERATED_WARNINGS
from test_serving import MARTS

from orchestration.config import DBT_PROJECT_DIR, Settings
from orchestration.generator import GeneratorConfig, generate
from orchestration.raw_contract import LOGICAL_TYPES, RAW_TABLES
from orchestration.report import build_report
from orchestration.runner import materialize_range
from orchestration.serving import ServingConfig
from orchestration.spark_build import last_complete_build, write_serving_source
from orchestration.spark_loader import recover, warehouse_lock
from orchestration.warehouse import WarehouseLockedError

pytestmark = pytest.mark.spark

TIMEZONE = "America/Toronto"
# Spring forward on 2026-03-08, fall back on 2026-11-01 (Toronto).
SPRING = date(2026, 3, 6)
FALL = date(2026, 10, 30)


def _landing_dates(landing: Path) -> tuple[date, date]:
    days = sorted(date.fromisoformat(p.name) for p in landing.iterdir() if p.is_dir())
    return days[0], days[-1]


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Settings]:
    """Both engines built from the same landing zone (in a folder whose name holds a quote and a space)."""
    root = tmp_path_factory.mktemp("two engines'") / "it's here"
    landing = root / "landing"
    summaries = [
        generate(
            GeneratorConfig(
                landing_dir=landing,
                start=SPRING,
                days=4,
                seed=7,
                conversations_per_day=250,
                timezone=TIMEZONE,
                file_format="ndjson.gz",
                malformed_rate=0.02,
            )
        ),
        generate(
            GeneratorConfig(
                landing_dir=landing,
                start=FALL,
                days=4,
                seed=8,
                conversations_per_day=150,
                timezone=TIMEZONE,
                file_format="parquet",
                malformed_rate=0.02,
            )
        ),
    ]
    reasons = set().union(*(s.quarantine_reasons for s in summaries))
    assert {
        "invalid_utf8",
        "empty_line",
        "invalid_json",
        "invalid_timestamp",
        "missing_handover_id",
    } <= reasons
    first, last = _landing_dates(landing)
    duckdb_settings = Settings(
        landing_dir=landing,
        warehouse=root / "duckdb" / "warehouse.duckdb",
        timezone=TIMEZONE,
        start_date=date(2026, 3, 1),
    )
    spark_settings = dataclasses.replace(
        duckdb_settings,
        warehouse=root / "spark" / "warehouse.duckdb",
        engine="spark",
        spark_master="local[2]",
    )
    for settings in (duckdb_settings, spark_settings):
        outcome = materialize_range(settings, first, last)
        assert outcome, (settings.engine, outcome.failures)
    return {"duckdb": duckdb_settings, "spark": spark_settings, "summaries": summaries}


def _snapshot(settings: Settings) -> Path:
    return ServingConfig.from_settings(settings).current_parquet_dir


def _parquet(path: Path) -> str:
    """read_parquet of a path as a SQL literal (the test folders' names hold quotes)."""
    return "read_parquet('" + str(path).replace("'", "''") + "')"


def test_every_mart_is_equal_column_for_column(engines) -> None:
    duck, spark = _snapshot(engines["duckdb"]), _snapshot(engines["spark"])
    assert sorted(p.name for p in spark.glob("*.parquet")) == sorted(f"{m}.parquet" for m in MARTS)
    assert sorted(p.name for p in duck.glob("*.parquet")) == sorted(f"{m}.parquet" for m in MARTS)
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    for mart in MARTS:
        a, b = _parquet(duck / f"{mart}.parquet"), _parquet(spark / f"{mart}.parquet")
        schema_a = con.execute(
            f"select column_name, column_type from (describe select * from {a})"
        ).fetchall()
        schema_b = con.execute(
            f"select column_name, column_type from (describe select * from {b})"
        ).fetchall()
        assert schema_a == schema_b, mart
        (rows_a,) = con.execute(f"select count(*) from {a}").fetchone()
        (rows_b,) = con.execute(f"select count(*) from {b}").fetchone()
        assert rows_a == rows_b and rows_a > 0, mart
        for left, right in ((a, b), (b, a)):
            (extra,) = con.execute(
                f"select count(*) from (select * from {left} except all select * from {right})"
            ).fetchone()
            assert extra == 0, f"{mart}: {extra} rows of {left} are not in {right}"


def test_the_raw_layers_hold_the_same_rows(engines) -> None:
    duck_rows = DuckDBRaw().rows
    spark_rows = SPARK_RAW.rows
    duck_wh = engines["duckdb"].warehouse
    spark_wh = engines["spark"].spark_warehouse
    queries = [
        "select event_id, occurred_at_utc, customer_id, channel, event_type, sender, message_type, handover_id, "
        "agent_id, department, flow_type, text, _arrival_date, _source_file, _line_number, _is_duplicate "
        "from raw.chat_events order by _arrival_date, _source_file, _line_number",
        "select _arrival_date, _source_file, _line_number, reason, raw_line, raw_line_bytes "
        "from raw.quarantined_events order by _arrival_date, _source_file, _line_number",
        "select arrival_date, files_read, lines_read, valid_rows, quarantined_rows, duplicate_rows "
        "from raw.load_log order by arrival_date",
    ]
    for sql in queries:
        assert spark_rows(spark_wh, sql) == duck_rows(duck_wh, sql), sql
    expected = {}
    for summary in engines["summaries"]:
        for reason, n in summary.quarantine_reasons.items():
            expected[reason] = expected.get(reason, 0) + n
    assert (
        dict(spark_rows(spark_wh, "select reason, count(*) from raw.quarantined_events group by 1"))
        == expected
    )


def _rounded(value: object) -> object:
    """`value` with every float rounded to 9 significant digits, through dicts, lists and tuples."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(_rounded(item) for item in value))
    if isinstance(value, list | tuple):
        return type(value)(_rounded(item) for item in value)
    return value


def test_the_report_is_the_same_on_both_engines(engines) -> None:
    reports = []
    for engine in ("duckdb", "spark"):
        report = build_report(engines[engine], first=date(2026, 3, 6), last=date(2026, 11, 3))
        reports.append(_rounded(dataclasses.asdict(dataclasses.replace(report, timezone="", channels=[]))))
    # the marts are equal row for row; sums of seconds over them differ in the last bits with row order
    assert reports[0] == reports[1]
    assert reports[0]["headline"]["total_conversations"] > 0


def test_a_rerun_on_spark_rebuilds_and_publishes_the_same_marts(engines) -> None:
    """A second Spark run (files unchanged: nothing reloaded) builds again and publishes the same numbers."""
    settings = engines["spark"]
    before = last_complete_build(settings)
    snapshot = _snapshot(settings).resolve()
    first, last = _landing_dates(settings.landing_dir)
    assert materialize_range(settings, first, last)
    after = last_complete_build(settings)
    assert after is not None and before is not None and after.invocation_id != before.invocation_id
    con = duckdb.connect()
    for mart in MARTS:
        for left, right in (
            (snapshot, _snapshot(settings).resolve()),
            (_snapshot(settings).resolve(), snapshot),
        ):
            (extra,) = con.execute(
                f"select count(*) from (select * from {_parquet(left / f'{mart}.parquet')} "
                f"except all select * from {_parquet(right / f'{mart}.parquet')})"
            ).fetchone()
            assert extra == 0, mart
    builds = [p for p in (settings.spark_warehouse / "builds").iterdir() if p.is_dir()]
    assert len(builds) <= 2  # older builds are pruned


# ---------------------------------------------------------------------------------------------------
# dbt unit tests and data tests on Spark
# ---------------------------------------------------------------------------------------------------


def _write_raw_rows(spark_warehouse: Path, rows: list[dict]) -> None:
    """RAW_ROWS of tests/test_dbt_models.py as the Spark raw layer (Parquet partitions)."""
    completed = [_complete(row, line) for line, row in enumerate(rows, start=1)]
    arrow_types = {
        "string": pa.string(),
        "instant": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
        "bigint": pa.int64(),
        "integer": pa.int32(),
        "boolean": pa.bool_(),
        "json": pa.string(),
    }
    columns = [(n, t) for n, t in RAW_TABLES["chat_events"] if n != "_arrival_date"]
    for day in sorted({row["_arrival_date"] for row in completed}):
        part = [row for row in completed if row["_arrival_date"] == day]
        folder = spark_warehouse / "raw" / "chat_events" / f"_arrival_date={day.isoformat()}"
        folder.mkdir(parents=True)
        table = pa.table(
            {name: pa.array([row[name] for row in part], arrow_types[logical]) for name, logical in columns}
        )
        pq.write_table(table, folder / "part-0.parquet")
    # the loader leaves every raw table's folder behind, the empty ones too (dbt's hook recovers their partitions)
    for name in RAW_TABLES:
        (spark_warehouse / "raw" / name).mkdir(parents=True, exist_ok=True)
    assert set(RAW_EVENT_COLUMNS) == {n for n, _ in RAW_TABLES["chat_events"]}
    assert LOGICAL_TYPES["instant"][1] == "timestamp"


@pytest.fixture(scope="module")
def spark_dbt_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict]:
    root = tmp_path_factory.mktemp("spark_dbt")
    settings = Settings(
        landing_dir=root / "landing",
        warehouse=root / "warehouse.duckdb",
        engine="spark",
        spark_master="local[2]",
    )
    _write_raw_rows(settings.spark_warehouse, RAW_ROWS)
    # the settings as chat-analytics passes them, nothing from this process's environment
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAT_ANALYTICS_")}
    target = root / "target"
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "build",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(target),
            "--log-path",
            str(root / "logs"),
            *settings.dbt_cli_args(),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (target / "run_results.json").exists(), (
        f"dbt wrote no results (exit {completed.returncode}):\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    )
    results = json.loads((target / "run_results.json").read_text())
    return settings, {"results": results, "stdout": completed.stdout[-5000:]}


def test_every_unit_test_model_and_data_test_passes_on_spark(spark_dbt_build) -> None:
    _, build = spark_dbt_build
    statuses = {r["unique_id"]: r["status"] for r in build["results"]["results"]}
    not_passed = {
        node: status
        for node, status in statuses.items()
        if status not in {"success", "pass"} and node not in TOLERATED_WARNINGS
    }
    assert not not_passed, build["stdout"]
    kinds = [node.split(".")[0] for node in statuses]
    assert kinds.count("unit_test") >= 30
    assert kinds.count("model") == len(list((DBT_PROJECT_DIR.parent / "models").rglob("*.sql")))
    assert kinds.count("test") >= 50
    assert statuses["test.chat_analytics.orphan_handover_events"] == "warn"


def test_spark_marts_hold_the_numbers_of_the_duckdb_spot_checks(spark_dbt_build) -> None:
    """The spot checks of tests/test_dbt_models.py, read from the Spark build."""
    settings, _ = spark_dbt_build
    source = write_serving_source(settings, schemas=("marts", "intermediate"))
    with duckdb.connect(str(source), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        assert con.execute(
            "select conversation_id, channel, report_date, is_engaged, support_type, chatbot_duration_seconds "
            "from marts.fct_conversations order by conversation_id"
        ).fetchall() == [
            ("m01", "messenger", date(2026, 3, 3), True, "other", 300.0),
            ("w01", "web", date(2026, 3, 2), True, "support", 240.0),
            ("w11", "web", date(2026, 3, 2), False, "other", 0.0),
        ]
        assert con.execute(
            "select handover_id, conversation_id, channel, outcome, initial_wait_seconds, department "
            "from marts.fct_handover_requests order by handover_id"
        ).fetchall() == [
            ("h1", "w01", "web", "successful", 150.5, "billing"),
            ("h2", "m01", "messenger", "cancelled", None, "unassigned"),
        ]
        assert con.execute(
            "select report_date, channel, total_conversations, engaged_conversations, engaged_customers, "
            "successful_transfers, answered_conversations, closed_conversations, initial_wait_count, "
            "avg_initial_wait_seconds, avg_chatbot_duration_seconds from marts.kpi_daily order by 1, 2"
        ).fetchall() == [
            (date(2026, 3, 2), "messenger", 0, 0, 0, 0, 0, 0, 0, None, None),
            (date(2026, 3, 2), "web", 2, 1, 1, 1, 1, 1, 1, 150.5, 240.0),
            (date(2026, 3, 3), "messenger", 1, 1, 1, 0, 0, 0, 0, None, 300.0),
            (date(2026, 3, 3), "web", 0, 0, 0, 0, 0, 0, 0, None, None),
        ]
        assert con.execute(
            "select event_id, handover_id from intermediate.int_handover_orphan_events"
        ).fetchall() == [("o01", "h9")]
        # message text never leaves the raw layer
        (text_columns,) = con.execute(
            "select count(*) from information_schema.columns where column_name = 'text'"
        ).fetchone()
        assert text_columns == 0


# ---------------------------------------------------------------------------------------------------
# The Spark warehouse's lock and commit (no Spark job)
# ---------------------------------------------------------------------------------------------------


def test_a_locked_spark_warehouse_gives_a_clear_message(tmp_path: Path) -> None:
    from orchestration.spark_loader import load_partition

    (tmp_path / "landing" / "2026-03-08").mkdir(parents=True)
    settings = SPARK_RAW.settings(tmp_path / "spark-warehouse", tmp_path / "landing")
    with warehouse_lock(settings.spark_warehouse):
        with pytest.raises(WarehouseLockedError, match="locked by another process"):
            load_partition(settings, date(2026, 3, 8))


def test_a_load_killed_after_its_commit_point_is_rolled_forward(tmp_path: Path) -> None:
    """The journal is the commit: staged folders it names are moved into place by the next process."""
    raw = tmp_path / "raw"
    live = raw / "chat_events" / "_arrival_date=2026-03-08"
    live.mkdir(parents=True)
    (live / "old.parquet").write_text("old")
    staged = raw / ".staging" / "l1" / "chat_events"
    staged.mkdir(parents=True)
    (staged / "new.parquet").write_text("new")
    (raw / ".staging" / "l2").mkdir()  # a load killed before its commit: only staging files
    (raw / ".journal").mkdir()
    (raw / ".journal" / "l1.json").write_text(
        json.dumps(
            {"load_id": "l1", "moves": [[".staging/l1/chat_events", "chat_events/_arrival_date=2026-03-08"]]}
        )
    )
    assert recover(tmp_path) == ["l1"]
    assert [p.name for p in live.iterdir()] == ["new.parquet"]
    assert not (raw / ".staging").exists() and not list((raw / ".journal").iterdir())
    assert datetime.now(UTC)  # nothing else to check: no Spark job ran
