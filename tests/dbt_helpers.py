"""Helpers to drive the dbt project from tests: a raw warehouse, raw rows, an in-process dbt run.

Other test modules import these; keep the signatures stable.

    path = create_raw_tables(tmp_path / "wh.duckdb")
    insert_raw_events(path, [raw_event("e1", "2026-03-02T10:00:00Z", customer_id="c1")])
    result = run_dbt(["build"], warehouse=path, tmp=tmp_path)
    assert result.success, failures(result)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from orchestration.raw_schema import RAW_SCHEMA_DDL

REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

RAW_EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "occurred_at",
    "occurred_at_utc",
    "customer_id",
    "channel",
    "event_type",
    "sender",
    "message_type",
    "handover_id",
    "agent_id",
    "department",
    "flow_type",
    "text",
    "properties",
    "extra_fields",
    "_arrival_date",
    "_source_file",
    "_line_number",
    "_load_id",
    "_loaded_at",
    "_is_duplicate",
)

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_instant(value: str) -> datetime:
    """An RFC 3339 string as an aware UTC datetime, fractions beyond microseconds truncated (R3)."""
    text = _FRACTION.sub(r"\1", value.strip()).replace("z", "Z")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"instant without an offset: {value!r}")
    return parsed.astimezone(UTC)


def create_raw_tables(path: str | os.PathLike[str]) -> Path:
    """Create the raw schema and tables (orchestration.raw_schema) in the DuckDB file at `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        for statement in RAW_SCHEMA_DDL:
            con.execute(statement)
    return path


def raw_event(event_id: str, occurred_at: str, **fields: Any) -> dict[str, Any]:
    """A raw.chat_events row with sensible defaults; any column can be overridden by keyword."""
    row: dict[str, Any] = {
        "event_id": event_id,
        "occurred_at": occurred_at,
        "customer_id": "c1",
        "channel": "web",
        "event_type": "message",
        "sender": "customer",
    }
    row.update(fields)
    return row


def _complete(row: Mapping[str, Any], line_number: int) -> dict[str, Any]:
    unknown = set(row) - set(RAW_EVENT_COLUMNS)
    if unknown:
        raise ValueError(f"unknown raw.chat_events columns: {sorted(unknown)}")
    full: dict[str, Any] = dict.fromkeys(RAW_EVENT_COLUMNS)
    full.update(row)
    if full["occurred_at_utc"] is None:
        full["occurred_at_utc"] = parse_instant(full["occurred_at"])
    elif isinstance(full["occurred_at_utc"], str):
        full["occurred_at_utc"] = parse_instant(full["occurred_at_utc"])
    arrival = full["_arrival_date"] or full["occurred_at_utc"].date()
    full["_arrival_date"] = date.fromisoformat(arrival) if isinstance(arrival, str) else arrival
    full["_source_file"] = full["_source_file"] or f"{full['_arrival_date'].isoformat()}/events.ndjson"
    full["_line_number"] = full["_line_number"] or line_number
    full["_load_id"] = full["_load_id"] or "test-load"
    full["_loaded_at"] = full["_loaded_at"] or datetime(2030, 1, 1, tzinfo=UTC)
    full["_is_duplicate"] = bool(full["_is_duplicate"])
    return full


def insert_raw_events(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Insert rows into raw.chat_events; missing columns get defaults (lineage, parsed instant).

    `occurred_at_utc` defaults to `occurred_at` parsed like the loader does. Returns the row count.
    """
    completed = [_complete(row, line) for line, row in enumerate(rows, start=1)]
    if not completed:
        return 0
    placeholders = ", ".join("?" for _ in RAW_EVENT_COLUMNS)
    with duckdb.connect(str(path)) as con:
        con.executemany(
            f"insert into raw.chat_events ({', '.join(RAW_EVENT_COLUMNS)}) values ({placeholders})",
            [[row[column] for column in RAW_EVENT_COLUMNS] for row in completed],
        )
    return len(completed)


def release_dbt_connections() -> None:
    """Close the DuckDB connections dbt-duckdb keeps open in this process.

    dbt-duckdb caches one database instance per process; until it is closed another
    `duckdb.connect()` of the same file (with other settings) fails or sees a stale state.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # pragma: no cover - dbt-duckdb is a project dependency
        return
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        if environment is not None:
            environment.close()
        DuckDBConnectionManager.close_all_connections()


def run_dbt(
    args: Sequence[str],
    warehouse: str | os.PathLike[str],
    tmp: str | os.PathLike[str],
    *,
    manifest: Any = None,
    env: Mapping[str, str] | None = None,
):
    """Run dbt in-process against `warehouse`, with target and log paths under `tmp`.

    `args` is the dbt command and its own options, e.g. ["build", "--select", "staging"].
    Pass the `manifest` of an earlier `parse` result to skip parsing (only for a warehouse
    file with the same name: dbt-duckdb names the database after the file's stem). `env` sets extra
    environment variables (e.g. CHAT_ANALYTICS_TIMEZONE) for the duration of the run only.
    Returns dbt's `dbtRunnerResult` (`.success`, `.result`, `.exception`).
    """
    from dbt.cli.main import dbtRunner

    tmp = Path(tmp)
    overrides = {"CHAT_ANALYTICS_WAREHOUSE": str(Path(warehouse).resolve()), **(env or {})}
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        runner = dbtRunner(manifest=manifest)
        return runner.invoke(
            [
                *args,
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--target-path",
                str(tmp / "dbt_target"),
                "--log-path",
                str(tmp / "dbt_logs"),
            ]
        )
    finally:
        release_dbt_connections()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def failures(result: Any) -> str:
    """A readable list of the nodes that did not pass in a dbt result, for assertion messages."""
    if result.exception is not None:
        return f"dbt raised: {result.exception!r}"
    lines = []
    for node_result in getattr(result.result, "results", None) or []:
        status = str(node_result.status)
        if status not in {"success", "pass"}:
            lines.append(f"{node_result.node.unique_id}: {status}: {node_result.message}")
    return "\n".join(lines) or "no failing node reported"
