"""Performance benchmark of the pipeline: what users run, timed step by step, against a plain-SQL floor.

    make benchmark                                   # = .venv/bin/python -m benchmarks.run
    .venv/bin/python -m benchmarks.run --quick       # smoke run, a few minutes
    .venv/bin/python -m benchmarks.run --sizes 1e6,1e7,3e7 --repeats 3 --history-days 7,30,90

Every measured step is a fresh subprocess running the console script `.venv/bin/chat-analytics`
(generate / materialize / report) with CHAT_ANALYTICS_* variables pointing into the work directory, or
`python -m benchmarks.floor` (the floor) or `python -m benchmarks.overhead` (import / definitions / parse).
For each step: wall time, CPU time of the process tree (wait4), peak resident memory of the process tree
(sum of VmRSS over the tree, sampled every 0.1 s; dbt runs as a child of the Dagster process) and the
largest single-process peak (exact, from wait4). Results go to --output as markdown (plus a JSON copy in
the work directory); the file is rewritten after every step so that an interrupted run leaves its numbers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import metadata
from pathlib import Path

from orchestration.config import ENGINES, SERVING_FILE, Settings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CLI = BIN / "chat-analytics"
#: the code the measured commands run: ROOT, or a snapshot of it (see `snapshot_code`)
CODE = ROOT
#: what a snapshot holds: the Python package, the dbt project and what it reads, the floor and overhead scripts
SNAPSHOT_PATHS = ("orchestration", "models", "seeds", "dbt_project", "tests/dbt", "benchmarks")
SNAPSHOT_IGNORE = shutil.ignore_patterns(
    "__pycache__", "target", "logs", "dbt_packages", "work", "RESULTS*.md"
)
PAGE = os.sysconf("SC_PAGE_SIZE")
#: the hand-written analysis appended to the results (benchmarks/analysis.md)
ANALYSIS = Path(__file__).resolve().parent / "analysis.md"

#: distinct valid events per configured conversation, measured on the generator (6.08-6.10 at 1e6-1e7)
EVENTS_PER_CONVERSATION = 6.1
#: first simulated day: a Monday, far enough in the past that every arrival folder is a past partition
START = date(2026, 1, 5)
SEED = 42


# ---------------------------------------------------------------------------------------------------
# Measuring one subprocess
# ---------------------------------------------------------------------------------------------------


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    rss_tree_peak: int  # bytes, sum over the process tree, sampled
    rss_single_peak: int  # bytes, largest single process (exact)
    rss_by_phase: dict[str, int]  # phase -> sampled tree peak ("dbt": while a dbt process is alive)
    returncode: int
    log: str
    load_before: float
    info: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        tree[ppid].append(int(entry.name))
    return tree


def _descendants(pid: int) -> list[int]:
    tree = _children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, ()))
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


_cmdlines: dict[int, bytes] = {}


def _is_dbt(pid: int) -> bool:
    if pid not in _cmdlines:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                _cmdlines[pid] = f.read()
        except OSError:
            return False
    return b"/bin/dbt\x00" in _cmdlines[pid]


def measure(cmd: list[str], env: dict[str, str], log: Path, interval: float = 0.1) -> Run:
    """Run `cmd`, wait for it, and return its wall / CPU time and peak memory."""
    log.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    _cmdlines.clear()
    peak, phases = 0, defaultdict(int)
    with open(log, "wb") as out:
        out.write(("$ " + shlex.join(cmd) + "\n").encode())
        out.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=CODE, env=env, stdout=out, stderr=subprocess.STDOUT)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            tree = _descendants(proc.pid)
            total = sum(_rss(p) for p in tree)
            phase = "dbt" if any(_is_dbt(p) for p in tree[1:]) else "main"
            peak = max(peak, total)
            phases[phase] = max(phases[phase], total)
            time.sleep(interval)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        rss_tree_peak=max(peak, usage.ru_maxrss * 1024),
        rss_single_peak=usage.ru_maxrss * 1024,
        rss_by_phase=dict(phases),
        returncode=proc.returncode,
        log=os.path.relpath(log, ROOT),
        load_before=load,
    )


@dataclass
class Step:
    """Repeated runs of one measured step."""

    name: str
    events: int | None = None  # events processed, for events/s
    runs: list[Run] = field(default_factory=list)
    note: str = ""

    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    def median(self, attr: str = "wall_s") -> float | None:
        values = [getattr(r, attr) for r in self.ok_runs()]
        return statistics.median(values) if values else None

    def stat(self, fn, attr: str = "wall_s") -> float | None:
        values = [getattr(r, attr) for r in self.ok_runs()]
        return fn(values) if values else None

    def peak(self) -> int | None:
        return max((r.rss_tree_peak for r in self.runs), default=None)

    def peak_single(self) -> int | None:
        return max((r.rss_single_peak for r in self.runs), default=None)

    def failed(self) -> int:
        return sum(1 for r in self.runs if not r.ok)


def repeat(step: Step, times: int, max_repeat_s: float, once, before=None) -> Step:
    """Run `once()` up to `times` times (after `before()`); a first run longer than max_repeat_s is not repeated."""
    for i in range(times):
        if before is not None:
            before(i)
        run = once(i)
        step.runs.append(run)
        status = "ok" if run.ok else f"FAILED (exit {run.returncode}, see {run.log})"
        print(
            f"  {step.name} #{i + 1}: {run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU, "
            f"peak {run.rss_tree_peak / 2**20:.0f} MiB, {status}",
            flush=True,
        )
        if not run.ok:
            break
        if i == 0 and times > 1 and run.wall_s > max_repeat_s:
            step.note = (
                f"run once: first run took {run.wall_s:.0f} s > --max-repeat-seconds {max_repeat_s:.0f}"
            )
            print(f"  {step.name}: {step.note}", flush=True)
            break
    return step


# ---------------------------------------------------------------------------------------------------
# Parsing what the commands print
# ---------------------------------------------------------------------------------------------------


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def parse_generate(log: Path) -> dict:
    text = log.read_text(errors="replace")
    info = {}
    if m := re.search(r"wrote (\d+) files, ([\d,]+) lines", text):
        info["files"], info["lines"] = int(m.group(1)), _int(m.group(2))
    if m := re.search(r"distinct events ([\d,]+), duplicate lines ([\d,]+)", text):
        info["distinct_events"], info["duplicate_lines"] = _int(m.group(1)), _int(m.group(2))
    if m := re.search(r"malformed lines ([\d,]+)", text):
        info["malformed_lines"] = _int(m.group(1))
    return info


def duration_s(text: str) -> float | None:
    """Dagster's format_duration: 0.83ms, 533ms, 5.6s, 4m52s, 1h4m."""
    if m := re.fullmatch(r"([\d.]+)ms", text):
        return float(m.group(1)) / 1000
    if m := re.fullmatch(r"([\d.]+)s", text):
        return float(m.group(1))
    if m := re.fullmatch(r"(\d+)m(\d+)s", text):
        return int(m.group(1)) * 60 + int(m.group(2))
    if m := re.fullmatch(r"(\d+)h(\d+)m", text):
        return int(m.group(1)) * 3600 + int(m.group(2)) * 60
    return None


def parse_materialize(log: Path) -> dict:
    text = log.read_text(errors="replace")
    info: dict = {"steps": {}, "arrivals": {}}
    # the run of the dbt step (a range is a raw run, then a run of everything downstream)
    if m := re.search(r" - ([0-9a-f-]{36}) - \d+ - chat_analytics_dbt - STEP_START", text):
        info["run_id"] = m.group(1)
    if m := re.search(r"^(done in|failed after) ", text, re.M):
        info["status"] = "succeeded" if m.group(1) == "done in" else "FAILED"
    for m in re.finditer(r'Finished execution of step "([^"]+)" in (\S+?)\.\s*$', text, re.M):
        info["steps"][m.group(1)] = duration_s(m.group(2))
    for m in re.finditer(
        r"(?:^| - )raw (\d{4}-\d{2}-\d{2}): (\d+) lines, (\d+) valid, (\d+) quarantined, (\d+) duplicates",
        text,
        re.M,
    ):
        info["arrivals"][m.group(1)] = {
            "lines": int(m.group(2)),
            "valid": int(m.group(3)),
            "quarantined": int(m.group(4)),
            "duplicates": int(m.group(5)),
        }
    # second-precision timestamps of Dagster's log around the dbt step
    marks = {}
    for m in re.finditer(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ([+-]\d{4}) - dagster - .*$", text, re.M):
        line = m.group(0)
        at = datetime.strptime(m.group(1) + m.group(2), "%Y-%m-%d %H:%M:%S%z")
        if "STEP_START" in line and "dbt" in line.split(" - STEP_START")[0].rsplit(" - ", 1)[-1]:
            marks.setdefault("dbt_step_start", at)
        elif "Running dbt command" in line:
            marks.setdefault("dbt_command", at)
        elif "STEP_SUCCESS" in line and "dbt" in line.split(" - STEP_SUCCESS")[0].rsplit(" - ", 1)[-1]:
            marks.setdefault("dbt_step_end", at)
    if run_id := info.get("run_id"):
        info.update(dbt_invocation(run_id))
    first, last = info.pop("dbt_first_ts", None), info.pop("dbt_last_ts", None)
    if "dbt_step_start" in marks and "dbt_command" in marks:
        info["dbt_prep_s"] = (marks["dbt_command"] - marks["dbt_step_start"]).total_seconds()
    if "dbt_command" in marks and first:
        info["dbt_launch_s"] = max(0.0, (first - marks["dbt_command"]).total_seconds())
    if "dbt_step_end" in marks and last:
        info["dbt_post_s"] = max(0.0, (marks["dbt_step_end"] - last).total_seconds())
    return info


def _ts(line: dict) -> datetime | None:
    try:
        return datetime.fromisoformat(line["info"]["ts"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None


def dbt_invocation(run_id: str) -> dict:
    """run_results.json and parse facts of the dbt invocation of a Dagster run (dagster-dbt's target dir)."""
    dirs = sorted((CODE / "dbt_project" / "target").glob(f"*-{run_id[:7]}-*"))
    if not dirs:
        return {}
    target = dirs[-1]
    info: dict = {"dbt_target": os.path.relpath(target, ROOT)}
    results = target / "run_results.json"
    if results.exists():
        data = json.loads(results.read_text())
        info["dbt_elapsed_s"] = data.get("elapsed_time")
        info["dbt_nodes"] = [
            {"id": r["unique_id"], "s": r.get("execution_time") or 0.0, "status": r.get("status")}
            for r in data.get("results", [])
        ]
    # dbt rotates its log: dbt.log.2 is older than dbt.log.1, which is older than dbt.log
    logs = sorted(target.glob("dbt.log*"), key=lambda p: -int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0)
    if logs:
        started = found = last = None
        full_parse = partial = False
        lines = [raw for log in logs for raw in log.read_text(errors="replace").splitlines()]
        for raw in lines:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            name = line.get("info", {}).get("name")
            last = _ts(line) or last
            if name == "MainReportVersion" and started is None:
                started = _ts(line)
            elif name == "FoundStats" and found is None:
                found = _ts(line)
            elif name == "UnableToPartialParse":
                full_parse = True
                info["dbt_parse_reason"] = line.get("info", {}).get("msg", "")
            elif name in (
                "PartialParsingEnabled",
                "PartialParsingProfileEnvVarsChanged",
                "PartialParsingSkipParsing",
            ):
                partial = True
        if started and found:
            info["dbt_parse_s"] = (found - started).total_seconds()
            info["dbt_first_ts"] = started
            info["dbt_last_ts"] = last
            if last:
                info["dbt_run_s"] = (last - found).total_seconds()
        info["dbt_full_parse"] = full_parse and not partial
    return info


def parse_overhead(log: Path) -> dict:
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("OVERHEAD "):
            return json.loads(line[len("OVERHEAD ") :])
    return {}


# ---------------------------------------------------------------------------------------------------
# The work
# ---------------------------------------------------------------------------------------------------


def env_for(
    landing: Path,
    warehouse_dir: Path,
    start_date: date,
    engine: str,
    spark_master: str,
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CHAT_ANALYTICS_") and k not in ("DAGSTER_HOME", "VIRTUAL_ENV")
    }
    env.update(
        CHAT_ANALYTICS_LANDING_DIR=str(landing),
        CHAT_ANALYTICS_WAREHOUSE=str(warehouse_dir / "warehouse.duckdb"),
        CHAT_ANALYTICS_START_DATE=start_date.isoformat(),
        CHAT_ANALYTICS_TIMEZONE="UTC",
        PYTHONUNBUFFERED="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    if engine == "spark":  # the Spark warehouse defaults to spark-warehouse/ beside warehouse.duckdb
        env.update(CHAT_ANALYTICS_ENGINE="spark", CHAT_ANALYTICS_SPARK_MASTER=spark_master)
    if CODE != ROOT:  # the snapshot's `orchestration` wins over the editable install of ROOT's
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CODE), os.environ.get("PYTHONPATH")) if p)
    return env


def snapshot_code(dest: Path) -> None:
    """Copy the code under test, so that edits made to the working tree during a run do not mix versions."""
    global CODE
    shutil.rmtree(dest, ignore_errors=True)
    for rel in SNAPSHOT_PATHS:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=SNAPSHOT_IGNORE)
    CODE = dest


def arrival_dates(landing: Path) -> list[date]:
    return sorted(date.fromisoformat(p.name) for p in landing.iterdir() if p.is_dir())


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def reset(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)


def serving_snapshot(env: dict[str, str]) -> Path:
    """The published DuckDB snapshot of a run with this environment, as the pipeline's settings place it."""
    return Settings.from_env(env).serving_path / SERVING_FILE


def compare_kpi(snapshot: Path, floor_parquet: Path) -> dict:
    """kpi_daily of the published snapshot (the same file whichever engine built it) against the floor's."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"attach '{snapshot}' as wh (read_only)")
        con.execute(f"create table f as select * from read_parquet('{floor_parquet}')")
        cols = [r[0] for r in con.execute("describe f").fetchall() if r[0] not in ("report_date", "channel")]
        pipeline_rows = con.execute("select count(*) from wh.marts.kpi_daily").fetchone()[0]
        floor_rows = con.execute("select count(*) from f").fetchone()[0]
        only = con.execute(
            "select count(*) filter (where p.report_date is null), count(*) filter (where f.report_date is null) "
            "from wh.marts.kpi_daily p full join f using (report_date, channel)"
        ).fetchone()
        diffs, totals = {}, {}
        for c in cols:
            n, p_sum, f_sum = con.execute(
                f"""
                select
                    count(*) filter (where
                        (p.{c} is null) <> (f.{c} is null)
                        or abs(p.{c} - f.{c}) > 1e-6 * greatest(1, abs(p.{c}))),
                    sum(p.{c}), sum(f.{c})
                from wh.marts.kpi_daily p full join f using (report_date, channel)
                """
            ).fetchone()
            diffs[c] = int(n)
            totals[c] = (p_sum, f_sum)
        return {
            "pipeline_rows": pipeline_rows,
            "floor_rows": floor_rows,
            "rows_only_in_floor": only[0],
            "rows_only_in_pipeline": only[1],
            "cells_differing": diffs,
            "column_totals": totals,
            "agree": only == (0, 0) and not any(diffs.values()) and pipeline_rows == floor_rows,
        }
    finally:
        con.close()


class Benchmark:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.work_dir.resolve()
        self.logs = self.work / "logs"
        self.results: dict = {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join([".venv/bin/python -m benchmarks.run", *sys.argv[1:]]),
            "machine": machine(),
            "versions": versions(),
            "code": code_state(),
            "snapshot": None,
            "settings": {
                "sizes": args.sizes,
                "days": args.days,
                "repeats": args.repeats,
                "history_days": args.history_days,
                "daily_conversations": args.daily_conversations,
                "max_repeat_seconds": args.max_repeat_seconds,
                "engine": args.engine,
                "spark_master": args.spark_master if args.engine == "spark" else None,
            },
            "sizes": {},
            "history": {},
            "overhead": None,
        }
        self.steps: dict[str, Step] = {}
        self.t0 = time.perf_counter()

    # -- helpers ------------------------------------------------------------------------------------

    def step(self, key: str, name: str, events: int | None = None) -> Step:
        self.steps[key] = Step(name=name, events=events)
        return self.steps[key]

    def save(self) -> None:
        self.results["elapsed_s"] = time.perf_counter() - self.t0
        self.results["load_now"] = os.getloadavg()
        self.results["steps"] = {k: asdict(s) for k, s in self.steps.items()}
        (self.work / "results.json").write_text(json.dumps(self.results, indent=1, default=str))
        self.args.output.parent.mkdir(parents=True, exist_ok=True)
        self.args.output.write_text(render(self.results, self.steps))

    def env(self, landing: Path, warehouse_dir: Path, start_date: date) -> dict[str, str]:
        return env_for(landing, warehouse_dir, start_date, self.args.engine, self.args.spark_master)

    def cli(self, *argv: str) -> list[str]:
        # materialize writes Dagster's and dbt's logs to a file; --verbose also prints them, for parse_materialize
        return [str(CLI), *argv, *(["--verbose"] if argv[:1] == ("materialize",) else [])]

    # -- sizes --------------------------------------------------------------------------------------

    def run_size(self, size: float) -> None:
        a = self.args
        label = f"{size:.0e}".replace("+0", "").replace("+", "")
        days = a.days
        conversations = max(1, round(size / (days * EVENTS_PER_CONVERSATION)))
        base = self.work / f"size-{label}"
        landing, wh, floor_dir = base / "landing", base / "warehouse", base / "floor"
        env = self.env(landing, wh, START)
        info: dict = {"target_events": size, "days": days, "conversations_per_day": conversations}
        self.results["sizes"][label] = info
        print(f"\n== size {label}: {days} days x {conversations} conversations/day", flush=True)

        gen = self.step(f"{label}/generate", "generate")
        generate_cmd = self.cli(
            "generate", "--start", START.isoformat(), "--days", str(days),
            "--conversations-per-day", str(conversations), "--seed", str(SEED),
        )  # fmt: skip
        repeat(
            gen,
            a.repeats,
            a.max_repeat_seconds,
            lambda i: measure(generate_cmd, env, self.logs / f"{label}-generate-{i + 1}.log"),
            before=lambda i: reset(landing),
        )
        if not gen.ok_runs():
            self.save()
            return
        info.update(parse_generate(Path(ROOT / gen.runs[-1].log)))
        info["landing_bytes"] = dir_bytes(landing)
        dates = arrival_dates(landing)
        info["arrival_dates"] = [dates[0].isoformat(), dates[-1].isoformat(), len(dates)]
        events = info.get("distinct_events")
        gen.events = events
        print(f"  actual: {info.get('lines', 0):,} lines, {events or 0:,} distinct events", flush=True)
        self.save()

        floor = self.step(f"{label}/floor", "floor (plain DuckDB SQL)", events)
        floor_cmd = [
            sys.executable, "-m", "benchmarks.floor", "--landing-dir", str(landing),
            "--out", str(floor_dir / "kpi_daily.parquet"), "--temp-dir", str(floor_dir / "tmp"),
        ]  # fmt: skip
        repeat(
            floor,
            a.repeats,
            a.max_repeat_seconds,
            lambda i: measure(floor_cmd, env, self.logs / f"{label}-floor-{i + 1}.log"),
            before=lambda i: reset(floor_dir),
        )
        self.save()

        build = self.step(f"{label}/full_build", "full build (materialize all arrival dates)", events)
        build_cmd = self.cli("materialize", "--start", dates[0].isoformat(), "--end", dates[-1].isoformat())

        def build_once(i: int) -> Run:
            run = measure(build_cmd, env, self.logs / f"{label}-full-build-{i + 1}.log")
            run.info = parse_materialize(ROOT / run.log)
            run.info.pop("arrivals", None)
            return run

        repeat(build, a.repeats, a.max_repeat_seconds, build_once, before=lambda i: reset(wh))
        self.save()
        if not build.ok_runs():
            return
        if floor.ok_runs():
            info["kpi_agreement"] = compare_kpi(serving_snapshot(env), floor_dir / "kpi_daily.parquet")
            print(f"  kpi_daily floor vs pipeline agree: {info['kpi_agreement']['agree']}", flush=True)
        info["warehouse_bytes"] = dir_bytes(wh)

        report = self.step(f"{label}/report", "report --days 7")
        last_day = START + timedelta(days=days - 1)
        report_cmd = self.cli("report", "--days", "7", "--end", last_day.isoformat())
        repeat(
            report,
            a.repeats,
            a.max_repeat_seconds,
            lambda i: measure(report_cmd, env, self.logs / f"{label}-report-{i + 1}.log"),
        )
        self.save()

        rerun = self.step(f"{label}/no_change", "no-change rerun of one partition")
        partition = START + timedelta(days=days // 2)
        rerun_cmd = self.cli("materialize", "--start", partition.isoformat(), "--end", partition.isoformat())

        def rerun_once(i: int) -> Run:
            run = measure(rerun_cmd, env, self.logs / f"{label}-no-change-{i + 1}.log")
            run.info = parse_materialize(ROOT / run.log)
            rows = run.info.pop("arrivals", {}).get(partition.isoformat(), {})
            run.info["partition_lines"] = rows.get("lines")
            return run

        repeat(rerun, a.repeats, a.max_repeat_seconds, rerun_once)
        self.save()
        self.run_one_more_day(label, landing, wh, env, days, conversations)

    def run_one_more_day(
        self, label: str, landing: Path, wh: Path, env: dict[str, str], days: int, conversations: int
    ) -> None:
        """The scale curve's incremental step: one more day of the same traffic onto the size's warehouse."""
        a = self.args
        new_day = START + timedelta(days=days)
        before = set(arrival_dates(landing))
        extra = self.cli(
            "generate", "--start", new_day.isoformat(), "--days", "1",
            "--conversations-per-day", str(conversations), "--seed", str(SEED + 1),
        )  # fmt: skip
        if measure(extra, env, self.logs / f"{label}-one-more-day-generate.log").returncode != 0:
            return
        # the new day's folder and the later folders its late events went to
        touched = sorted(d for d in arrival_dates(landing) if d not in before or d >= new_day)
        saved = wh.parent / (wh.name + "-saved")
        shutil.rmtree(saved, ignore_errors=True)
        shutil.copytree(wh, saved, symlinks=True)
        step = self.step(f"{label}/one_day", f"one more day onto the {days} days")
        cmd = self.cli("materialize", "--start", touched[0].isoformat(), "--end", touched[-1].isoformat())

        def restore(i: int) -> None:
            shutil.rmtree(wh, ignore_errors=True)
            shutil.copytree(saved, wh, symlinks=True)

        def once(i: int) -> Run:
            run = measure(cmd, env, self.logs / f"{label}-one-more-day-{i + 1}.log")
            run.info = parse_materialize(ROOT / run.log)
            arrivals = run.info.pop("arrivals", {})
            run.info["partition_lines"] = sum(v.get("lines") or 0 for v in arrivals.values())
            return run

        repeat(step, a.repeats, a.max_repeat_seconds, once, before=restore)
        if step.ok_runs():
            step.events = step.ok_runs()[-1].info.get("partition_lines")
        shutil.rmtree(saved, ignore_errors=True)
        self.save()

    # -- overhead -----------------------------------------------------------------------------------

    def run_overhead(self) -> None:
        print("\n== fixed overhead: import, definitions, dbt parse", flush=True)
        scratch = self.work / "overhead"
        env = self.env(scratch / "landing", scratch / "warehouse", START)
        step = self.step("overhead", "python -m benchmarks.overhead")
        cmd = [sys.executable, "-m", "benchmarks.overhead"]

        def once(i: int) -> Run:
            run = measure(cmd, env, self.logs / f"overhead-{i + 1}.log")
            run.info = parse_overhead(ROOT / run.log)
            return run

        repeat(step, self.args.repeats, self.args.max_repeat_seconds, once)
        self.save()

    # -- incremental: one more day onto histories ---------------------------------------------------

    def run_history(self) -> None:
        a = self.args
        longest = max(a.history_days)
        measured = START + timedelta(days=longest)  # the arrival date loaded onto every history
        base = self.work / "history"
        landing = base / "landing"
        print(
            f"\n== histories {a.history_days}: {longest + 1} days x {a.daily_conversations} conversations/day, "
            f"measured day {measured}",
            flush=True,
        )
        gen = self.step("history/generate", "generate history landing")
        generate_cmd = self.cli(
            "generate", "--start", START.isoformat(), "--days", str(longest + 1),
            "--conversations-per-day", str(a.daily_conversations), "--seed", str(SEED),
        )  # fmt: skip
        reset(landing)
        repeat(
            gen,
            1,
            a.max_repeat_seconds,
            lambda i: measure(
                generate_cmd, self.env(landing, base, START), self.logs / "history-generate.log"
            ),
        )
        if not gen.ok_runs():
            self.save()
            return
        ginfo = parse_generate(ROOT / gen.runs[-1].log)
        gen.events = ginfo.get("distinct_events")
        self.results["history"]["landing"] = {
            **ginfo,
            "days": longest + 1,
            "conversations_per_day": a.daily_conversations,
            "measured_arrival_date": measured.isoformat(),
        }
        self.save()

        for h in sorted(a.history_days):
            first = measured - timedelta(days=h)
            wh, saved = base / f"h{h}" / "warehouse", base / f"h{h}" / "saved"
            env = self.env(landing, wh, first)
            hinfo: dict = {
                "history_days": h,
                "history_arrival_dates": [first.isoformat(), (measured - timedelta(days=1)).isoformat()],
            }
            self.results["history"][str(h)] = hinfo
            print(f"-- history {h} days: arrival dates {first} .. {measured - timedelta(days=1)}", flush=True)
            setup = self.step(f"history/{h}/build", f"build {h}-day history (setup, not a target)")
            setup_cmd = self.cli(
                "materialize",
                "--start",
                first.isoformat(),
                "--end",
                (measured - timedelta(days=1)).isoformat(),
            )

            def setup_once(i: int, setup_cmd=setup_cmd, env=env, h=h) -> Run:
                run = measure(setup_cmd, env, self.logs / f"history-{h}-build.log")
                run.info = parse_materialize(ROOT / run.log)
                arrivals = run.info.pop("arrivals", {})
                run.info["lines"] = sum(v["lines"] for v in arrivals.values())
                run.info["valid"] = sum(v["valid"] for v in arrivals.values())
                return run

            reset(wh)
            repeat(setup, 1, a.max_repeat_seconds, setup_once)
            if not setup.ok_runs():
                self.save()
                continue
            hinfo["history_lines"] = setup.runs[-1].info.get("lines")
            setup.events = setup.runs[-1].info.get("valid")
            shutil.rmtree(saved, ignore_errors=True)
            shutil.copytree(wh, saved, symlinks=True)

            day = self.step(f"history/{h}/one_day", f"one more day onto {h} days")
            day_cmd = self.cli("materialize", "--start", measured.isoformat(), "--end", measured.isoformat())

            def restore(i: int, wh=wh, saved=saved) -> None:
                shutil.rmtree(wh, ignore_errors=True)
                shutil.copytree(saved, wh, symlinks=True)

            def day_once(i: int, day_cmd=day_cmd, env=env, h=h) -> Run:
                run = measure(day_cmd, env, self.logs / f"history-{h}-one-day-{i + 1}.log")
                run.info = parse_materialize(ROOT / run.log)
                rows = run.info.pop("arrivals", {}).get(measured.isoformat(), {})
                run.info["partition_lines"] = rows.get("lines")
                return run

            repeat(day, a.repeats, a.max_repeat_seconds, day_once, before=restore)
            if day.ok_runs():
                day.events = day.ok_runs()[-1].info.get("partition_lines")
            if not a.keep:
                shutil.rmtree(saved, ignore_errors=True)
            self.save()

    def prepare_code(self) -> None:
        """Snapshot the code (unless --no-snapshot) and parse the dbt project once, untimed."""
        if self.args.snapshot:
            snapshot_code(self.work / "code")
            self.results["snapshot"] = {
                "path": os.path.relpath(CODE, ROOT),
                "code_sha256": sources_digest(CODE),
                "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        scratch = self.work / "overhead"
        warm = [
            sys.executable,
            "-c",
            "from orchestration.config import Settings; "
            "from orchestration.dbt_manifest import prepare_manifest; print(prepare_manifest(Settings.from_env()))",
        ]
        run = measure(
            warm,
            self.env(scratch / "landing", scratch / "warehouse", START),
            self.logs / "prepare-manifest.log",
        )
        print(f"  dbt manifest ready in {CODE} ({run.wall_s:.1f} s, exit {run.returncode})", flush=True)
        if not run.ok:
            raise SystemExit(f"could not parse the dbt project: see {run.log}")

    def run(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        reset(self.logs)
        print(f"benchmark: work dir {self.work}, results -> {self.args.output}", flush=True)
        self.prepare_code()
        self.save()
        for size in self.args.sizes:
            self.run_size(size)
        self.run_overhead()
        if self.args.history_days:
            self.run_history()
        self.results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        self.results["code_at_end"] = code_state()
        self.save()
        print(f"\nwrote {self.args.output} ({(time.perf_counter() - self.t0) / 60:.1f} min)", flush=True)


# ---------------------------------------------------------------------------------------------------
# Machine, versions, code
# ---------------------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_bytes": mem,
        "cpu": cpu,
        "kernel": platform.release(),
        "load_at_start": os.getloadavg(),
    }


def versions() -> dict:
    out = {"python": platform.python_version()}
    for dist in ("duckdb", "dbt-core", "dbt-duckdb", "dagster", "dagster-dbt", "pyarrow", "numpy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


def code_state(root: Path | None = None) -> dict:
    def git(*argv: str) -> str:
        try:
            return subprocess.run(
                ["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
            ).stdout.rstrip("\n")
        except OSError:
            return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_paths": [
            entry[3:]
            for entry in git("status", "--porcelain", "-z").split("\0")
            if len(entry) > 3 and not entry[3:].startswith("benchmarks/")
        ],
        "code_sha256": sources_digest(root or ROOT),
    }


def sources_digest(root: Path) -> str:
    """Hash of the code a run executes: the package and the dbt project (what a snapshot copies)."""
    digest = hashlib.sha256()
    for folder in (
        "orchestration",
        "models",
        "seeds",
        "dbt_project/macros",
        "dbt_project/dbt_project.yml",
        "dbt_project/profiles.yml",
        "tests/dbt",
    ):
        base = root / folder
        paths = [base] if base.is_file() else sorted(base.rglob("*")) if base.is_dir() else []
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# ---------------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------------


def _s(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _mib(value: int | None) -> str:
    return "-" if not value else f"{value / 2**20:,.0f}"


def _gib(value: int | None) -> str:
    return "-" if not value else f"{value / 2**30:.2f}"


def _rate(events: int | None, seconds: float | None) -> str:
    return "-" if not events or not seconds else f"{events / seconds:,.0f}"


def _steps_row(step: Step, floor: Step | None = None) -> str:
    med = step.median()
    n = f"{len(step.ok_runs())}" + (f" ({step.failed()} failed)" if step.failed() else "")
    ratio = "-"
    if floor is not None and med is not None and floor.median():
        ratio = f"{med / floor.median():.1f}x (CPU {step.median('cpu_s') / floor.median('cpu_s'):.1f}x)"
    return (
        f"| {step.name} | {n} | {_s(med)} | {_s(step.stat(min))} | {_s(step.stat(max))} | "
        f"{_s(step.median('cpu_s'))} | {_rate(step.events, med)} | {_mib(step.peak())} | "
        f"{_mib(step.peak_single())} | {_s(step.median('load_before'), 1)} | {ratio} |"
    )


_HEADER = (
    "| step | runs | median s | min s | max s | CPU s (median) | events/s | peak RSS tree MiB | "
    "peak RSS 1 process MiB | load avg before | vs floor |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def _sub_median(step: Step, key: str) -> float | None:
    values = [r.info.get(key) for r in step.ok_runs() if r.info.get(key) is not None]
    return statistics.median(values) if values else None


def _step_time_median(step: Step, name: str) -> float | None:
    values = [r.info.get("steps", {}).get(name) for r in step.ok_runs()]
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _phase_peak(step: Step, phase: str) -> int | None:
    return max((r.rss_by_phase.get(phase, 0) for r in step.runs), default=None) or None


def _breakdown(step: Step) -> list[str]:
    """Dagster steps, dbt parse and the rest of a materialize run, medians over its runs."""
    names = []
    for r in step.ok_runs():
        for n in r.info.get("steps", {}):
            if n not in names:
                names.append(n)
    total = step.median()
    parts = []
    accounted = 0.0
    for n in names:
        v = _step_time_median(step, n)
        accounted += v or 0
        parts.append(f"{n} {_s(v)} s")
    parse = _sub_median(step, "dbt_parse_s")
    if parse is not None:
        parts.append(f"(dbt parse inside the dbt step {_s(parse)} s)")
    if total is not None:
        parts.append(f"process start, Dagster and definitions {_s(total - accounted)} s")
    return parts


def _engine_line(res: dict) -> str:
    settings = res.get("settings", {})
    engine = settings.get("engine", "duckdb")
    if engine == "spark":
        return (
            f"| engine | Apache Spark, master `{settings.get('spark_master')}` (the floor script: DuckDB) |"
        )
    return "| engine | DuckDB |"


def _code_line(res: dict) -> str:
    snap, end = res.get("snapshot"), res.get("code_at_end")
    if snap:
        line = (
            f"| code measured | snapshot `{snap['path']}` taken {snap['taken_at']} (sources sha256"
            f" {snap['code_sha256']}); every step ran that copy"
        )
        if end and end.get("code_sha256") != snap["code_sha256"]:
            line += f" (the working tree changed during the run: sha256 {end['code_sha256']} at the end)"
        return line + " |"
    line = "| code measured | the working tree itself (`--no-snapshot`)"
    if end and end.get("code_sha256") != res["code"]["code_sha256"]:
        line += (
            f": **it changed during the run** (sha256 {end['code_sha256']} at the end), steps mix versions"
        )
    return line + " |"


def _load_sentence(res: dict) -> str:
    """Whether the machine was quiet: judged by the load when the run started (later loads are its own)."""
    start = res["machine"]["load_at_start"][0]
    cores = res["machine"].get("nproc") or 1
    if start <= cores / 2:
        return (
            f"The machine was quiet when this started (load average {start:.2f} on {cores} cores); the load"
            " averages of each step (`load_before`) are then mostly the benchmark's own previous step."
        )
    return (
        "The machine was shared with other work while this ran (see the load averages and each run's"
        " `load_before` in the JSON): wall times are noisy, CPU times less so."
    )


def render(res: dict, steps: dict[str, Step]) -> str:
    m, v, code = res["machine"], res["versions"], res["code"]
    out = [
        "# Benchmark results",
        "",
        f"Generated by `{res['command']}` (started {res['started_at']}"
        + (
            f", finished {res['finished_at']}"
            if res.get("finished_at")
            else ", **still running or interrupted**"
        )
        + f", {res.get('elapsed_s', 0) / 60:.0f} min). Regenerate with `make benchmark`;"
        " `--help` lists the options.",
        "",
        "Every step is a fresh subprocess of what users run (`.venv/bin/chat-analytics generate | materialize |"
        " report`, or the floor script), timed by wall clock; CPU is user + system time of the whole process tree;"
        " *peak RSS tree* is the sum of resident memory over the process tree (Dagster's process and its dbt child),"
        " sampled every 0.1 s; *peak RSS 1 process* is the largest single process (exact, `wait4`)."
        " Medians are over the successful runs; a step whose first run exceeded `--max-repeat-seconds` ran once.",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu']} x {m['nproc']} (`nproc`) |",
        f"| memory | {m['memory_bytes'] / 2**30:.1f} GiB |",
        f"| kernel | {m['kernel']} |",
        f"| load average at start / end | {m['load_at_start'][0]:.2f} / {res.get('load_now', [0])[0]:.2f} |",
        "| versions | " + ", ".join(f"{k} {val}" for k, val in v.items()) + " |",
        f"| code | commit {code['commit']}, working-tree sources sha256 {code['code_sha256']}"
        + (
            f", uncommitted: {', '.join(code['uncommitted_paths'][:12])}"
            + (" ..." if len(code["uncommitted_paths"]) > 12 else "")
            if code["uncommitted_paths"]
            else ""
        )
        + " |",
        _code_line(res),
        _engine_line(res),
        "",
        _load_sentence(res),
        "",
    ]

    sizes = res.get("sizes", {})
    if sizes:
        out += [
            "## Datasets",
            "",
            "| size | days x conversations/day | lines | distinct events | duplicate lines | malformed lines |"
            " arrival folders | landing MiB (ndjson.gz) | warehouse MiB |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, info in sizes.items():
            out.append(
                f"| {label} | {info['days']} x {info['conversations_per_day']:,} | {info.get('lines', 0):,} | "
                f"{info.get('distinct_events', 0):,} | {info.get('duplicate_lines', 0):,} | "
                f"{info.get('malformed_lines', 0):,} | {info.get('arrival_dates', ['', '', 0])[2]} | "
                f"{_mib(info.get('landing_bytes'))} | {_mib(info.get('warehouse_bytes'))} |"
            )
        out.append("")

    for label in sizes:
        floor = steps.get(f"{label}/floor")
        floor_med = floor.median() if floor else None
        out += [f"## Size {label}", "", _HEADER]
        for key in ("generate", "floor", "full_build", "report", "no_change", "one_day"):
            st = steps.get(f"{label}/{key}")
            if st is None:
                continue
            out.append(_steps_row(st, floor if key in ("full_build",) else None))
        out.append("")
        notes = [f"{st.name}: {st.note}" for k, st in steps.items() if k.startswith(f"{label}/") and st.note]
        build = steps.get(f"{label}/full_build")
        if build and build.ok_runs():
            raw = _step_time_median(build, "raw_chat_events")
            out.append(
                f"- full build breakdown (medians): {'; '.join(_breakdown(build))}."
                f" Raw load alone: {_s(raw)} s = {_rate(build.events, raw)} events/s"
                + (f", {raw / floor_med:.1f}x the whole floor" if raw and floor_med else "")
                + "."
            )
            out.append(
                f"- full build peak RSS: {_mib(_phase_peak(build, 'main'))} MiB before dbt starts (raw load in the"
                f" Dagster process), {_mib(_phase_peak(build, 'dbt'))} MiB while dbt runs (tree)."
            )
        rerun = steps.get(f"{label}/no_change")
        if rerun and rerun.ok_runs():
            out.append(f"- no-change rerun breakdown (medians): {'; '.join(_breakdown(rerun))}.")
            full = [r.info.get("dbt_full_parse") for r in rerun.ok_runs()]
            if any(full):
                reason = next(
                    (
                        r.info.get("dbt_parse_reason")
                        for r in rerun.ok_runs()
                        if r.info.get("dbt_parse_reason")
                    ),
                    "",
                )
                out.append(f'- every dbt invocation parsed the project from scratch: dbt.log says "{reason}"')
        agreement = sizes[label].get("kpi_agreement")
        if agreement:
            if agreement["agree"]:
                out.append(
                    f"- floor check: `kpi_daily` of the floor and of the pipeline agree on all"
                    f" {agreement['pipeline_rows']} rows and every column."
                )
            else:
                bad = {c: n for c, n in agreement["cells_differing"].items() if n}
                totals = {
                    c: f"{agreement['column_totals'][c][0]} vs {agreement['column_totals'][c][1]}"
                    for c in bad
                }
                out.append(
                    f"- floor check: **differences** — rows pipeline {agreement['pipeline_rows']} / floor"
                    f" {agreement['floor_rows']}; cells differing per column {bad}; totals pipeline vs floor {totals}."
                )
        out += [f"- {n}" for n in notes]
        out.append("")

    ov = steps.get("overhead")
    if ov and ov.runs:
        out += [
            "## Fixed overhead",
            "",
            "Fresh interpreter, medians of the runs (`python -m benchmarks.overhead`):",
            "",
            "| import dagster + code location s | manifest freshness check s | Definitions load s | full `dbt parse` s |"
            " whole process s | manifest was fresh |",
            "|---|---|---|---|---|---|",
            f"| {_s(_sub_median(ov, 'import_s'), 2)} | {_s(_sub_median(ov, 'parse_check_s'), 3)} | "
            f"{_s(_sub_median(ov, 'definitions_s'), 2)} | {_s(_sub_median(ov, 'dbt_parse_s'), 2)} | "
            f"{_s(ov.median(), 2)} | {all(r.info.get('manifest_fresh') for r in ov.ok_runs())} |",
            "",
        ]

    hist = res.get("history", {})
    if hist.get("landing"):
        land = hist["landing"]
        out += [
            "## One more day onto a history",
            "",
            f"One landing zone of {land['days']} days x {land['conversations_per_day']:,} conversations/day"
            f" ({land.get('lines', 0):,} lines, {land.get('distinct_events', 0):,} distinct events). For a history of"
            f" H days the warehouse is built from the H arrival dates before {land['measured_arrival_date']} (one"
            " run, not timed as a target), saved, then `materialize` of the arrival date"
            f" {land['measured_arrival_date']} alone is timed, the saved warehouse being restored before each run."
            " The day loaded is the same folder for every history.",
            "",
            "| history days | history lines | day's lines | runs | median s | min s | max s | CPU s | peak RSS tree MiB |"
            f" vs {min(int(k) for k in hist if k.isdigit()) if any(k.isdigit() for k in hist) else '-'} days |"
            " history build s (setup) |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        keys = sorted(int(k) for k in hist if k.isdigit())
        ref = steps.get(f"history/{keys[0]}/one_day") if keys else None
        ref_med = ref.median() if ref else None
        for h in keys:
            day, setup = steps.get(f"history/{h}/one_day"), steps.get(f"history/{h}/build")
            if day is None:
                continue
            med = day.median()
            out.append(
                f"| {h} | {hist[str(h)].get('history_lines') or 0:,} | {day.events or 0:,} | {len(day.ok_runs())} | "
                f"{_s(med)} | {_s(day.stat(min))} | {_s(day.stat(max))} | {_s(day.median('cpu_s'))} | {_mib(day.peak())} | "
                f"{'-' if not med or not ref_med else f'{med / ref_med:.2f}x'} | {_s(setup.median() if setup else None)} |"
            )
        out.append("")
        for h in keys:
            day = steps.get(f"history/{h}/one_day")
            if day and day.ok_runs():
                out.append(f"- {h} days, breakdown (medians): {'; '.join(_breakdown(day))}.")
        out.append("")

    out += scale_curve(res, steps)
    out += targets(res, steps)
    out += profile(res, steps)
    # What was done about the profile and why a target is missed: written by hand, kept across re-renders.
    if ANALYSIS.exists():
        out += ["", ANALYSIS.read_text().strip()]
    return "\n".join(out) + "\n"


def _size_near(sizes: dict, wanted: float) -> str | None:
    if not sizes:
        return None
    return min(sizes, key=lambda k: abs(sizes[k]["target_events"] - wanted) / wanted)


# Issue 13's targets (ratios measured in the same run; not timed tests).
FULL_BUILD_RATIO_TARGET = 1.5  # full build at 1e7 events, wall time, against the floor script
HISTORY_RATIO_TARGET = 1.1  # one day onto the longest history against onto the shortest
NO_CHANGE_TARGET_S = 15.0
PEAK_TARGET_BYTES = 6 * 2**30
# The curve is linear when the cost per event of the largest size is at most this much that of 1e7
# (sizes below 1e7 carry the fixed cost of a run, so their cost per event is higher by design).
LINEARITY_TOLERANCE = 1.2


def _seconds_per_million(build: Step | None) -> float | None:
    """A full build's median seconds per million distinct events."""
    if not build or not build.median() or not build.events:
        return None
    return build.median() / (build.events / 1e6)


def scale_curve(res: dict, steps: dict[str, Step]) -> list[str]:
    """Full build and one more day at every size: seconds, events/s, seconds per million events, floor ratio."""
    sizes = res.get("sizes", {})
    rows = []
    for label in sorted(sizes, key=lambda k: sizes[k]["target_events"]):
        build, floor = steps.get(f"{label}/full_build"), steps.get(f"{label}/floor")
        day = steps.get(f"{label}/one_day")
        b, f = (build.median() if build else None), (floor.median() if floor else None)
        events = build.events if build else None
        if not b or not events:
            continue
        d = day.median() if day else None
        rows.append(
            f"| {label} | {events:,} | {_s(b)} | {_rate(events, b)} | {_s(_seconds_per_million(build), 2)} |"
            f" {_s(f)} | {'-' if not f else f'{b / f:.2f}x'} | {_gib(build.peak())} |"
            f" {_s(d)} | {_rate(day.events if day else None, d)} | {_gib(day.peak() if day else None)} |"
        )
    if not rows:
        return []
    return [
        "## Scale curve",
        "",
        "| size | distinct events | full build s | events/s | s per million events | floor s | vs floor |"
        " peak GiB | one more day s | its events/s | its peak GiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def targets(res: dict, steps: dict[str, Step]) -> list[str]:
    sizes = res.get("sizes", {})
    rows = []
    ten = _size_near(sizes, 1e7)
    if ten:
        build, floor = steps.get(f"{ten}/full_build"), steps.get(f"{ten}/floor")
        b, f = (build.median() if build else None), (floor.median() if floor else None)
        if b and f:
            ratio = b / f
            cpu = build.median("cpu_s") / floor.median("cpu_s")
            met = ratio <= FULL_BUILD_RATIO_TARGET
            rows.append(
                f"| 1. full build at {ten} events within {FULL_BUILD_RATIO_TARGET}x the floor (wall time; aim: under"
                f" 1.0x) | {_s(b)} s / {_s(f)} s = {ratio:.2f}x (CPU time: {cpu:.2f}x) | {'met' if met else 'not met'} |"
                f" {'-' if met else f'{_s(b - FULL_BUILD_RATIO_TARGET * f)} s over'} |"
            )
        # The pipeline's steps only: the generator and the floor script are not what users run daily.
        pipeline_steps = ("full_build", "no_change", "one_day", "report")
        peaks = [steps[f"{ten}/{name}"].peak() for name in pipeline_steps if steps.get(f"{ten}/{name}")]
        peaks = [peak for peak in peaks if peak]
        if peaks:
            peak = max(peaks)
            met = peak < PEAK_TARGET_BYTES
            rows.append(
                f"| 3. peak memory at {ten} events under 6 GiB (largest step, process tree) | {_gib(peak)} GiB |"
                f" {'met' if met else 'not met'} | {'-' if met else f'{_gib(peak - PEAK_TARGET_BYTES)} GiB over'} |"
            )
    by_size = sorted(sizes, key=lambda k: sizes[k]["target_events"])
    costs = {
        label: cost
        for label in by_size
        if (cost := _seconds_per_million(steps.get(f"{label}/full_build"))) is not None
    }
    largest = by_size[-1] if by_size else None
    if ten and largest and largest != ten and ten in costs and largest in costs:
        growth = costs[largest] / costs[ten]
        met = growth <= LINEARITY_TOLERANCE
        rows.append(
            f"| 4. full build grows linearly ({largest} costs at most {LINEARITY_TOLERANCE}x per event what {ten} does)"
            f" | {_s(costs[largest], 2)} s vs {_s(costs[ten], 2)} s per million events = {growth:.2f}x |"
            f" {'met' if met else 'not met'} | {'-' if met else f'{growth:.2f}x'} |"
        )
    hist = res.get("history", {})
    keys = sorted(int(k) for k in hist if k.isdigit())
    if len(keys) >= 2:
        a, b = steps.get(f"history/{keys[0]}/one_day"), steps.get(f"history/{keys[-1]}/one_day")
        ma, mb = (a.median() if a else None), (b.median() if b else None)
        if ma and mb:
            ratio = mb / ma
            cpu_ratio = b.median("cpu_s") / a.median("cpu_s")
            rows.append(
                f"| 3. one day onto {keys[-1]} days within {HISTORY_RATIO_TARGET}x of onto {keys[0]} days |"
                f" {_s(mb)} s / {_s(ma)} s = {ratio:.2f}x (CPU time: {cpu_ratio:.2f}x) |"
                f" {'met' if ratio <= HISTORY_RATIO_TARGET else 'not met'} |"
                f" {'-' if ratio <= HISTORY_RATIO_TARGET else f'{_s(mb - HISTORY_RATIO_TARGET * ma)} s over'} |"
            )
    reruns = [(label, steps.get(f"{label}/no_change")) for label in sizes]
    reruns = [(label, st) for label, st in reruns if st and st.median() is not None]
    if reruns:
        worst = max(st.median() for _, st in reruns)
        values = ", ".join(f"{label}: {_s(st.median())} s" for label, st in reruns)
        rows.append(
            f"| 3. no-change run of one partition under {NO_CHANGE_TARGET_S:.0f} s (every size) | {values} |"
            f" {'met' if worst < NO_CHANGE_TARGET_S else 'not met'} |"
            f" {'-' if worst < NO_CHANGE_TARGET_S else f'{_s(worst - NO_CHANGE_TARGET_S)} s over'} |"
        )
    # No-change runs do not start dbt (decision O11): the parse is judged on the runs that did, the
    # one-day incremental runs onto each history (same warehouse as the history's build).
    dbt_runs = [
        r
        for key, st in steps.items()
        if key.endswith("/one_day") or key.endswith("/no_change")
        for r in st.ok_runs()
        if r.info.get("dbt_parse_s")
    ]
    if dbt_runs:
        parses = [r.info["dbt_parse_s"] for r in dbt_runs]
        full = any(r.info.get("dbt_full_parse") for r in dbt_runs)
        if parses:
            rows.append(
                "| dbt parsed once, not per partition | one dbt invocation per run whatever the number of"
                f" partitions; inside it dbt {'re-parses the whole project' if full else 'parses partially'}"
                f" ({_s(statistics.median(parses))} s per run) | {'not met' if full else 'met'} |"
                f" {'-' if not full else f'{_s(statistics.median(parses))} s per run'} |"
            )
    if not rows:
        return []
    return [
        "## Targets",
        "",
        "| target | measured | status | gap |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def profile(res: dict, steps: dict[str, Step]) -> list[str]:
    """Where the time of one full build (the largest size's last run) goes, in parts that add up."""
    sizes = res.get("sizes", {})
    builds = [(label, steps.get(f"{label}/full_build")) for label in sizes]
    builds = [(label, st) for label, st in builds if st and st.ok_runs()]
    if not builds:
        return []
    label, build = builds[-1]
    run = build.ok_runs()[-1]
    nodes = run.info.get("dbt_nodes") or []
    dagster_steps = run.info.get("steps", {})
    dbt_step = next((v for k, v in dagster_steps.items() if "dbt" in k), None)
    parse, elapsed = run.info.get("dbt_parse_s"), run.info.get("dbt_elapsed_s")
    thread_time: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for n in nodes:
        kind = n["id"].split(".")[0]
        thread_time[kind] += n["s"]
        counts[kind] += 1
    total_thread = sum(thread_time.values())
    startup = run.wall_s - sum(v or 0 for v in dagster_steps.values())

    parts: list[tuple[str, float]] = [
        ("process start, imports, Definitions, Dagster run bookkeeping", startup)
    ]
    for name, secs in dagster_steps.items():
        if "dbt" in name and dbt_step is not None and parse is not None and elapsed is not None:
            prep, launch, post = (run.info.get(k) for k in ("dbt_prep_s", "dbt_launch_s", "dbt_post_s"))
            if prep is not None:
                parts.append(("dbt step: Dagster prepares the dbt invocation (before dbt is launched)", prep))
            if launch is not None:
                parts.append(("dbt step: dbt process start (imports, before its first log line)", launch))
            parts.append(
                (
                    "dbt step: dbt parses the whole project (no partial parse)"
                    if run.info.get("dbt_full_parse")
                    else "dbt step: dbt parses (partial parse)",
                    parse,
                )
            )
            scale = elapsed / total_thread if total_thread else 0.0
            for kind in sorted(thread_time, key=lambda k: -thread_time[k]):
                rest, n_rest = thread_time[kind], counts[kind]
                if kind == "model":  # the big models one by one
                    for n in sorted(nodes, key=lambda n: -n["s"]):
                        if n["id"].startswith("model.") and n["s"] * scale >= 0.02 * run.wall_s:
                            name = n["id"].split(".")[-1]
                            parts.append((f"dbt step: model `{name}` ({_s(n['s'])} s)", n["s"] * scale))
                            rest, n_rest = rest - n["s"], n_rest - 1
                if n_rest:
                    nodes_label = f"{n_rest} {'other ' if n_rest < counts[kind] else ''}{kind} nodes"
                    parts.append((f"dbt step: {nodes_label} ({_s(rest)} s of node time)", rest * scale))
            known = parse + elapsed + sum(v or 0 for v in (prep, launch, post))
            if post is not None:
                parts.append(("dbt step: after dbt exits (row counts, Dagster handling of dbt events)", post))
            parts.append(
                ("dbt step: unaccounted (timestamps of Dagster's log have 1 s precision)", secs - known)
            )
        else:
            parts.append((f"Dagster step `{name}`", secs or 0.0))
    out = [
        f"## Profile: one full build at {label} events",
        "",
        f"Run `{run.info.get('run_id', '?')}`: {_s(run.wall_s)} s wall; log `{run.log}`;"
        f" dbt artifacts `{run.info.get('dbt_target', '?')}` (per-node times in `run_results.json`)."
        " dbt runs 2 threads: node times (in brackets) are turned into wall seconds by their share of dbt's"
        " elapsed time, so that the parts add up to the run's wall time.",
        "",
        "| part | wall seconds | share |",
        "|---|---|---|",
        *[f"| {name} | {_s(secs)} | {100 * secs / run.wall_s:.0f}% |" for name, secs in parts],
        "",
        "Slowest dbt nodes (node time):",
        "",
        "| node | seconds |",
        "|---|---|",
        *[f"| `{n['id']}` | {_s(n['s'], 2)} |" for n in sorted(nodes, key=lambda n: -n["s"])[:10]],
        "",
    ]
    top = sorted(parts, key=lambda p: -p[1])[:3]
    out += [
        "Three most expensive steps of this build: "
        + "; ".join(
            f"{i + 1}. {name} ({_s(secs)} s, {100 * secs / run.wall_s:.0f}%)"
            for i, (name, secs) in enumerate(top)
        )
        + ".",
        "",
    ]
    return out


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sizes", type=_floats, help="events per dataset, comma-separated (default 1e6,1e7)")
    p.add_argument(
        "--days", type=int, help="days per dataset (default 30); conversations/day follow from the size"
    )
    p.add_argument("--repeats", type=int, help="runs per step, median reported (default 3)")
    p.add_argument(
        "--history-days",
        type=_ints,
        help="histories for the one-more-day measure (default 7,30,90; '' skips)",
    )
    p.add_argument(
        "--daily-conversations",
        type=int,
        help=f"conversations/day of the histories (default 8000, about {8000 * EVENTS_PER_CONVERSATION:,.0f} events/day)",
    )
    p.add_argument(
        "--max-repeat-seconds",
        type=float,
        default=300.0,
        help="a step whose first run takes longer is not repeated (default %(default)s)",
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes, one repeat: a smoke run of a few minutes"
    )
    p.add_argument(
        "--output", type=Path, help="markdown results (default benchmarks/RESULTS.md; --quick: work dir)"
    )
    p.add_argument(
        "--work-dir", type=Path, default=ROOT / "benchmarks" / "work", help="data (default %(default)s)"
    )
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default=ENGINES[0],
        help="the pipeline's engine (CHAT_ANALYTICS_ENGINE; the floor script is DuckDB either way)",
    )
    p.add_argument(
        "--spark-master",
        default="local[2]",
        help="CHAT_ANALYTICS_SPARK_MASTER with --engine spark (default %(default)s)",
    )
    p.add_argument("--keep", action="store_true", help="keep the saved history warehouses")
    p.add_argument(
        "--no-snapshot",
        dest="snapshot",
        action="store_false",
        help="run the working tree itself instead of a copy taken at the start (edits during the run then mix in)",
    )
    p.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite --output from <work dir>/results.json, run nothing",
    )
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {
        "sizes": [2e4] if quick else [1e6, 1e7],
        "days": 5 if quick else 30,
        "repeats": 1 if quick else 3,
        "history_days": [2, 4] if quick else [7, 30, 90],
        "daily_conversations": 300 if quick else 8000,
        "output": (args.work_dir / "RESULTS.quick.md") if quick else ROOT / "benchmarks" / "RESULTS.md",
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.repeats < 1 or args.days < 1 or any(s < 1 for s in args.sizes):
        p.error("--repeats, --days and --sizes must be positive")
    if args.history_days and (
        min(args.history_days) < 1
        or START + timedelta(days=max(args.history_days) + 6) > datetime.now(UTC).date()
    ):
        p.error("--history-days must be positive and end before today")
    if START + timedelta(days=args.days + 6) > datetime.now(UTC).date():
        p.error(f"--days {args.days}: the data would reach today; use fewer days")
    args.output = args.output.resolve()
    return args


def render_only(args: argparse.Namespace) -> None:
    """Rewrite --output from the work directory's results.json (after a change of this file's tables).

    The facts read from materialize logs and dbt artifacts are read again where those files still exist.
    """
    res = json.loads((args.work_dir / "results.json").read_text())
    steps = {}
    for key, value in res.get("steps", {}).items():
        runs = [Run(**r) for r in value.pop("runs")]
        for run in runs:
            if run.info.get("run_id") and (ROOT / run.log).exists():
                fresh = parse_materialize(ROOT / run.log)
                fresh.pop("arrivals", None)
                run.info.update(fresh)
        steps[key] = Step(**value, runs=runs)
    args.output.write_text(render(res, steps))
    print(f"wrote {args.output}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        render_only(args)
    else:
        Benchmark(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
