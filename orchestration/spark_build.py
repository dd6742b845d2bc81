"""What dbt's Spark runs leave in the Spark warehouse, read without Spark.

Each dbt invocation on Spark builds every model into `<spark warehouse>/builds/<invocation_id>/`
(`<schema>.db/<model>/*.parquet`), and on-run-end appends a row to the run log `<spark warehouse>/runs/`
only when every model was built and no node failed (dbt_project/macros/spark.sql). The last complete
build is the Spark warehouse's current state: the serving snapshot is published from its marts
through a small DuckDB file of views over their Parquet files (`serving_source.duckdb`), so that
`orchestration.serving.publish_snapshot` publishes Spark's marts exactly as it publishes DuckDB's.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from orchestration.config import Settings

RUNS_DIR = "runs"
BUILDS_DIR = "builds"
SERVING_SOURCE = "serving_source.duckdb"
KEEP_BUILDS = 2


@dataclass(frozen=True)
class SparkBuild:
    invocation_id: str
    location: Path
    load_seq: int
    load_id: str | None


def _parquet_files(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(str(p) for p in folder.rglob("*.parquet") if not p.name.startswith((".", "_")))


def last_complete_build(settings: Settings) -> SparkBuild | None:
    files = _parquet_files(settings.spark_warehouse / RUNS_DIR)
    if not files:
        return None
    with duckdb.connect() as con:
        row = con.execute(
            "select invocation_id, build_location, load_seq, load_id from read_parquet(?) "
            "where status = 'complete' order by recorded_at desc limit 1",
            [files],
        ).fetchone()
    if row is None:
        return None
    location = Path(row[1])
    return SparkBuild(invocation_id=row[0], location=location, load_seq=int(row[2]), load_id=row[3])


def table_dir(build: SparkBuild, schema: str, table: str) -> Path:
    return build.location / f"{schema}.db" / table


def prune_builds(settings: Settings, keep: int = KEEP_BUILDS) -> list[str]:
    """Delete build folders but the `keep` newest complete ones (failed and older builds)."""
    builds_dir = settings.spark_warehouse / BUILDS_DIR
    if not builds_dir.is_dir():
        return []
    files = _parquet_files(settings.spark_warehouse / RUNS_DIR)
    kept: list[str] = []
    if files:
        with duckdb.connect() as con:
            kept = [
                Path(location).name
                for (location,) in con.execute(
                    "select build_location from read_parquet(?) where status = 'complete' "
                    "order by recorded_at desc limit ?",
                    [files, keep],
                ).fetchall()
            ]
    removed = []
    for folder in builds_dir.iterdir():
        if folder.is_dir() and folder.name not in kept:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder.name)
    return removed


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def write_serving_source(settings: Settings, schemas: tuple[str, ...] = ("marts",)) -> Path:
    """A DuckDB file of views over the last complete Spark build's tables and its run log.

    `orchestration.serving.publish_snapshot` reads it like the DuckDB warehouse: schema `marts`, and
    `intermediate._incremental_runs` for the snapshot's dbt watermark.
    """
    build = last_complete_build(settings)
    if build is None:
        raise FileNotFoundError(
            f"no complete Spark build in {settings.spark_warehouse}: run `chat-analytics materialize` first"
        )
    target = settings.spark_warehouse / SERVING_SOURCE
    tmp = target.with_name(f".{SERVING_SOURCE}.tmp")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        con.execute("set TimeZone = 'UTC'")
        for schema in schemas:
            con.execute(f"create schema {_ident(schema)}")
            schema_dir = build.location / f"{schema}.db"
            for table_folder in (
                sorted(p for p in schema_dir.iterdir() if p.is_dir()) if schema_dir.is_dir() else []
            ):
                files = _parquet_files(table_folder)
                if not files:
                    continue
                file_list = "[" + ", ".join(_literal(f) for f in files) + "]"
                con.execute(
                    f"create view {_ident(schema)}.{_ident(table_folder.name)} as "
                    f"select * from read_parquet({file_list})"
                )
        con.execute("create schema if not exists intermediate")
        runs = _parquet_files(settings.spark_warehouse / RUNS_DIR)
        runs_list = "[" + ", ".join(_literal(f) for f in runs) + "]"
        con.execute(
            "create table intermediate._incremental_runs as "
            f"select load_seq, load_id, settings, mode, status, invocation_id, recorded_at "
            f"from read_parquet({runs_list})"
        )
    tmp.replace(target)
    return target


def mart_row_counts(settings: Settings, tables: list[str]) -> dict[str, int]:
    build = last_complete_build(settings)
    counts: dict[str, int] = {}
    if build is None:
        return counts
    with duckdb.connect() as con:
        for schema_and_table in tables:
            schema, table = schema_and_table.split(".", 1)
            files = _parquet_files(table_dir(build, schema, table))
            if files:
                (counts[schema_and_table],) = con.execute(
                    "select count(*) from read_parquet(?)", [files]
                ).fetchone()
    return counts
