"""Which engine runs the pipeline (CHAT_ANALYTICS_ENGINE): DuckDB (default) or Apache Spark.

The Dagster assets stay the same; for Spark they call into this module: the dbt step (the same
`dbt build` with dbt's target `spark`, under the Spark warehouse's lock, row counts read from the build's
Parquet files) and the serving snapshot (published from the last complete Spark build,
`orchestration.spark_build`). The raw asset calls `orchestration.spark_loader` itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestration.config import Settings


def is_spark(settings: Settings) -> bool:
    return settings.engine == "spark"


def check_engine(settings: Settings) -> None:
    """Fail at start-up (ConfigError) when the engine cannot run on this machine."""
    if is_spark(settings):
        from orchestration.spark_session import require_spark

        require_spark()


@contextmanager
def spark_build_session(settings: Settings, lock_timeout_seconds: float) -> Iterator[None]:
    """dbt's build on Spark holds the Spark warehouse's lock.

    Before: a load left half-done by a killed run is rolled back. After: build folders but the newest
    complete ones are deleted (failed builds included; the run log names the last complete one).
    """
    from orchestration.spark_build import prune_builds
    from orchestration.spark_loader import recover, warehouse_lock

    with warehouse_lock(settings.spark_warehouse, lock_timeout_seconds):
        recover(settings.spark_warehouse)
        yield
        prune_builds(settings)


def spark_row_counts(settings: Settings, manifest: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """(schema, alias) -> rows of every model of the last complete Spark build, read from its Parquet."""
    from orchestration.spark_build import mart_row_counts

    relations = sorted(
        {
            f"{node['schema']}.{node['alias']}"
            for node in manifest.get("nodes", {}).values()
            if node.get("resource_type") in ("model", "seed")
        }
    )
    return {
        tuple(relation.split(".", 1)): count  # type: ignore[misc]
        for relation, count in mart_row_counts(settings, relations).items()
    }


def serving_source(settings: Settings, warehouse_file: Path, lock_timeout_seconds: float) -> Path:
    """The DuckDB file the serving snapshot is published from.

    DuckDB: the warehouse. Spark: a small file of views over the last complete build's marts and its
    run log (`orchestration.spark_build`), so that the snapshot is published the same way from both.
    """
    if not is_spark(settings):
        return warehouse_file
    from orchestration.spark_build import write_serving_source
    from orchestration.spark_loader import warehouse_lock

    with warehouse_lock(settings.spark_warehouse, lock_timeout_seconds):
        return write_serving_source(settings)
