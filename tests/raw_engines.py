"""The two raw loaders behind one interface, so that the loader tests run against both.

`DUCKDB_RAW` loads into a DuckDB file; `SPARK_RAW` loads with Spark into a Spark warehouse folder. Both
answer `rows(warehouse, sql)` with DuckDB SQL over tables `raw.chat_events`, `raw.quarantined_events`
and `raw.load_log` (for Spark: views over its Parquet files), so one assertion checks both.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import duckdb

from orchestration.config import Settings
from orchestration.raw_contract import LOGICAL_TYPES, RAW_TABLES
from orchestration.raw_events import LoadResult
from orchestration.raw_events import load_partition as duckdb_load_partition


class DuckDBRaw:
    name = "duckdb"

    def warehouse_in(self, folder: Path) -> Path:
        return folder / "warehouse.duckdb"

    def load(self, warehouse: Path, landing: Path, day: date, **kwargs) -> LoadResult:
        return duckdb_load_partition(warehouse, landing, day, **kwargs)

    def rows(self, warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


class SparkRaw:
    name = "spark"

    def warehouse_in(self, folder: Path) -> Path:
        return folder / "spark-warehouse"

    def settings(self, warehouse: Path, landing: Path) -> Settings:
        return Settings(
            landing_dir=landing,
            warehouse=warehouse.parent / "unused.duckdb",
            engine="spark",
            spark_master="local[2]",
            spark_warehouse_dir=warehouse,
        )

    def load(self, warehouse: Path, landing: Path, day: date, **kwargs) -> LoadResult:
        from orchestration.spark_loader import load_partition

        kwargs.pop("chunk_bytes", None)  # Spark splits files itself
        return load_partition(self.settings(warehouse, landing), day, **kwargs)

    def rows(self, warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
        con = duckdb.connect()
        try:
            con.execute("set TimeZone = 'UTC'")
            con.execute("create schema raw")
            for table, columns in RAW_TABLES.items():
                files = sorted(
                    str(p)
                    for p in (warehouse / "raw" / table).rglob("*.parquet")
                    if not p.name.startswith(".")
                )
                if not files:
                    ddl = ", ".join(f"{name} {LOGICAL_TYPES[logical][0]}" for name, logical in columns)
                    con.execute(f"create table raw.{table} ({ddl})")
                    continue
                partitioned = table != "load_log"
                source = (
                    f"read_parquet({files!r}, hive_partitioning = true, hive_types = {{'_arrival_date': date}})"
                    if partitioned
                    else f"read_parquet({files!r})"
                )
                select = ", ".join(
                    f"cast({name} as json) as {name}" if logical == "json" else name
                    for name, logical in columns
                )
                con.execute(f"create view raw.{table} as select {select} from {source}")
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


DUCKDB_RAW = DuckDBRaw()
SPARK_RAW = SparkRaw()


def with_engine(settings: Settings, engine: str) -> Settings:
    return dataclasses.replace(settings, engine=engine)
