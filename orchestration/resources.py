"""The one Dagster resource: where the landing zone and warehouse are, and the metric settings."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg

from orchestration.config import (
    Settings,
    parse_date,
    validate_handover_timeout,
    validate_inactivity,
    validate_memory_limit,
    validate_share,
    validate_timezone,
)


class ChatAnalyticsResource(dg.ConfigurableResource):
    """Paths and metric settings; validated when a run starts, before anything touches the warehouse."""

    landing_dir: str
    warehouse: str
    timezone: str = "UTC"
    inactivity_minutes: int = 10
    handover_timeout_hours: float = 24.0
    start_date: str = "2026-01-01"
    max_quarantine_share: float = 0.01
    duckdb_memory_limit: str = "4GB"
    lock_timeout_seconds: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings, lock_timeout_seconds: float = 60.0) -> ChatAnalyticsResource:
        return cls(
            landing_dir=str(settings.landing_dir),
            warehouse=str(settings.warehouse),
            timezone=settings.timezone,
            inactivity_minutes=settings.inactivity_minutes,
            handover_timeout_hours=settings.handover_timeout_hours,
            start_date=settings.start_date.isoformat(),
            max_quarantine_share=settings.max_quarantine_share,
            duckdb_memory_limit=settings.duckdb_memory_limit,
            lock_timeout_seconds=lock_timeout_seconds,
        )

    def settings(self) -> Settings:
        start: date = parse_date(self.start_date, "start_date")
        inactivity_minutes = validate_inactivity(self.inactivity_minutes)
        return Settings(
            landing_dir=Path(self.landing_dir).resolve(),
            warehouse=Path(self.warehouse).resolve(),
            timezone=validate_timezone(self.timezone),
            inactivity_minutes=inactivity_minutes,
            handover_timeout_hours=validate_handover_timeout(self.handover_timeout_hours, inactivity_minutes),
            start_date=start,
            max_quarantine_share=validate_share(self.max_quarantine_share),
            duckdb_memory_limit=validate_memory_limit(self.duckdb_memory_limit),
        )
