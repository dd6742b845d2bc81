"""`chat-analytics`: a thin command line over the generator, the Dagster job and the marts."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from orchestration.config import ConfigError, Settings, parse_date


class UsageError(ValueError):
    """The command line asks for something impossible; the message says what."""


def _date_arg(value: str) -> date:
    try:
        return parse_date(value, "date")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _hours_arg(value: str) -> tuple[int, int]:
    try:
        first, last = (int(part) for part in value.split("-", 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"hours must look like 9-17, got {value!r}") from None
    if not (0 <= first <= last <= 23):
        raise argparse.ArgumentTypeError(f"hours must be within 0-23 and ordered, got {value!r}")
    return first, last


def build_parser() -> argparse.ArgumentParser:
    from orchestration.generator import add_generate_arguments

    parser = argparse.ArgumentParser(
        prog="chat-analytics", description="Chat events to the metrics of the Conversations tab."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write realistic sample events into the landing zone")
    add_generate_arguments(generate)
    generate.add_argument("--quiet", action="store_true", help="print nothing when done")

    materialize = commands.add_parser(
        "materialize", help="load arrival dates D1..D2 and rebuild everything downstream through Dagster"
    )
    materialize.add_argument("--start", type=_date_arg, required=True, help="first arrival date, YYYY-MM-DD")
    materialize.add_argument("--end", type=_date_arg, required=True, help="last arrival date, YYYY-MM-DD")
    materialize.add_argument("--full-refresh", action="store_true", help="rebuild every dbt model from raw")
    materialize.add_argument(
        "--verbose",
        action="store_true",
        help="show Dagster's and dbt's logs live (they always go to the log file)",
    )

    report = commands.add_parser("report", help="print the tab's headline numbers and charts")
    report.add_argument("--days", type=int, default=7, help="number of local days (default 7)")
    report.add_argument("--end", type=_date_arg, help="last local day (default: today in the reporting zone)")
    report.add_argument("--channel", action="append", default=[], help="only this channel (repeatable)")
    report.add_argument("--hours", type=_hours_arg, help="only local hours H1-H2, e.g. 9-17")

    dashboard = commands.add_parser(
        "dashboard", help="serve the Conversations tab as a web page (Streamlit) over the serving snapshot"
    )
    dashboard.add_argument("--port", type=_port_arg, default=8501, help="port to listen on (default 8501)")
    dashboard.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)"
    )
    return parser


def _port_arg(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"the port must be a number, got {value!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be within 1-65535, got {port}")
    return port


def run_materialize(settings: Settings, start: date, end: date, full_refresh: bool, verbose: bool) -> int:
    from orchestration.console import materialize_with_progress

    if start > end:
        raise UsageError(f"--start {start} is after --end {end}")
    last_partition = datetime.now(UTC).date()
    if start < settings.start_date or end > last_partition:
        raise UsageError(
            f"arrival dates must lie within the partitions {settings.start_date}..{last_partition} "
            "(set CHAT_ANALYTICS_START_DATE for earlier data)"
        )
    if not settings.landing_dir.is_dir():
        raise UsageError(
            f"the landing directory {settings.landing_dir} does not exist (CHAT_ANALYTICS_LANDING_DIR)"
        )
    return (
        0
        if materialize_with_progress(settings, start, end, full_refresh=full_refresh, verbose=verbose)
        else 1
    )


def run_report(
    settings: Settings, days: int, end: date | None, channels: list[str], hours: tuple[int, int] | None
) -> int:
    """Print the tab for the `days` local days ending `end` (default today), from the serving snapshot."""
    from orchestration.conversations_tab import today_in
    from orchestration.report import build_report, format_report

    if days <= 0:
        raise UsageError(f"--days must be positive, got {days}")
    last = end or today_in(settings.timezone)
    report = build_report(
        settings, first=last - timedelta(days=days - 1), last=last, channels=channels, hours=hours
    )
    print(format_report(report))
    return 0


def dashboard_command(port: int, host: str) -> list[str]:
    """The Streamlit command that serves `dashboard/app.py` (headless: it opens no browser, asks nothing)."""
    import dashboard

    app = Path(dashboard.__file__).resolve().parent / "app.py"
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--server.runOnSave",
        "false",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]


def run_dashboard(settings: Settings, port: int, host: str) -> int:
    """Serve the dashboard until interrupted; it reads the serving snapshot only.

    The process becomes Streamlit's (exec), so a signal sent to it stops the server itself.
    """
    from orchestration.serving import ServingConfig

    # readers need only where the snapshot is (never the pseudonymization key)
    serving = ServingConfig(serving_dir=settings.serving_path)
    if not serving.serving_file.exists():
        print(
            f"chat-analytics: note: no serving snapshot at {serving.serving_file} yet; the page says what "
            "to run (e.g. `make demo`)",
            file=sys.stderr,
        )
    print(f"Conversations dashboard on http://{host}:{port} (Ctrl-C to stop)", flush=True)
    command = dashboard_command(port, host)
    os.execv(command[0], command)
    return 0  # not reached: execv returns only by raising


def main(argv: Sequence[str] | None = None) -> int:
    from orchestration.raw_events import LoadError
    from orchestration.serving_snapshot import SnapshotError
    from orchestration.warehouse import WarehouseLockedError

    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "generate":
            from orchestration.generator import config_from_args, generate

            config = config_from_args(args, default_landing_dir=settings.landing_dir)
            summary = generate(config)
            if not args.quiet:
                print(summary)
            return 0
        if args.command == "materialize":
            return run_materialize(settings, args.start, args.end, args.full_refresh, args.verbose)
        if args.command == "dashboard":
            return run_dashboard(settings, args.port, args.host)
        return run_report(settings, args.days, args.end, args.channel, args.hours)
    except (
        ConfigError,
        UsageError,
        LoadError,
        WarehouseLockedError,
        SnapshotError,
        FileNotFoundError,
        ValueError,
    ) as exc:
        print(f"chat-analytics: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
