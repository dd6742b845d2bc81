"""Daily partitions by arrival date (the landing folder's name)."""

from __future__ import annotations

from datetime import date

import dagster as dg


def arrival_partitions(start_date: date) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's arrival folder can be loaded while it is still filling.
    return dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), end_offset=1, timezone="UTC")


def partition_dates(keys: list[str]) -> list[date]:
    return sorted(date.fromisoformat(key) for key in keys)
