"""The Dagster asset `raw_chat_events`: one arrival-date partition per landing folder.

A backfill runs every selected partition in one run (single-run backfill policy). Most dates of a long
backfill have no folder (a quiet day, a purged landing zone): those cost no warehouse access, no query
and no log line of their own; the landing zone is listed once per run.
"""

import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.config import Settings
from orchestration.engine import is_spark
from orchestration.names import LANDING_CHECK, QUARANTINE_CHECK, RAW_ASSET, RAW_GROUP, WAREHOUSE_POOL
from orchestration.partitions import partition_dates
from orchestration.progress import RunProgress
from orchestration.raw_events import LoadResult, load_partitions
from orchestration.resources import WarehouseResource

RAW_ASSET_KEY = dg.AssetKey(RAW_ASSET)
# Metadata is copied onto the materialization of every partition of the run: keep it small.
MAX_LISTED_RANGES = 10
# Loaded dates logged per Dagster log event: a six-year backfill writes 46 events, not 2,289.
LOG_BATCH = 50


def date_ranges(dates: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive dates merged into (first, last) ranges, in order."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(dates):
        if ranges and day == ranges[-1][1] + timedelta(days=1):
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def format_ranges(dates: Iterable[date], limit: int = MAX_LISTED_RANGES) -> str:
    """'2026-03-01..2026-03-04, 2026-03-07' (at most `limit` ranges, then how many more)."""
    ranges = date_ranges(dates)
    shown = [f"{a}..{b}" if a != b else f"{a}" for a, b in ranges[:limit]]
    if len(ranges) > limit:
        shown.append(f"and {len(ranges) - limit} more ranges")
    return ", ".join(shown) or "none"


def summarize_loads(
    results: Sequence[LoadResult], max_share: float
) -> tuple[dict[str, Any], list[dg.AssetCheckResult]]:
    """Metadata and check results of one run's loads (one or many partitions)."""
    quarantined = sum(r.quarantined_rows for r in results)
    reasons: dict[str, int] = {}
    for r in results:
        for reason, n in r.quarantine_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + n
    over = [r for r in results if r.quarantined_share > max_share]
    missing = [r for r in results if not r.folder_exists]
    present = [r for r in results if r.folder_exists]
    metadata = {
        "partitions": len(results),
        "partitions_without_folder": len(missing),
        # files identical to their last load, so not rewritten (decision O10)
        "unchanged_partitions": sum(r.unchanged for r in results),
        "files_read": sum(len(r.files) for r in results),
        "lines_read": sum(r.lines_read for r in results),
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
                for r in present
            )
            + (
                f"\n\nNo folder (nothing loaded): {format_ranges(r.arrival_date for r in missing)}"
                if missing
                else ""
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
            metadata={
                "missing_folders": len(missing),
                "missing_arrival_dates": format_ranges(r.arrival_date for r in missing),
                "landing_dir": dg.MetadataValue.path(str(missing[0].folder.parent)) if missing else "",
            },
        ),
    ]
    return metadata, checks


class RawLoadConfig(dg.Config):
    # Reload partitions even when their files are identical to the last load (decision O10).
    force_reload: bool = False


def arrival_folders(landing_dir: Path) -> set[str]:
    """Names of the landing zone's folders: one listing for a whole run, not a lookup per date."""
    if not landing_dir.is_dir():
        return set()
    return {path.name for path in landing_dir.iterdir() if path.is_dir()}


def absent_partition(landing_dir: Path, arrival_date: date) -> LoadResult:
    """What loading a date without a folder gives (decision O1), without touching the warehouse."""
    folder = landing_dir / arrival_date.isoformat()
    return LoadResult(arrival_date=arrival_date, folder=folder, folder_exists=False, load_id="")


def _log(log: dg.DagsterLogManager | None, lines: list[str]) -> None:
    """One Dagster log event for a batch of lines (each event is a row the instance writes)."""
    if log is not None and lines:
        log.info("\n".join(lines))
    lines.clear()


def engine_loader(
    settings: Settings, warehouse: WarehouseResource, *, force: bool = False
) -> Callable[[Sequence[date]], list[LoadResult]]:
    """The engine's loader of a run's arrival dates that have a folder (`CHAT_ANALYTICS_ENGINE`).

    DuckDB loads them in a few passes (one transaction each, decision O21); Spark one partition at a time.
    """
    if is_spark(settings):
        from orchestration.spark_loader import load_partition as load_spark_partition

        return lambda dates: [
            load_spark_partition(
                settings, arrival_date, lock_timeout_seconds=warehouse.lock_timeout_seconds, force=force
            )
            for arrival_date in dates
        ]
    return lambda dates: load_partitions(
        warehouse.file,
        settings.landing_dir,
        dates,
        lock_timeout_seconds=warehouse.lock_timeout_seconds,
        force=force,
    )


def _load_line(result: LoadResult) -> str:
    return (
        f"raw {result.arrival_date}: {result.lines_read} lines, {result.valid_rows} valid, "
        f"{result.quarantined_rows} quarantined, {result.duplicate_rows} duplicates"
        + (" (files unchanged since their last load: not reloaded)" if result.unchanged else "")
    )


def load_range(
    settings: Settings,
    warehouse: WarehouseResource,
    dates: Sequence[date],
    *,
    force: bool = False,
    progress: RunProgress | None = None,
    log: dg.DagsterLogManager | None = None,
) -> list[LoadResult]:
    progress = progress or RunProgress()
    progress.raw_started(len(dates))
    landing_dir = settings.landing_dir
    folders = arrival_folders(landing_dir)
    present = [day for day in dates if day.isoformat() in folders]
    if present or not is_spark(settings):
        # The raw tables exist after every run (on DuckDB), so that dbt finds its sources even when
        # nothing was loaded; dates without a folder cost no warehouse access of their own.
        loaded = {
            result.arrival_date: result for result in engine_loader(settings, warehouse, force=force)(present)
        }
    else:
        loaded = {}
    results = [loaded.get(day) or absent_partition(landing_dir, day) for day in dates]
    lines: list[str] = []
    for result in results:
        if result.folder_exists:
            lines.append(_load_line(result))
            if len(lines) == LOG_BATCH:
                _log(log, lines)
        progress.raw_partition(result)
    _log(log, lines)
    missing = [r.arrival_date for r in results if not r.folder_exists]
    if missing and log is not None:
        log.info(f"raw: no folder in {landing_dir} for {len(missing)} dates: {format_ranges(missing)}")
    progress.raw_finished(results)
    return results


def build_raw_asset(settings: Settings, partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    # Dagster 1.13 marks the `backfill_policy` parameter as beta; the warning is about Dagster's API and
    # says nothing of this code, so it is silenced here only.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy")

        @dg.asset(
            key=RAW_ASSET_KEY,
            group_name=RAW_GROUP,
            partitions_def=partitions_def,
            backfill_policy=dg.BackfillPolicy.single_run(),
            pool=WAREHOUSE_POOL,
            kinds={"spark" if is_spark(settings) else "duckdb", "python"},
            description=(
                "Chat events of the landing zone, one daily partition per arrival folder: valid events in "
                "raw.chat_events (duplicates kept and flagged), unusable lines in raw.quarantined_events."
            ),
            check_specs=[
                dg.AssetCheckSpec(
                    QUARANTINE_CHECK, asset=RAW_ASSET_KEY, description="Quarantined share per partition"
                ),
                dg.AssetCheckSpec(
                    LANDING_CHECK, asset=RAW_ASSET_KEY, description="The arrival folder exists"
                ),
            ],
        )
        def raw_chat_events(
            context: dg.AssetExecutionContext,
            config: RawLoadConfig,
            warehouse: WarehouseResource,
            progress: dg.ResourceParam[RunProgress],
        ) -> dg.MaterializeResult:
            results = load_range(
                settings,
                warehouse,
                partition_dates(context.partition_keys),
                force=config.force_reload,
                progress=progress,
                log=context.log,
            )
            metadata, checks = summarize_loads(results, settings.max_quarantine_share)
            return dg.MaterializeResult(metadata=metadata, check_results=checks)

    return raw_chat_events
