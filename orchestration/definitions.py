"""The Dagster code location: raw asset, dbt assets, serving snapshot, job, schedule, sensor, resources.

The settings are read once, here (or by the CLI, which passes them), and everything is built from them.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from orchestration.automation import build_daily_schedule, build_landing_sensor
from orchestration.config import Settings
from orchestration.dbt_assets import build_dbt_assets
from orchestration.dbt_manifest import prepare_manifest
from orchestration.engine import check_engine
from orchestration.names import DAILY_JOB
from orchestration.partitions import arrival_partitions
from orchestration.progress import RunProgress
from orchestration.raw_asset import build_raw_asset
from orchestration.resources import build_resources
from orchestration.serving_asset import build_serving_asset


def build_definitions(
    settings: Settings,
    *,
    lock_timeout_seconds: float = 60.0,
    progress: RunProgress | None = None,
    loggers: Mapping[str, dg.LoggerDefinition] | None = None,
) -> dg.Definitions:
    """Everything of the code location for one settings object.

    `progress` follows the run as it goes (the CLI's display); `loggers` replace Dagster's console
    logger (the CLI writes the run's log to a file).
    """
    check_engine(settings)
    manifest_path = prepare_manifest(settings)
    partitions = arrival_partitions(settings.start_date)
    raw_asset = build_raw_asset(settings, partitions)
    dbt_assets = build_dbt_assets(settings, manifest_path)
    serving_asset = build_serving_asset(settings, dbt_assets)
    # Only the raw asset is partitioned (the job's partitions are its): a run of this job for one arrival
    # date (the schedule, the sensor) loads it and builds everything downstream once (decision O18).
    job = dg.define_asset_job(DAILY_JOB, selection=dg.AssetSelection.all())
    return dg.Definitions(
        assets=[raw_asset, dbt_assets, serving_asset],
        jobs=[job],
        schedules=[build_daily_schedule(job, settings)],
        sensors=[build_landing_sensor(job, settings)],
        resources=build_resources(settings, lock_timeout_seconds=lock_timeout_seconds, progress=progress),
        loggers=loggers,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
