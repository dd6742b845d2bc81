"""The Dagster asset `serving_snapshot`: publishes the marts to readers after every successful build.

It depends on every mart. When dbt fails (a model, or a test of error severity), the dbt step fails,
Dagster skips this asset, and readers keep the last good snapshot. When the snapshot already holds what
the warehouse holds (dbt was not started and nothing is behind), it is not copied again.
"""

import dagster as dg

from orchestration.config import Settings
from orchestration.engine import is_spark, serving_source
from orchestration.names import MARTS_GROUP, SERVING_ASSET, SERVING_GROUP, WAREHOUSE_POOL
from orchestration.progress import RunProgress
from orchestration.resources import ServingResource, WarehouseResource
from orchestration.serving import publish_snapshot, reason_to_publish
from orchestration.warehouse import open_warehouse

SERVING_ASSET_KEY = dg.AssetKey(SERVING_ASSET)


def mart_keys(dbt_assets: dg.AssetsDefinition) -> list[dg.AssetKey]:
    """The asset keys of the dbt models in the marts group."""
    return sorted((spec.key for spec in dbt_assets.specs if spec.group_name == MARTS_GROUP), key=str)


def build_serving_asset(settings: Settings, dbt_assets: dg.AssetsDefinition) -> dg.AssetsDefinition:
    marts = mart_keys(dbt_assets)
    if not marts:
        raise ValueError("the dbt project has no model in the marts group: nothing to serve")

    @dg.asset(
        key=SERVING_ASSET_KEY,
        group_name=SERVING_GROUP,
        deps=marts,
        pool=WAREHOUSE_POOL,
        kinds={"spark" if is_spark(settings) else "duckdb", "parquet"},
        description=(
            "Read-only snapshot of the marts for BI tools and analysts: serving/chat_analytics.duckdb and one "
            "Parquet file per mart under serving/parquet/current/, switched atomically after each "
            "successful build. Readers never open the warehouse."
        ),
    )
    def serving_snapshot(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        serving: ServingResource,
        progress: dg.ResourceParam[RunProgress],
    ) -> dg.MaterializeResult:
        progress.serving_started()
        config = serving.config()
        lock_timeout_seconds = max(warehouse.lock_timeout_seconds, 1.0)
        source = serving_source(settings, warehouse.file, lock_timeout_seconds)
        with open_warehouse(source, read_only=True, lock_timeout_seconds=lock_timeout_seconds) as con:
            reason = reason_to_publish(con, config)
        if reason is None:
            detail = f"the snapshot in {config.serving_dir} already holds the warehouse's marts"
            context.log.info(f"not republished: {detail}")
            progress.serving_finished(False, detail)
            return dg.MaterializeResult(metadata={"published": False, "reason": detail})
        publication = publish_snapshot(
            source,
            config,
            run_id=context.run.run_id,
            tables=[key.path[-1] for key in marts],
            lock_timeout_seconds=lock_timeout_seconds,
        )
        detail = (
            f"snapshot {publication.version} of {len(publication.row_counts)} marts "
            f"({sum(publication.row_counts.values()):,} rows) in {config.serving_dir}"
        )
        context.log.info(f"published {detail} ({reason})")
        progress.serving_finished(True, detail)
        return dg.MaterializeResult(
            metadata={
                "published": True,
                "reason": reason,
                "version": publication.version,
                "serving_file": dg.MetadataValue.path(str(publication.path)),
                "parquet_dir": dg.MetadataValue.path(str(publication.parquet_dir)),
                "pseudonymized_customers": publication.pseudonymized,
                "row_counts": dg.MetadataValue.json(publication.row_counts),
                "consistency_checks": dg.MetadataValue.json(publication.checks),
            }
        )

    return serving_snapshot
