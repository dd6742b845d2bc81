"""What `chat-analytics materialize` shows: live progress bars, one summary line per stage, the log file.

Bars are drawn only on a terminal and vanish when their stage ends; the summary lines stay. Everything
Dagster and dbt log goes to the run's log file instead (`--verbose` also shows it live).
"""

from __future__ import annotations

import io
import logging
import sys
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

import dagster as dg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from orchestration.config import Settings
from orchestration.progress import FAILED_STATUSES, DbtNode, RunProgress
from orchestration.raw_events import LoadResult

STAGE_WIDTH = 8
LABEL_WIDTH = 72
# Dagster's own console format, so the file reads like `dagster dev`'s output.
LOG_FORMAT = "%(asctime)s - dagster - %(levelname)s - %(message)s"
LOG_DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"


def log_file_path(log_dir: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return log_dir / f"materialize-{stamp}.log"


def shown_path(path: Path) -> str:
    """`path` relative to the working directory when it lies below it (shorter to read), else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def file_logger(stream: TextIO) -> dg.LoggerDefinition:
    """A Dagster logger writing every event of a run, debug included, to `stream`."""

    @dg.logger(description="The run's full log, to the file `chat-analytics materialize` prints")
    def run_log(_init_context: dg.InitLoggerContext) -> logging.Logger:
        logger = logging.Logger("chat_analytics.run", level=logging.DEBUG)
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(LOG_FORMAT, LOG_DATE_FORMAT))
        logger.addHandler(handler)
        return logger

    return run_log


class Tee(io.TextIOBase):
    """A text stream writing to several streams (the log file, and the terminal with --verbose)."""

    def __init__(self, *streams: TextIO) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def raw_summary(results: Sequence[LoadResult]) -> str:
    loaded = [r for r in results if r.folder_exists]
    text = (
        f"{plural(len(results), 'arrival date')}, {plural(sum(len(r.files) for r in results), 'file')}: "
        f"{sum(r.lines_read for r in results):,} lines, {sum(r.valid_rows for r in results):,} valid, "
        f"{sum(r.quarantined_rows for r in results):,} quarantined, "
        f"{sum(r.duplicate_rows for r in results):,} duplicates"
    )
    notes = []
    if unchanged := sum(r.unchanged for r in loaded):
        notes.append(f"{unchanged:,} unchanged")
    if missing := len(results) - len(loaded):
        notes.append(f"{missing:,} without a folder")
    return text + (f" ({', '.join(notes)})" if notes else "")


def dbt_summary(finished: Sequence[DbtNode]) -> str:
    kinds = Counter(node.resource_type for node in finished)
    statuses = Counter(node.status for node in finished)
    built = ", ".join(plural(kinds[kind], kind) for kind in ("seed", "model", "test") if kinds[kind])
    parts = [f"{statuses['success'] + statuses['pass']:,} passed"]
    warned = [node.name for node in finished if node.status == "warn"]
    if warned:
        parts.append(f"{plural(len(warned), 'warning')} ({', '.join(warned)})")
    failed = [node.name for node in finished if node.status in FAILED_STATUSES]
    if failed:
        parts.append(f"{len(failed):,} failed ({', '.join(failed)})")
    if statuses["skipped"]:
        parts.append(f"{statuses['skipped']:,} skipped")
    return f"{built or 'no node'}: {', '.join(parts)}"


class ConsoleProgress(RunProgress):
    """Progress bars on `console` while stages run, then one line per stage with its time."""

    def __init__(self, console: Console, *, live: bool = True) -> None:
        self.console = console
        self._bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not live,
            # Dagster's and dbt's output goes to the log file, not above the bars.
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._stage: str | None = None
        self._task: int | None = None
        self._started = 0.0
        self._raw = Counter()
        self._dbt_finished: list[DbtNode] = []

    def __enter__(self) -> ConsoleProgress:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the display; a stage still open (its step failed) gets its line, marked failed."""
        if self._stage is not None:
            self._finish("FAILED")
        self._bars.stop()

    # stages -------------------------------------------------------------------------------------------
    def _start(self, stage: str, description: str, total: int | None) -> None:
        if self._stage is not None:
            self._finish("FAILED")
        self._stage, self._started = stage, time.monotonic()
        self._task = self._bars.add_task(self._label(stage, description), total=total)

    def _label(self, stage: str, text: str) -> str:
        if len(text) > LABEL_WIDTH:
            text = text[: LABEL_WIDTH - 1] + "…"
        return f"{stage:<{STAGE_WIDTH}} {text:<{LABEL_WIDTH}}"

    def _update(self, text: str, advance: int = 0) -> None:
        if self._task is not None and self._stage is not None:
            self._bars.update(self._task, description=self._label(self._stage, text), advance=advance)

    def _finish(self, text: str) -> None:
        stage = self._stage or ""
        seconds = time.monotonic() - self._started
        if self._task is not None:
            self._bars.remove_task(self._task)
        self._stage, self._task = None, None
        line = f"{stage:<{STAGE_WIDTH}} {text}"
        self.console.print(f"{line}  [dim]{seconds:.1f} s[/dim]", highlight=False, soft_wrap=True)

    # parsing ------------------------------------------------------------------------------------------
    def parsing(self) -> None:
        """The dbt project is being parsed (before the runs start; the bar vanishes with the next stage)."""
        self._start("dbt", "parsing the dbt project", None)

    def parsed(self) -> None:
        if self._task is not None:
            self._bars.remove_task(self._task)
        self._stage, self._task = None, None

    # raw ----------------------------------------------------------------------------------------------
    def raw_started(self, partitions: int) -> None:
        self._raw = Counter()
        self._start("raw", "loading arrival dates", partitions)

    def raw_partition(self, result: LoadResult) -> None:
        for name, value in (
            ("lines", result.lines_read),
            ("valid", result.valid_rows),
            ("quarantined", result.quarantined_rows),
            ("duplicates", result.duplicate_rows),
        ):
            self._raw[name] += value
        self._update(
            f"{result.arrival_date}: {self._raw['lines']:,} lines, {self._raw['valid']:,} valid, "
            f"{self._raw['quarantined']:,} quarantined, {self._raw['duplicates']:,} duplicates",
            advance=1,
        )

    def raw_finished(self, results: Sequence[LoadResult]) -> None:
        self._finish(raw_summary(results))

    # dbt ----------------------------------------------------------------------------------------------
    def dbt_started(self) -> None:
        self._dbt_finished = []
        self._start("dbt", "looking for new loads", None)

    def dbt_running(self, reason: str, nodes: int) -> None:
        if self._task is not None:
            self._bars.update(self._task, total=nodes)
        self._update(f"starting dbt: {reason}")

    def dbt_node(self, node: DbtNode) -> None:
        if node.status is None:
            self._update(f"{node.resource_type} {node.name}")
        else:
            self._dbt_finished.append(node)
            self._update(f"{node.resource_type} {node.name}: {node.status}", advance=1)

    def dbt_finished(self, success: bool) -> None:
        self._finish(dbt_summary(self._dbt_finished))

    def dbt_skipped(self, reason: str) -> None:
        self._finish(f"not run: {reason}")

    # serving ------------------------------------------------------------------------------------------
    def serving_started(self) -> None:
        self._start("serving", "publishing the marts", None)

    def serving_finished(self, published: bool, detail: str) -> None:
        detail = detail.replace(f"{Path.cwd()}/", "")
        self._finish(f"published {detail}" if published else f"not republished: {detail}")


def materialize_with_progress(
    settings: Settings,
    start: date,
    end: date,
    *,
    full_refresh: bool = False,
    verbose: bool = False,
    console: Console | None = None,
) -> bool:
    """`chat-analytics materialize`: the range's runs with live progress; every log line to a file.

    Dagster's events (debug included) and dbt's output go to the log file, whose path is printed last,
    also when the run fails or cannot start; `verbose` shows them live on stderr as well.
    """
    from orchestration.definitions import build_definitions
    from orchestration.runner import materialize_range

    console = console or Console(file=sys.stdout, highlight=False)
    log_path = log_file_path(settings.warehouse.parent / "logs")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    outcome = None
    with open(log_path, "w", encoding="utf-8") as log:
        stream: TextIO = Tee(log, sys.stderr) if verbose else log
        progress = ConsoleProgress(console, live=console.is_terminal and not verbose)
        try:
            with redirect_stdout(stream), redirect_stderr(stream), progress:
                progress.parsing()
                defs = build_definitions(
                    settings, progress=progress, loggers={"run_log": file_logger(stream)}
                )
                progress.parsed()
                outcome = materialize_range(settings, start, end, full_refresh=full_refresh, definitions=defs)
        except Exception as exc:
            # Whatever went wrong is in the log with its traceback; the terminal gets the message.
            traceback.print_exc(file=log)
            console.print(f"FAILED: {type(exc).__name__}: {exc}", markup=False, soft_wrap=True)
            console.print(f"full log: {shown_path(log_path)}", markup=False, soft_wrap=True)
            return False
    seconds = time.monotonic() - started
    if outcome.success:
        console.print(
            f"done in {seconds:.1f} s; full log: {shown_path(log_path)}", markup=False, soft_wrap=True
        )
    else:
        for failure in outcome.failures:
            console.print(f"FAILED: {failure}", markup=False, soft_wrap=True)
        console.print(
            f"failed after {seconds:.1f} s; full log: {shown_path(log_path)}", markup=False, soft_wrap=True
        )
    return outcome.success
