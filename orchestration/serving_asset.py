"""The Dagster asset `serving_snapshot`: publishes the marts to readers after every successful build.

It depends on every mart. When dbt fails (a model, or a test of error severity), the dbt step fails,
Dagster skips this asset, and readers keep the last good snapshot.
"""

import dagster as dg

from orchestration.config import Settings
from orchestration.raw_asset import WAREHOUSE_POOL
from orchestration.resources import ChatAnalyticsResource
from orchestration.serving import ServingConfig, publish_snapshot

SERVING_ASSET_KEY = dg.AssetKey("serving_snapshot")
MARTS_GROUP = "marts"


def mart_keys(dbt_assets: dg.AssetsDefinition) -> list[dg.AssetKey]:
    """The asset keys of the dbt models in the marts group."""
    return sorted((spec.key for spec in dbt_assets.specs if spec.group_name == MARTS_GROUP), key=str)


def build_serving_asset(
    partitions_def: dg.PartitionsDefinition,
    dbt_assets: dg.AssetsDefinition,
    settings: Settings | None = None,
) -> dg.AssetsDefinition:
    if settings is not None:
        # Fail when the code location loads (the CLI exits with code 2), not after a whole build.
        ServingConfig.from_env(settings)
    marts = mart_keys(dbt_assets)
    if not marts:
        raise ValueError("the dbt project has no model in the marts group: nothing to serve")

    @dg.asset(
        key=SERVING_ASSET_KEY,
        group_name="serving",
        deps=marts,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        kinds={"duckdb", "parquet"},
        description=(
            "Read-only snapshot of the marts for BI tools and analysts: serving/chat_analytics.duckdb and one "
            "Parquet file per mart under serving/parquet/current/, switched atomically after each "
            "successful build. Readers never open the warehouse."
        ),
    )
    def serving_snapshot(
        context: dg.AssetExecutionContext, chat_analytics: ChatAnalyticsResource
    ) -> dg.MaterializeResult:
        settings = chat_analytics.settings()
        config = ServingConfig.from_env(settings)
        keys = context.partition_keys
        publication = publish_snapshot(
            settings,
            config,
            run_id=context.run.run_id,
            partition_range=(min(keys), max(keys)) if keys else None,
            tables=[key.path[-1] for key in marts],
            lock_timeout_seconds=max(chat_analytics.lock_timeout_seconds, 1.0),
        )
        context.log.info(
            f"published snapshot {publication.version} to {publication.path} "
            f"({sum(publication.row_counts.values())} rows in {len(publication.row_counts)} marts)"
        )
        return dg.MaterializeResult(
            metadata={
                "version": publication.version,
                "serving_file": dg.MetadataValue.path(str(publication.path)),
                "parquet_dir": dg.MetadataValue.path(str(publication.parquet_dir)),
                "pseudonymized_customers": publication.pseudonymized,
                "row_counts": dg.MetadataValue.json(publication.row_counts),
                "consistency_checks": dg.MetadataValue.json(publication.checks),
            }
        )

    return serving_snapshot
