"""Every dbt model as a Dagster asset downstream of `raw_chat_events`; dbt tests as asset checks."""

import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from orchestration.config import DBT_PROJECT_DIR
from orchestration.dbt_manifest import dbt_environment, keep_partial_parse
from orchestration.dbt_state import reason_to_run_dbt
from orchestration.raw_asset import WAREHOUSE_POOL
from orchestration.resources import ChatAnalyticsResource
from orchestration.serving import ServingConfig, reason_to_publish
from orchestration.warehouse import open_warehouse

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
LAYERS = ("staging", "intermediate", "marts")
# The daily schedule materializes them once a day: a mart not updated for 26 hours missed a run
# (warning); after 50 hours two runs were missed (failure).
MARTS_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=50), warn_window=timedelta(hours=26)
)
# dbt has exited when row counts are read; only another process (a concurrent reader) can hold the file.
METADATA_LOCK_TIMEOUT_SECONDS = 60.0


class ChatAnalyticsTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        # Model names are unique and fixed by the spec; the layer shows as the asset group.
        if dbt_resource_props.get("resource_type") in ("model", "seed", "snapshot"):
            return dg.AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if spec.group_name == "marts":
            return spec.replace_attributes(freshness_policy=MARTS_FRESHNESS)
        return spec

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        for layer in LAYERS:
            if layer in fqn:
                return layer
        return super().get_group_name(dbt_resource_props)


# The raw tables dbt reads (events, change log) are all written by the one raw asset.
TRANSLATOR = ChatAnalyticsTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_duplicate_source_asset_keys=True)
)


def _with_table_metadata(events: list[Any], manifest: Mapping[str, Any], warehouse: Path) -> Iterator[Any]:
    """Add row counts once dbt has exited: DuckDB admits no reader while dbt holds the file."""
    nodes = manifest.get("nodes", {})
    with open_warehouse(warehouse, read_only=True, lock_timeout_seconds=METADATA_LOCK_TIMEOUT_SECONDS) as con:
        for event in events:
            unique_id = (
                getattr(event, "metadata", {}).get("unique_id") if isinstance(event, dg.Output) else None
            )
            node = nodes.get(getattr(unique_id, "value", unique_id)) if unique_id else None
            if node is None or node.get("resource_type") != "model":
                yield event
                continue
            # Schema and alias only: the manifest's database name follows whichever file it was parsed with.
            relation = f'"{node["schema"]}"."{node["alias"]}"'
            (row_count,) = con.execute(f"select count(*) from {relation}").fetchone()
            yield dg.Output(
                value=event.value,
                output_name=event.output_name,
                metadata={**event.metadata, "dagster/row_count": dg.MetadataValue.int(int(row_count))},
                data_version=event.data_version,
                tags=event.tags,
            )


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False


def build_dbt_assets(partitions_def: dg.PartitionsDefinition, manifest_path: Path) -> dg.AssetsDefinition:
    manifest = json.loads(manifest_path.read_text())

    @dbt_assets(
        manifest=manifest,
        dagster_dbt_translator=TRANSLATOR,
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        project=DBT_PROJECT,
    )
    def chat_analytics_dbt(
        context: dg.AssetExecutionContext,
        config: DbtBuildConfig,
        dbt: DbtCliResource,
        chat_analytics: ChatAnalyticsResource,
    ) -> Iterator[Any]:
        settings = chat_analytics.settings()
        if settings.warehouse.exists():
            with open_warehouse(
                # dbt itself fails at once on a locked file: wait here for another process to finish
                settings.warehouse,
                read_only=True,
                lock_timeout_seconds=chat_analytics.lock_timeout_seconds,
            ) as con:
                reason = (
                    "--full-refresh"
                    if config.full_refresh
                    # a snapshot left behind (a run killed before publishing) is published by this run
                    else reason_to_run_dbt(con, settings, manifest)
                    or reason_to_publish(con, ServingConfig.from_env(settings))
                )
            if reason is None:
                # Nothing is yielded: no model is re-materialized and nothing downstream runs.
                context.log.info(
                    "dbt skipped: the last complete dbt run already processed every load and the serving "
                    "snapshot is current"
                )
                return
            context.log.info(f"dbt runs: {reason}")
        # The settings reach dbt through the environment only: the same vars as at parse time keep
        # dbt's partial parsing valid. New data is found by load (decision O5), so the partition
        # window is not passed. Unit tests prove the SQL in CI, not on every production run.
        with dbt_environment(settings):
            args = [
                "build",
                "--exclude-resource-type",
                "unit_test",
                *(["--full-refresh"] if config.full_refresh else []),
            ]
            invocation = dbt.cli(args, context=context, raise_on_error=False)
            events = list(invocation.stream())
        keep_partial_parse(invocation.target_path)
        yield from _with_table_metadata(events, manifest, settings.warehouse)
        if not invocation.is_successful():
            raise dg.Failure(
                description="dbt build failed: a model or an error-severity test failed; downstream models "
                f"were skipped. See the run's logs and {invocation.target_path / 'run_results.json'}."
            )

    return chat_analytics_dbt
