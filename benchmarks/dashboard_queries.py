"""Time the dashboard's default view: the queries one page run makes on a serving snapshot.

    .venv/bin/python -m benchmarks.dashboard_queries [--snapshot data/serving/chat_analytics.duckdb]
        [--end YYYY-MM-DD] [--days 7] [--repeats 5] [--page]

One page run opens the snapshot read-only, checks its columns and reads its dates and channels
(`snapshot_info`), checks its time zone once per session (`timezone_matches`), then computes the tab for
the filter (`compute_tab`). The default view is the last `--days` local days ending `--end` (default: the
snapshot's last date, so the view holds data), all channels, all hours; a filtered view (channels and
hours) is timed too. `--page` also times reruns of the Streamlit script in one AppTest session (the
page's Python, its queries and the charts' specs; not the browser's drawing).

The snapshot comes from any build: `make demo`, or `chat-analytics generate` + `materialize` at the size
to measure (README, "Performance"). Each phase is run `--repeats` times; the median, min and max are
printed, then the snapshot's size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from orchestration.config import Settings
from orchestration.conversations_tab import TabFilter, compute_tab, last_days
from orchestration.serving import ServingConfig
from orchestration.serving_snapshot import open_snapshot, snapshot_info, timezone_matches

REPO_ROOT = Path(__file__).resolve().parents[1]


def _timed(repeats: int, work: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return times


def _row(name: str, times: list[float]) -> str:
    return (
        f"| {name} | {statistics.median(times) * 1000:,.0f} | {min(times) * 1000:,.0f} | "
        f"{max(times) * 1000:,.0f} |"
    )


def _page_times(snapshot: Path, timezone: str, first: date, last: date, repeats: int) -> list[float]:
    """Reruns of the Streamlit script in one AppTest session on the default view (after a first run,
    which also pays AppTest's own start-up): the page's Python, its queries and the charts' specs."""
    from streamlit.testing.v1 import AppTest

    os.environ["CHAT_ANALYTICS_SERVING_DIR"] = str(snapshot.parent)
    os.environ["CHAT_ANALYTICS_TIMEZONE"] = timezone
    at = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=600)
    at.query_params.update({"start": first.isoformat(), "end": last.isoformat()})
    at.run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - started)
        if at.exception:
            raise SystemExit(f"the page failed: {at.exception[0].message}")
    return times


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--snapshot",
        type=Path,
        default=ServingConfig.from_settings(settings).serving_file,
        help="the serving snapshot (default: the configured one, data/serving/chat_analytics.duckdb)",
    )
    parser.add_argument(
        "--timezone", default=settings.timezone, help="reporting zone (CHAT_ANALYTICS_TIMEZONE)"
    )
    parser.add_argument(
        "--end", type=date.fromisoformat, help="last day of the view (default: the data's last)"
    )
    parser.add_argument("--days", type=int, default=7, help="days in the view (default 7)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per phase (default 5)")
    parser.add_argument("--page", action="store_true", help="also time reruns of the page under AppTest")
    args = parser.parse_args(argv)

    with open_snapshot(args.snapshot) as con:
        info = snapshot_info(con, args.snapshot)
        if not info.has_data:
            raise SystemExit(f"the snapshot {args.snapshot} holds no data")
        first, last = last_days(args.end or info.last_date, args.days)
        default = TabFilter(first, last)
        filtered = TabFilter(first, last, info.channels[:2], (9, 17))
        (conversations,) = con.execute("select count(*) from marts.fct_conversations").fetchone()
        (requests,) = con.execute("select count(*) from marts.fct_handover_requests").fetchone()
        tab = compute_tab(con, default, args.timezone, info.channels)  # a warm-up, and the view's size
        phases = {
            "snapshot_info (columns, dates, channels)": _timed(
                args.repeats, lambda: snapshot_info(con, args.snapshot)
            ),
            "timezone_matches (once per session)": _timed(
                args.repeats, lambda: timezone_matches(con, args.timezone)
            ),
            "compute_tab, default view": _timed(
                args.repeats, lambda: compute_tab(con, default, args.timezone, info.channels)
            ),
            f"compute_tab, {', '.join(filtered.channels)}, hours 9-17": _timed(
                args.repeats, lambda: compute_tab(con, filtered, args.timezone, info.channels)
            ),
        }

    def whole_run() -> None:
        with open_snapshot(args.snapshot) as fresh:
            seen = snapshot_info(fresh, args.snapshot)
            timezone_matches(fresh, args.timezone)
            compute_tab(fresh, default, args.timezone, seen.channels)

    phases["a first page run's queries (open, info, time zone, tab)"] = _timed(args.repeats, whole_run)
    if args.page:
        phases["a page rerun (AppTest session: script, queries, charts)"] = _page_times(
            args.snapshot, args.timezone, first, last, args.repeats
        )

    print(
        f"Snapshot {args.snapshot} ({args.snapshot.stat().st_size / 2**20:,.0f} MiB), version {info.version}"
    )
    print(
        f"Data {info.first_date} .. {info.last_date}; {conversations:,} conversations, {requests:,} handover "
        f"requests; default view {first} .. {last} ({args.timezone}): "
        f"{tab.headline['total_conversations']:,} conversations"
    )
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs (load {load}), {args.repeats} runs per phase\n"
    )
    print("| phase | median ms | min ms | max ms |")
    print("|---|---|---|---|")
    for name, times in phases.items():
        print(_row(name, times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
