"""Every dbt seed and model as a Dagster asset downstream of `raw_chat_events`; dbt tests as asset checks.

The dbt assets are not partitioned: dbt finds new data by load sequence, never by arrival date
(decision O5), so a backfill of N arrival dates materializes each model once, not N times (decision O18).
"""

import contextlib
import graphlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
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
from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

from orchestration.config import DBT_PROJECT_DIR, Settings
from orchestration.dbt_manifest import keep_partial_parse
from orchestration.dbt_state import reason_to_run_dbt
from orchestration.engine import is_spark, spark_build_session, spark_row_counts
from orchestration.names import DBT_ASSETS, DBT_LAYERS, MARTS_GROUP, RAW_ASSET, SEEDS_GROUP, WAREHOUSE_POOL
from orchestration.progress import FAILED_STATUSES, DbtNode, RunProgress, dbt_node_event
from orchestration.resources import WarehouseResource

DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
# The daily schedule materializes them once a day: a mart not updated for 26 hours missed a run
# (warning); after 50 hours two runs were missed (failure).
MARTS_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=50), warn_window=timedelta(hours=26)
)
# The nodes a production build runs (unit tests are excluded, decision O12).
BUILT_RESOURCE_TYPES = ("seed", "model", "test")


class ChatAnalyticsTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        # Model and seed names are unique and fixed by the spec; the layer shows as the asset group.
        if dbt_resource_props.get("resource_type") in ("model", "seed", "snapshot"):
            return dg.AssetKey(dbt_resource_props["name"])
        return super().get_asset_key(dbt_resource_props)

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if spec.group_name == MARTS_GROUP:
            return spec.replace_attributes(freshness_policy=MARTS_FRESHNESS)
        if manifest["nodes"].get(unique_id, {}).get("resource_type") == "seed":
            # Not a data dependency: it orders the seeds after the raw load, so that a UI backfill runs the
            # whole dbt project in one run once the raw range is loaded. Seeds without it are roots the
            # backfill daemon starts at once, in a run of their own, and the models reading them in a
            # third (decision O18).
            return spec.merge_attributes(deps=[RAW_ASSET])
        return spec

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props.get("resource_type") == "seed":
            return SEEDS_GROUP
        fqn = dbt_resource_props.get("fqn", [])
        for layer in DBT_LAYERS:
            if layer in fqn:
                return layer
        return super().get_group_name(dbt_resource_props)


# The raw tables dbt reads (events, change log) are all written by the one raw asset.
TRANSLATOR = ChatAnalyticsTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_duplicate_source_asset_keys=True)
)


def built_node_count(manifest: Mapping[str, Any]) -> int:
    """Seeds, models and data tests: the nodes `dbt build --exclude-resource-type unit_test` runs."""
    return sum(
        1 for node in manifest.get("nodes", {}).values() if node.get("resource_type") in BUILT_RESOURCE_TYPES
    )


def with_row_counts(
    events: Iterable[Any], manifest: Mapping[str, Any], count_rows: Callable[[str, str], int | None]
) -> Iterator[Any]:
    """dbt's events, each model's and seed's output with its row count (`count_rows(schema, alias)`)."""
    nodes = manifest.get("nodes", {})
    for event in events:
        unique_id = getattr(event, "metadata", {}).get("unique_id") if isinstance(event, dg.Output) else None
        node = nodes.get(getattr(unique_id, "value", unique_id)) if unique_id else None
        if node is None or node.get("resource_type") not in ("model", "seed"):
            yield event
            continue
        # Schema and alias only: the manifest's database name follows whichever file it was parsed with.
        row_count = count_rows(node["schema"], node["alias"])
        if row_count is None:
            yield event
            continue
        yield dg.Output(
            value=event.value,
            output_name=event.output_name,
            metadata={**event.metadata, "dagster/row_count": dg.MetadataValue.int(int(row_count))},
            data_version=event.data_version,
            tags=event.tags,
        )


def stream_dbt_events(invocation: DbtCliInvocation, on_node: Callable[[DbtNode], None]) -> Iterator[Any]:
    """dagster-dbt's events of a dbt invocation; `on_node` hears of each node's start and end as they come."""
    for raw in invocation.stream_raw_events():
        node = dbt_node_event(raw.raw_event)
        if node is not None:
            on_node(node)
        yield from raw.to_default_asset_events(
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=invocation.context,
            target_path=invocation.target_path,
            project=invocation.project,
        )


def failure_lines(run_results: Mapping[str, Any]) -> list[str]:
    """'<type> <name>: <status>: <dbt's message>' for every node of run_results.json that failed."""
    lines = []
    for result in run_results.get("results", []):
        if result.get("status") in FAILED_STATUSES:
            # unique ids read <type>.<project>.<name>[.<hash of a generic test>]
            kind, _, name = (result.get("unique_id") or "node..?").split(".")[:3]
            message = " ".join(str(result.get("message") or "").split())
            lines.append(f"{kind} {name}: {result['status']}: {message}")
    return lines


def failure_description(invocation: DbtCliInvocation) -> str:
    """Why a dbt build failed, in a few lines: the failed nodes, else dbt's own error messages."""
    try:
        lines = failure_lines(invocation.get_artifact("run_results.json"))
    except OSError:  # dbt stopped before running any node (a compilation or connection error)
        lines = []
    if not lines:
        error = invocation.get_error()
        lines = [str(error).split("Errors parsed from dbt logs:", 1)[-1].strip()] if error else []
    lines.append(f"dbt's log and artifacts: {invocation.target_path}")
    return "dbt build failed; what depends on it was skipped.\n" + "\n".join(lines)


def unchanged_materializations(
    context: dg.AssetExecutionContext, reason: str
) -> Iterator[dg.MaterializeResult]:
    """Every model and seed recorded as current, without running dbt (decision O17).

    The last complete dbt run already processed every load, so each model holds what a run would write:
    recording that keeps the marts' freshness policy from flagging them late after a quiet day.
    """
    selected = context.selected_asset_keys
    # Dagster wants a multi-asset's outputs upstream first.
    graph = {
        key: {dep for dep in context.assets_def.asset_deps.get(key, ()) if dep in selected}
        for key in selected
    }
    for key in graphlib.TopologicalSorter(graph).static_order():
        yield dg.MaterializeResult(
            asset_key=key, metadata={"dbt": "not run: nothing changed", "reason": reason}
        )


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False


def build_dbt_assets(settings: Settings, manifest_path: Path) -> dg.AssetsDefinition:
    manifest = json.loads(manifest_path.read_text())

    @dbt_assets(
        manifest=manifest,
        name=DBT_ASSETS,
        dagster_dbt_translator=TRANSLATOR,
        pool=WAREHOUSE_POOL,
        project=DBT_PROJECT,
    )
    def chat_analytics_dbt(
        context: dg.AssetExecutionContext,
        config: DbtBuildConfig,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        progress: dg.ResourceParam[RunProgress],
    ) -> Iterator[Any]:
        progress.dbt_started()
        spark = is_spark(settings)
        if spark:
            # Spark keeps no table state between runs (decision S2): nothing to compare, nothing to skip.
            reason: str | None = "every run on Spark is a full build"
        elif config.full_refresh:
            reason = "--full-refresh"
        else:
            # dbt itself fails at once on a locked file: wait here for another process to finish
            with warehouse.open(read_only=True) as con:
                reason = reason_to_run_dbt(con, settings, manifest)
        if reason is None:
            skipped = "the last complete dbt run already processed every load"
            context.log.info(f"dbt skipped: {skipped}")
            progress.dbt_skipped(skipped)
            yield from unchanged_materializations(context, skipped)
            return
        context.log.info(f"dbt runs: {reason}")
        progress.dbt_running(reason, built_node_count(manifest))
        # The settings reach dbt as --vars, the same as at parse time so that partial parsing stays valid
        # (decision O12). New data is found by load (decision O5), so no partition window is passed. Unit
        # tests prove the SQL in CI, not on every production run.
        args = [
            "build",
            "--exclude-resource-type",
            "unit_test",
            *settings.dbt_cli_args(),
            *(["--full-refresh"] if config.full_refresh and not spark else []),
        ]
        with (
            spark_build_session(settings, warehouse.lock_timeout_seconds)
            if spark
            else contextlib.nullcontext()
        ):
            invocation = dbt.cli(args, context=context, raise_on_error=False)
            events = list(stream_dbt_events(invocation, progress.dbt_node))
        keep_partial_parse(invocation.target_path)
        if spark:
            counts = spark_row_counts(settings, manifest) if invocation.is_successful() else {}
            yield from with_row_counts(events, manifest, lambda schema, alias: counts.get((schema, alias)))
        else:
            # after dbt has exited: DuckDB admits no reader while dbt holds the file
            with warehouse.open(read_only=True) as con:
                yield from with_row_counts(
                    events,
                    manifest,
                    lambda schema, alias: con.execute(
                        f'select count(*) from "{schema}"."{alias}"'
                    ).fetchone()[0],
                )
        success = invocation.is_successful()
        progress.dbt_finished(success)
        if not success:
            raise dg.Failure(description=failure_description(invocation))

    return chat_analytics_dbt
