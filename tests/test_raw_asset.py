"""The raw asset's run metadata and checks: quarantined share (error) and absent folders (warning)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg

from orchestration.raw_asset import LANDING_CHECK, QUARANTINE_CHECK, summarize_loads
from orchestration.raw_events import LoadResult


def result(day: int, lines: int, quarantined: int, exists: bool = True) -> LoadResult:
    return LoadResult(
        arrival_date=date(2026, 3, day),
        folder=Path(f"/landing/2026-03-{day:02d}"),
        folder_exists=exists,
        load_id=f"load-{day}",
        files=["a.ndjson"] if exists else [],
        lines_read=lines,
        valid_rows=lines - quarantined,
        quarantined_rows=quarantined,
        duplicate_rows=1,
        quarantine_reasons={"invalid_json": quarantined} if quarantined else {},
    )


def checks_by_name(results: list[LoadResult], share: float) -> tuple[dict, dict[str, dg.AssetCheckResult]]:
    metadata, checks = summarize_loads(results, share)
    return metadata, {check.check_name: check for check in checks}


def test_counts_add_up_and_checks_pass_on_clean_partitions() -> None:
    metadata, checks = checks_by_name([result(5, 1000, 5), result(6, 500, 0)], 0.01)
    assert (metadata["lines_read"], metadata["valid_rows"], metadata["quarantined_rows"]) == (1500, 1495, 5)
    assert metadata["duplicate_rows"] == 2
    assert checks[QUARANTINE_CHECK].passed and checks[LANDING_CHECK].passed


def test_quarantined_share_above_threshold_fails_with_error_severity() -> None:
    _, checks = checks_by_name([result(5, 1000, 5), result(6, 100, 2)], 0.01)
    check = checks[QUARANTINE_CHECK]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["partitions_over_threshold"].value == "2026-03-06"


def test_absent_folder_fails_a_warning_check_naming_it() -> None:
    _, checks = checks_by_name([result(5, 1000, 0), result(7, 0, 0, exists=False)], 0.01)
    check = checks[LANDING_CHECK]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["missing_folders"].value == 1
    assert check.metadata["missing_arrival_dates"].value == "2026-03-07"
    assert checks[QUARANTINE_CHECK].passed
