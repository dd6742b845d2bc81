"""The Dagster asset `raw_chat_events`: one arrival-date partition per landing folder."""

from collections.abc import Sequence
from datetime import date

import dagster as dg

from orchestration.raw_events import LoadResult, load_partition
from orchestration.resources import ChatAnalyticsResource

RAW_ASSET_KEY = dg.AssetKey("raw_chat_events")
QUARANTINE_CHECK = "quarantined_share_within_threshold"
LANDING_CHECK = "landing_folder_present"
WAREHOUSE_POOL = "duckdb_warehouse"


def summarize_loads(
    results: Sequence[LoadResult], max_share: float
) -> tuple[dict, list[dg.AssetCheckResult]]:
    """Metadata and check results of one run's loads (one or many partitions)."""
    lines = sum(r.lines_read for r in results)
    quarantined = sum(r.quarantined_rows for r in results)
    reasons: dict[str, int] = {}
    for r in results:
        for reason, n in r.quarantine_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    over = [r for r in results if r.quarantined_share > max_share]
    missing = [r for r in results if not r.folder_exists]
    metadata = {
        "partitions": len(results),
        # files identical to their last load, so not rewritten (decision O10)
        "unchanged_partitions": sum(r.unchanged for r in results),
        "files_read": sum(len(r.files) for r in results),
        "lines_read": lines,
        "valid_rows": sum(r.valid_rows for r in results),
        "quarantined_rows": quarantined,
        "duplicate_rows": sum(r.duplicate_rows for r in results),
        "quarantine_reasons": dg.MetadataValue.json(reasons),
        "per_partition": dg.MetadataValue.md(
            "| arrival date | files | lines | valid | quarantined | duplicates | reloaded |\n"
            "|---|---|---|---|---|---|---|\n"
            + "\n".join(
                f"| {r.arrival_date} | {len(r.files)} | {r.lines_read} | {r.valid_rows} | "
                f"{r.quarantined_rows} | {r.duplicate_rows} | {'no (unchanged)' if r.unchanged else 'yes'} |"
                for r in results
            )
        ),
    }
    checks = [
        dg.AssetCheckResult(
            check_name=QUARANTINE_CHECK,
            passed=not over,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "threshold": max_share,
                "worst_share": max((r.quarantined_share for r in results), default=0.0),
                "partitions_over_threshold": ", ".join(str(r.arrival_date) for r in over) or "none",
            },
        ),
        dg.AssetCheckResult(
            check_name=LANDING_CHECK,
            passed=not missing,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"missing_folders": ", ".join(str(r.folder) for r in missing) or "none"},
        ),
    ]
    return metadata, checks


class RawLoadConfig(dg.Config):
    # Reload partitions even when their files are identical to the last load (decision O10).
    force_reload: bool = False


def load_range(
    resource: ChatAnalyticsResource,
    dates: Sequence[date],
    log: dg.DagsterLogManager | None = None,
    *,
    force: bool = False,
) -> list[LoadResult]:
    settings = resource.settings()
    results = []
    for arrival_date in dates:
        result = load_partition(
            settings.warehouse,
            settings.landing_dir,
            arrival_date,
            lock_timeout_seconds=resource.lock_timeout_seconds,
            force=force,
        )
        if log is not None:
            log.info(
                f"raw {arrival_date}: {result.lines_read} lines, {result.valid_rows} valid, "
                f"{result.quarantined_rows} quarantined, {result.duplicate_rows} duplicates"
                + ("" if result.folder_exists else f" (no folder {result.folder})")
                + (" (files unchanged since their last load: not reloaded)" if result.unchanged else "")
            )
        results.append(result)
    return results


def build_raw_asset(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=RAW_ASSET_KEY,
        group_name="raw",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        kinds={"duckdb", "python"},
        description=(
            "Chat events of the landing zone, one daily partition per arrival folder: valid events in "
            "raw.chat_events (duplicates kept and flagged), unusable lines in raw.quarantined_events."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                QUARANTINE_CHECK, asset=RAW_ASSET_KEY, description="Quarantined share per partition"
            ),
            dg.AssetCheckSpec(LANDING_CHECK, asset=RAW_ASSET_KEY, description="The arrival folder exists"),
        ],
    )
    def raw_chat_events(
        context: dg.AssetExecutionContext, config: RawLoadConfig, chat_analytics: ChatAnalyticsResource
    ) -> dg.MaterializeResult:
        keys = context.partition_keys
        dates = sorted(date.fromisoformat(k) for k in keys)
        results = load_range(chat_analytics, dates, context.log, force=config.force_reload)
        metadata, checks = summarize_loads(results, chat_analytics.settings().max_quarantine_share)
        return dg.MaterializeResult(metadata=metadata, check_results=checks)

    return raw_chat_events
