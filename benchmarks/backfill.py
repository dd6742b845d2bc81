"""Backfill benchmark (issue 13, target 2): what a backfill of daily arrival partitions costs beyond its data.

    .venv/bin/python -m benchmarks.backfill                          # both cases, both instances
    .venv/bin/python -m benchmarks.backfill --case year --instance memory

Cases (each run on a fresh warehouse, with `orchestration.runner.materialize_range`, what
`chat-analytics materialize` and a UI backfill run):
  year       365 daily partitions; the last ten hold generated events (--conversations-per-day), the
             other 355 have no folder. Timed twice: the 365-partition backfill, then the ten real
             partitions alone. Cost beyond the ten = the difference; per empty partition = difference / 355.
  six-years  2,289 daily partitions, every one with a folder of 3-5 events (about 9,000 events in all,
             like the support export of issue 13).
Instances: `memory` (what the CLI uses without DAGSTER_HOME) and `sqlite` (a DAGSTER_HOME like `make dev`'s:
every event is a row written to SQLite).

Every timing runs from the call to its return: Dagster's planning (run creation, planned events), the
steps, and its bookkeeping (one materialization per raw partition, one per model). The dbt manifest is
parsed once before the cases (the same parse serves every run). Step times come from the event log.
Results: --output (markdown, default benchmarks/RESULTS-backfill.md) and a JSON copy in the work folder.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import numpy as np

from orchestration.config import Settings
from orchestration.console import file_logger
from orchestration.dbt_manifest import prepare_manifest
from orchestration.definitions import build_definitions
from orchestration.generator import GeneratorConfig, generate
from orchestration.names import RAW_ASSET
from orchestration.runner import materialize_range

ROOT = Path(__file__).resolve().parents[1]
YEAR_END = date(2025, 12, 31)
YEAR_DAYS, REAL_DAYS = 365, 10
SIX_YEARS_START, SIX_YEARS_DAYS = date(2011, 1, 3), 2289
CHANNELS = ("web", "messenger", "whatsapp", "sms", "instagram")


@dataclass
class Timing:
    case: str
    instance: str
    partitions: int
    folders: int
    events: int
    wall_s: float
    steps_s: dict[str, float] = field(default_factory=dict)
    outside_steps_s: float = 0.0
    events_by_type: dict[str, int] = field(default_factory=dict)
    materializations: dict[str, int] = field(default_factory=dict)
    success: bool = True


def write_year(landing: Path, conversations_per_day: int) -> int:
    """The last ten days of the year, generated; nothing before them. Returns the valid lines written."""
    summary = generate(
        GeneratorConfig(
            landing_dir=landing,
            start=YEAR_END - timedelta(days=REAL_DAYS - 1),
            days=REAL_DAYS,
            conversations_per_day=conversations_per_day,
            late_rate=0.0,  # every folder inside the ten days, so that the ten-day run loads the same
        )
    )
    return summary.valid_lines


def write_six_years(landing: Path, seed: int = 7) -> int:
    """2,289 arrival folders of 3-5 events each: a customer's question, the bot's answer, a follow-up."""
    rng = np.random.default_rng(seed)
    events = 0
    for offset in range(SIX_YEARS_DAYS):
        day = SIX_YEARS_START + timedelta(days=offset)
        folder = landing / day.isoformat()
        folder.mkdir(parents=True)
        lines = []
        for i in range(int(rng.integers(3, 6))):
            lines.append(
                json.dumps(
                    {
                        "event_id": f"{day.isoformat()}-{i}",
                        "occurred_at": f"{day.isoformat()}T{10 + i:02d}:00:{i:02d}Z",
                        "customer_id": f"c{offset % 997}",
                        "channel": CHANNELS[offset % len(CHANNELS)],
                        "event_type": "message",
                        "sender": "customer" if i % 2 == 0 else "bot",
                        "flow_type": "support" if i % 2 else None,
                    }
                )
            )
        (folder / "events.ndjson").write_text("\n".join(lines) + "\n")
        events += len(lines)
    return events


@contextmanager
def instance_of(kind: str, home: Path) -> Iterator[dg.DagsterInstance]:
    if kind == "memory":
        with dg.DagsterInstance.ephemeral() as instance:
            yield instance
    else:
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        with dg.DagsterInstance.local_temp(tempdir=str(home)) as instance:
            yield instance


def event_stats(instance: dg.DagsterInstance, run_ids: list[str]) -> tuple[dict, dict, dict, float]:
    """Events by type, materializations by asset, step seconds, and the runs' time outside their steps."""
    by_type: Counter[str] = Counter()
    materialized: Counter[str] = Counter()
    steps: dict[str, float] = {}
    outside = 0.0
    for run_id in run_ids:
        started: dict[str, float] = {}
        stamps = []
        in_steps = 0.0
        for entry in instance.all_logs(run_id):
            stamps.append(entry.timestamp)
            event = entry.dagster_event
            if event is None:
                continue
            by_type[event.event_type_value] += 1
            if event.event_type_value == "ASSET_MATERIALIZATION" and event.asset_key is not None:
                materialized[event.asset_key.to_user_string()] += 1
            if event.event_type_value == "STEP_START":
                started[event.step_key] = entry.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
                seconds = entry.timestamp - started[event.step_key]
                steps[event.step_key] = steps.get(event.step_key, 0.0) + seconds
                in_steps += seconds
        if stamps:
            outside += max(stamps) - min(stamps) - in_steps
    others = [n for key, n in materialized.items() if key != RAW_ASSET]
    summary = {
        RAW_ASSET: materialized[RAW_ASSET],
        "max per other asset": max(others, default=0),
        "other assets": len(others),
    }
    return dict(by_type), summary, steps, outside


def time_range(
    case: str, kind: str, landing: Path, work: Path, first: date, last: date, events: int
) -> Timing:
    warehouse_dir = work / f"{case}-{kind}"
    shutil.rmtree(warehouse_dir, ignore_errors=True)
    warehouse_dir.mkdir(parents=True)
    settings = Settings(landing_dir=landing, warehouse=warehouse_dir / "warehouse.duckdb", start_date=first)
    log = (warehouse_dir / "run.log").open("w")
    defs = build_definitions(settings, loggers={"run_log": file_logger(log)})
    with instance_of(kind, warehouse_dir / "dagster_home") as instance:
        started = time.perf_counter()
        outcome = materialize_range(settings, first, last, definitions=defs, instance=instance)
        wall = time.perf_counter() - started
        by_type, materialized, steps, outside = event_stats(instance, outcome.run_ids)
    log.close()
    folders = sum(1 for p in landing.iterdir() if first.isoformat() <= p.name <= last.isoformat())
    return Timing(
        case=case,
        instance=kind,
        partitions=(last - first).days + 1,
        folders=folders,
        events=events,
        wall_s=wall,
        steps_s=steps,
        outside_steps_s=outside,
        events_by_type=by_type,
        materializations=materialized,
        success=outcome.success,
    )


def floor_definitions(first: date) -> dg.Definitions:
    """Dagster alone: a partitioned asset that does nothing, one unpartitioned asset after it."""
    partitions = dg.DailyPartitionsDefinition(start_date=first.isoformat(), end_offset=1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=dg.BetaWarning)

        @dg.asset(name=RAW_ASSET, partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
        def raw(context) -> dg.MaterializeResult:  # noqa: ANN001 - Dagster reads the annotation, a string here
            return dg.MaterializeResult(metadata={"partitions": len(context.partition_keys)})

    @dg.asset(deps=[raw])
    def downstream() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    @dg.logger
    def silent(_init_context: dg.InitLoggerContext) -> logging.Logger:
        return logging.Logger("silent", level=logging.CRITICAL)

    return dg.Definitions(
        assets=[raw, downstream],
        jobs=[dg.define_asset_job("floor", selection=dg.AssetSelection.all())],
        loggers={"silent": silent},
    )


def time_floor(kind: str, work: Path, first: date, last: date) -> Timing:
    """What Dagster itself costs for the same two runs (planning, events), with no work in the steps."""
    defs = floor_definitions(first)
    job = defs.resolve_job_def("floor")
    tags = {
        "dagster/asset_partition_range_start": first.isoformat(),
        "dagster/asset_partition_range_end": last.isoformat(),
    }
    run_config = {"loggers": {"silent": {}}}
    with instance_of(kind, work / f"floor-{kind}" / "dagster_home") as instance:
        started = time.perf_counter()
        run_ids = []
        for selection, run_tags in (([dg.AssetKey(RAW_ASSET)], tags), ([dg.AssetKey("downstream")], {})):
            result = job.execute_in_process(
                instance=instance,
                asset_selection=selection,
                tags=run_tags,
                run_config=run_config,
                raise_on_error=False,
            )
            run_ids.append(result.run_id)
        wall = time.perf_counter() - started
        by_type, materialized, steps, outside = event_stats(instance, run_ids)
    return Timing(
        case=f"Dagster alone, {(last - first).days + 1} partitions",
        instance=kind,
        partitions=(last - first).days + 1,
        folders=0,
        events=0,
        wall_s=wall,
        steps_s=steps,
        outside_steps_s=outside,
        events_by_type=by_type,
        materializations=materialized,
    )


def row(t: Timing) -> str:
    steps = " / ".join(
        f"{t.steps_s.get(k, 0.0):.1f}" for k in ("raw_chat_events", "chat_analytics_dbt", "serving_snapshot")
    )
    planned = t.events_by_type.get("ASSET_MATERIALIZATION_PLANNED", 0)
    return (
        f"| {t.case} | {t.instance} | {t.partitions:,} | {t.folders:,} | {t.events:,} | {t.wall_s:.1f} | {steps} | "
        f"{t.outside_steps_s:.1f} | {planned:,} | {t.materializations.get(RAW_ASSET, 0):,} / "
        f"{t.materializations.get('max per other asset', 0)} | {'ok' if t.success else 'FAILED'} |"
    )


def report(timings: list[Timing], args: argparse.Namespace) -> str:
    lines = [
        "# Backfill benchmark",
        "",
        f"Command: `.venv/bin/python -m benchmarks.backfill {' '.join(args.argv)}`".rstrip() + "  ",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, {platform.processor() or 'cpu'}; "
        f"dagster {dg.__version__}.",
        "",
        "Wall time from the call to `materialize_range` to its return (Dagster's planning and bookkeeping "
        "included), on a fresh warehouse. Steps from the event log: raw / dbt / serving. Outside steps: run "
        "creation, planned events, materializations written after a step, run start and end.",
        "",
        "| case | instance | partitions | folders | events | wall s | steps s (raw / dbt / serving) | outside steps s "
        "| planned events | materializations (raw / each other asset) | status |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(row(t) for t in timings),
        "",
    ]
    for kind in sorted({t.instance for t in timings}):
        cases = {t.case: t for t in timings if t.instance == kind}
        floor = {
            t.partitions: t for t in timings if t.instance == kind and t.case.startswith("Dagster alone")
        }
        if "year" in cases and "year (ten real only)" in cases:
            extra = cases["year"].wall_s - cases["year (ten real only)"].wall_s
            text = (
                f"- {kind}: 365 partitions (355 empty) beyond the ten real ones: **{extra:.1f} s** "
                f"(target < 30 s), **{extra / (YEAR_DAYS - REAL_DAYS) * 1000:.1f} ms per empty partition**"
            )
            if YEAR_DAYS in floor and REAL_DAYS in floor:
                dagster = floor[YEAR_DAYS].wall_s - floor[REAL_DAYS].wall_s
                text += (
                    f"; Dagster alone for those 355 partitions, measured just before: {dagster:.1f} s "
                    f"({dagster / (YEAR_DAYS - REAL_DAYS) * 1000:.1f} ms each)"
                )
            lines.append(text + ".")
        if "six-years" in cases:
            six = cases["six-years"]
            text = (
                f"- {kind}: six years (2,289 partitions): **{six.wall_s:.1f} s** (target < 120 s), of which the raw "
                f"step {six.steps_s.get('raw_chat_events', 0.0):.1f} s (the loader, one pass over every folder) and "
                f"the dbt step {six.steps_s.get('chat_analytics_dbt', 0.0):.1f} s"
            )
            if SIX_YEARS_DAYS in floor:
                text += f"; Dagster alone for 2,289 partitions: {floor[SIX_YEARS_DAYS].wall_s:.1f} s"
            lines.append(text + ".")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", choices=("year", "six-years", "floor", "all"), default="all")
    parser.add_argument("--instance", choices=("memory", "sqlite", "all"), default="all")
    parser.add_argument("--conversations-per-day", type=int, default=2000, help="of the ten real days")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "work" / "backfill")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "RESULTS-backfill.md")
    args = parser.parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    args.work = args.work.resolve()
    kinds = ("memory", "sqlite") if args.instance == "all" else (args.instance,)
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    prepare_manifest(Settings(landing_dir=args.work, warehouse=args.work / "warehouse.duckdb"))
    timings: list[Timing] = []

    def measure(timing: Timing) -> None:
        timings.append(timing)
        print(row(timing), flush=True)

    year_landing, six_landing = args.work / "landing-year", args.work / "landing-six-years"
    year_events = write_year(year_landing, args.conversations_per_day) if args.case in ("year", "all") else 0
    six_events = write_six_years(six_landing) if args.case in ("six-years", "all") else 0
    first, real = YEAR_END - timedelta(days=YEAR_DAYS - 1), YEAR_END - timedelta(days=REAL_DAYS - 1)
    six_last = SIX_YEARS_START + timedelta(days=SIX_YEARS_DAYS - 1)
    # Per instance kind, Dagster alone is measured next to the pipeline: a SQLite instance's cost is its
    # disk's fsync latency, which drifts over minutes on a shared machine.
    for kind in kinds:
        if args.case in ("floor", "year", "all"):
            for days in (YEAR_DAYS, REAL_DAYS):
                measure(time_floor(kind, args.work, YEAR_END - timedelta(days=days - 1), YEAR_END))
        if args.case in ("year", "all"):
            measure(time_range("year", kind, year_landing, args.work, first, YEAR_END, year_events))
            measure(
                time_range("year (ten real only)", kind, year_landing, args.work, real, YEAR_END, year_events)
            )
        if args.case in ("floor", "six-years", "all"):
            measure(time_floor(kind, args.work, YEAR_END - timedelta(days=SIX_YEARS_DAYS - 1), YEAR_END))
        if args.case in ("six-years", "all"):
            measure(
                time_range("six-years", kind, six_landing, args.work, SIX_YEARS_START, six_last, six_events)
            )
    (args.work / "results.json").write_text(json.dumps([asdict(t) for t in timings], indent=2))
    text = report(timings, args)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
