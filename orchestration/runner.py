"""Running the Dagster job in-process for a range of arrival dates (what the CLI and tests call)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from orchestration.config import Settings
from orchestration.definitions import DAILY_JOB, build_definitions
from orchestration.warehouse import open_warehouse


def _instance() -> dg.DagsterInstance:
    # With DAGSTER_HOME set, CLI runs show up in the UI's run history next to scheduled runs.
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def materialize_range(
    settings: Settings,
    start: date,
    end: date,
    *,
    full_refresh: bool = False,
    echo: Callable[[str], None] | None = None,
    definitions: dg.Definitions | None = None,
) -> bool:
    """Materialize arrival partitions start..end and every dbt model as one run; True on success."""
    defs = definitions or build_definitions(settings)
    job = defs.resolve_job_def(DAILY_JOB)
    # A full refresh also reloads unchanged landing files, in case the loader's rules changed.
    run_config = {
        "ops": {
            "raw_chat_events": {"config": {"force_reload": full_refresh}},
            "chat_analytics_dbt": {"config": {"full_refresh": full_refresh}},
        }
    }
    with _instance() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config=run_config,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: start.isoformat(),
                ASSET_PARTITION_RANGE_END_TAG: end.isoformat(),
            },
            raise_on_error=False,
        )
    if echo is not None:
        _echo_summary(settings, start, end, result, echo)
    return result.success


def _echo_summary(
    settings: Settings, start: date, end: date, result: dg.ExecuteInProcessResult, echo: Callable[[str], None]
) -> None:
    echo(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}")
    if not settings.warehouse.exists():
        return
    with open_warehouse(settings.warehouse, read_only=True) as con:
        rows = con.execute(
            """
            select arrival_date, files_read, lines_read, valid_rows, quarantined_rows, duplicate_rows
            from raw.load_log
            where arrival_date between ? and ?
            qualify row_number() over (partition by arrival_date order by finished_at desc) = 1
            order by arrival_date
            """,
            [start, end],
        ).fetchall()
    echo("arrival date  files     lines     valid  quarantined  duplicates")
    for arrival, files, lines, valid, quarantined, duplicates in rows:
        echo(f"{arrival}  {files:5d} {lines:9d} {valid:9d} {quarantined:12d} {duplicates:11d}")
    for failure in result.all_events:
        if failure.is_step_failure:
            echo(f"step failed: {failure.step_key}: {failure.event_specific_data.error.message.strip()}")
