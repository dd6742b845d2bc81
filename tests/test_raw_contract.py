"""The raw contract is written once (orchestration/raw_contract.py); the DuckDB warehouse follows it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from orchestration.raw_contract import (
    DUCKDB,
    LOGICAL_TYPES,
    QUARANTINE_REASONS,
    RAW_TABLES,
    SPARK,
    reason_case,
)
from orchestration.raw_schema import RAW_SCHEMA_DDL


def test_the_duckdb_raw_tables_have_the_contract_columns_and_types(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "wh.duckdb")) as con:
        for statement in RAW_SCHEMA_DDL:
            con.execute(statement)
        for table, columns in RAW_TABLES.items():
            actual = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw' and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            assert actual == [(name, LOGICAL_TYPES[logical][0]) for name, logical in columns], table


def test_both_engines_check_the_reasons_in_the_same_order() -> None:
    """Decision R5's order, the same WHEN branches for DuckDB and Spark."""
    assert QUARANTINE_REASONS[:3] == ("invalid_utf8", "empty_line", "invalid_json")
    assert QUARANTINE_REASONS[-3:] == ("missing_field:sender", "invalid_sender", "missing_handover_id")
    for dialect in (DUCKDB, SPARK):
        sql = reason_case(dialect, date(2026, 3, 8))
        positions = [sql.index(f"then '{reason}'") for reason in QUARANTINE_REASONS]
        assert positions == sorted(positions), dialect.name
