"""The Dagster code location: raw asset, dbt assets, job, schedule, sensor and resources."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.automation import DEFAULT_SCHEDULE_CRON, build_daily_schedule, build_landing_sensor
from orchestration.config import Settings
from orchestration.dbt_assets import DBT_PROJECT, build_dbt_assets
from orchestration.dbt_manifest import prepare_manifest
from orchestration.partitions import arrival_partitions
from orchestration.raw_asset import build_raw_asset
from orchestration.resources import ChatAnalyticsResource
from orchestration.serving_asset import build_serving_asset

DAILY_JOB = "chat_analytics_daily"
# The dbt installed beside this interpreter, so runs work without the venv on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
ENV_SCHEDULE_CRON = "CHAT_ANALYTICS_SCHEDULE_CRON"
ENV_SCHEDULE_TIMEZONE = "CHAT_ANALYTICS_SCHEDULE_TIMEZONE"


def build_definitions(
    settings: Settings | None = None, *, lock_timeout_seconds: float = 60.0
) -> dg.Definitions:
    settings = settings or Settings.from_env()
    manifest_path = prepare_manifest(settings)
    partitions = arrival_partitions(settings.start_date)
    raw_asset = build_raw_asset(partitions)
    dbt_assets = build_dbt_assets(partitions, manifest_path)
    serving_asset = build_serving_asset(partitions, dbt_assets, settings)
    job = dg.define_asset_job(DAILY_JOB, selection=dg.AssetSelection.all(), partitions_def=partitions)
    schedule = build_daily_schedule(
        job,
        os.environ.get(ENV_SCHEDULE_CRON, DEFAULT_SCHEDULE_CRON),
        os.environ.get(ENV_SCHEDULE_TIMEZONE, settings.timezone),
    )
    sensor = build_landing_sensor(job, settings.start_date)
    return dg.Definitions(
        assets=[raw_asset, dbt_assets, serving_asset],
        jobs=[job],
        schedules=[schedule],
        sensors=[sensor],
        resources={
            "dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=DBT_EXECUTABLE),
            "chat_analytics": ChatAnalyticsResource.from_settings(settings, lock_timeout_seconds),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
