"""Which engine runs the pipeline (CHAT_ANALYTICS_ENGINE): DuckDB (default) or Apache Spark.

The Dagster assets stay the same; for Spark they call into this module: the raw load
(`orchestration.spark_loader`), the dbt step (the same `dbt build` with dbt's target `spark`, under the
Spark warehouse's lock, row counts read from the build's Parquet files) and the serving snapshot
(published from the last complete Spark build, `orchestration.spark_build`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

from orchestration.config import Settings
from orchestration.raw_events import LoadResult


def is_spark(settings: Settings) -> bool:
    return settings.engine == "spark"


def check_engine(settings: Settings) -> None:
    """Fail at start-up (ConfigError) when the engine cannot run on this machine."""
    if is_spark(settings):
        from orchestration.spark_session import require_spark

        require_spark()


def load_raw_partition(
    settings: Settings, arrival_date: date, *, lock_timeout_seconds: float = 0.0, force: bool = False
) -> LoadResult:
    if is_spark(settings):
        from orchestration.spark_loader import load_partition as load_spark_partition

        return load_spark_partition(
            settings, arrival_date, lock_timeout_seconds=lock_timeout_seconds, force=force
        )
    from orchestration.raw_events import load_partition

    return load_partition(
        settings.warehouse,
        settings.landing_dir,
        arrival_date,
        lock_timeout_seconds=lock_timeout_seconds,
        force=force,
    )


def run_spark_dbt(
    context: Any,
    dbt: Any,
    settings: Settings,
    manifest: Mapping[str, Any],
    args: list[str],
    lock_timeout_seconds: float,
) -> Iterator[Any]:
    """`dbt build` on Spark: every run builds every model into a new build folder (no skip, no plan)."""
    import dagster as dg

    from orchestration.dbt_manifest import dbt_environment, keep_partial_parse
    from orchestration.spark_build import mart_row_counts, prune_builds
    from orchestration.spark_loader import recover, warehouse_lock

    with warehouse_lock(settings.spark_warehouse, lock_timeout_seconds):
        recover(settings.spark_warehouse)
        context.log.info(f"dbt runs on Spark ({settings.spark_master}): a full build of every model")
        with dbt_environment(settings):
            invocation = dbt.cli(args, context=context, raise_on_error=False)
            events = list(invocation.stream())
        keep_partial_parse(invocation.target_path)
        if invocation.is_successful():
            prune_builds(settings)
    nodes = manifest.get("nodes", {})
    relations = {
        unique_id: f"{node['schema']}.{node['alias']}"
        for unique_id, node in nodes.items()
        if node.get("resource_type") == "model"
    }
    counts = mart_row_counts(settings, sorted(set(relations.values()))) if invocation.is_successful() else {}
    for event in events:
        unique_id = getattr(event, "metadata", {}).get("unique_id") if isinstance(event, dg.Output) else None
        relation = relations.get(getattr(unique_id, "value", unique_id)) if unique_id else None
        if relation is None or relation not in counts:
            yield event
            continue
        yield dg.Output(
            value=event.value,
            output_name=event.output_name,
            metadata={**event.metadata, "dagster/row_count": dg.MetadataValue.int(int(counts[relation]))},
            data_version=event.data_version,
            tags=event.tags,
        )
    if not invocation.is_successful():
        raise dg.Failure(
            description="dbt build on Spark failed: a model or an error-severity test failed; the build is "
            f"not recorded and nothing is published. See {invocation.target_path / 'run_results.json'}."
        )


def publish_spark_snapshot(
    settings: Settings, config: Any, lock_timeout_seconds: float, **kwargs: Any
) -> Any:
    """Publish the last complete Spark build's marts, as `publish_snapshot` publishes DuckDB's."""
    from orchestration.serving import publish_snapshot
    from orchestration.spark_build import serving_settings
    from orchestration.spark_loader import warehouse_lock

    with warehouse_lock(settings.spark_warehouse, lock_timeout_seconds):
        source = serving_settings(settings)
    return publish_snapshot(source, config, lock_timeout_seconds=lock_timeout_seconds, **kwargs)


def load_log_rows(settings: Settings, start: date, end: date) -> list[tuple]:
    """The last load of each arrival date in start..end (what the CLI prints after a run)."""
    import duckdb

    if is_spark(settings):
        from orchestration.spark_loader import _parquet_files, table_dir

        files = _parquet_files(table_dir(settings.spark_warehouse, "load_log"))
        if not files:
            return []
        source = "read_parquet(?)"
        params: list[Any] = [files, start, end]
        con = duckdb.connect()
    else:
        from orchestration.warehouse import connect

        if not settings.warehouse.exists():
            return []
        source = "raw.load_log"
        params = [start, end]
        con = connect(settings.warehouse, read_only=True)
    try:
        return con.execute(
            f"""
            select arrival_date, files_read, lines_read, valid_rows, quarantined_rows, duplicate_rows
            from {source}
            where arrival_date between ? and ?
            qualify row_number() over (partition by arrival_date order by finished_at desc) = 1
            order by arrival_date
            """,
            params,
        ).fetchall()
    finally:
        con.close()
