"""Running the Dagster job in-process for a range of arrival dates (what the CLI and tests call).

A range is materialized as a UI backfill of it is: one run loads the raw partitions of the range (one
materialization per partition), then one run builds everything downstream, unpartitioned (one
materialization per model, decision O18).
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_shared.error import SerializableErrorInfo

from orchestration.config import Settings
from orchestration.definitions import build_definitions
from orchestration.names import DAILY_JOB, DBT_ASSETS, RAW_ASSET

ARRIVAL_DATES_TAG = "chat_analytics/arrival_dates"


@dataclass
class RangeRun:
    """The outcome of materializing a range: the runs made and, on failure, why (one line per step)."""

    success: bool = True
    run_ids: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.success


def _instance() -> dg.DagsterInstance:
    # With DAGSTER_HOME set, CLI runs show up in the UI's run history next to scheduled runs.
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def error_text(error: SerializableErrorInfo | None) -> str:
    """The message of the innermost cause ('LoadError: ...'): what the user's code raised."""
    if error is None:
        return "failed"
    while error.cause is not None:
        error = error.cause
    head, sep, rest = error.message.strip().partition(": ")
    return f"{head.rsplit('.', 1)[-1]}: {rest}" if sep and "." in head else error.message.strip()


def run_failures(result: dg.ExecuteInProcessResult) -> list[str]:
    """'<step>: <cause>' for every failed step of a run, else the run's own failure."""
    steps, run = [], []
    for event in result.all_events:
        data = event.event_specific_data
        if event.is_step_failure:
            # a dg.Failure carries its own description (the dbt step's failed nodes)
            failure = getattr(data, "user_failure_data", None)
            steps.append(f"{event.step_key}: {failure.description if failure else error_text(data.error)}")
        elif event.is_run_failure:
            run.append(
                error_text(getattr(data, "error", None)) if getattr(data, "error", None) else event.message
            )
    return steps or run or [f"run {result.run_id} failed"]


def materialize_range(
    settings: Settings,
    start: date,
    end: date,
    *,
    full_refresh: bool = False,
    definitions: dg.Definitions | None = None,
    instance: dg.DagsterInstance | None = None,
) -> RangeRun:
    """Load arrival partitions start..end, then build and test every dbt model and publish the marts.

    `instance` records the runs (default: $DAGSTER_HOME's when set, else a temporary one).
    """
    defs = definitions or build_definitions(settings)
    job = defs.resolve_job_def(DAILY_JOB)
    raw_key = dg.AssetKey(RAW_ASSET)
    downstream = [key for key in defs.resolve_asset_graph().get_all_asset_keys() if key != raw_key]
    # The loggers the definitions name replace Dagster's console logger (the CLI's log file).
    loggers = {"loggers": {name: {} for name in defs.loggers}} if defs.loggers else {}
    outcome = RangeRun()
    with nullcontext(instance) if instance is not None else _instance() as instance:
        runs = (
            (
                [raw_key],
                # A full refresh also reloads unchanged landing files, in case the loader's rules changed.
                {"ops": {RAW_ASSET: {"config": {"force_reload": full_refresh}}}},
                {
                    ASSET_PARTITION_RANGE_START_TAG: start.isoformat(),
                    ASSET_PARTITION_RANGE_END_TAG: end.isoformat(),
                },
            ),
            (
                downstream,
                {"ops": {DBT_ASSETS: {"config": {"full_refresh": full_refresh}}}},
                {ARRIVAL_DATES_TAG: f"{start.isoformat()}..{end.isoformat()}"},
            ),
        )
        for selection, run_config, tags in runs:
            result = job.execute_in_process(
                instance=instance,
                asset_selection=selection,
                run_config={**run_config, **loggers},
                tags=tags,
                raise_on_error=False,
            )
            outcome.run_ids.append(result.run_id)
            if not result.success:
                outcome.success = False
                outcome.failures = run_failures(result)
                break
    return outcome
