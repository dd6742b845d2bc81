"""The daily schedule and the landing-zone sensor; their decisions are plain functions for tests."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from orchestration.config import Settings
from orchestration.names import SCHEDULE, SENSOR
from orchestration.raw_events import partition_files

SENSOR_INTERVAL_SECONDS = 300


def previous_arrival_date(scheduled_at: datetime) -> date:
    """The last arrival day (UTC, like the landing folders) that is complete at the tick."""
    return scheduled_at.astimezone(UTC).date() - timedelta(days=1)


def folder_fingerprints(landing_dir: Path, first: date, last: date) -> dict[str, str]:
    """One fingerprint per arrival folder: its files' names, sizes and modification times."""
    fingerprints: dict[str, str] = {}
    if not landing_dir.is_dir():
        return fingerprints
    for folder in sorted(landing_dir.iterdir()):
        try:
            day = date.fromisoformat(folder.name)
        except ValueError:
            continue
        if not (first <= day <= last) or not folder.is_dir():
            continue
        files = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in partition_files(folder)]
        fingerprints[folder.name] = json.dumps(files)
    return fingerprints


def changed_partitions(previous: dict[str, str], current: dict[str, str]) -> list[str]:
    """Arrival folders that are new or whose files changed (a re-delivery) since the last tick."""
    return sorted(key for key, value in current.items() if previous.get(key) != value)


def build_daily_schedule(job: UnresolvedAssetJobDefinition, settings: Settings) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=job,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_zone,
        name=SCHEDULE,
    )
    def daily_arrivals(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        scheduled = context.scheduled_execution_time or datetime.now(UTC)
        key = previous_arrival_date(scheduled).isoformat()
        return dg.RunRequest(run_key=key, partition_key=key)

    return daily_arrivals


def build_landing_sensor(job: UnresolvedAssetJobDefinition, settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(job=job, minimum_interval_seconds=SENSOR_INTERVAL_SECONDS, name=SENSOR)
    def landing_folders(context: dg.SensorEvaluationContext):
        today = datetime.now(UTC).date()
        current = folder_fingerprints(settings.landing_dir, settings.start_date, today)
        previous = json.loads(context.cursor) if context.cursor else {}
        changed = changed_partitions(previous, current)
        context.update_cursor(json.dumps(current))
        if not changed:
            return dg.SkipReason(f"no new or re-delivered folder in {settings.landing_dir}")
        return [dg.RunRequest(run_key=f"{key}:{current[key]}", partition_key=key) for key in changed]

    return landing_folders
