"""Faults: each is injected, then a plain rerun recovers with nothing lost and nothing doubled.

"Recovered" means: the marts (and the raw layer) equal those of one clean run of the same landing
zone on a fresh warehouse (`shared_build`, row counts and EXCEPT ALL both ways), and the published
snapshot equals the marts. The runs that are killed or started twice deliver the last arrival folders
into a copy of a warehouse that is a day behind (`partial_build`), like a daily run.
A dbt test failing during a run is tested in tests/test_serving.py (`daily_runs`), with a reader. Process kills use SIGKILL on the whole process group of a
`chat-analytics materialize` subprocess (the Dagster process and its dbt child), as when a container
or a machine dies.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_raw_load import event
from test_serving import (
    DELIVERY,
    RAW_LINEAGE,
    REPO_ROOT,
    Build,
    cli_environment,
    copy_build,
    materialize,
    partial_build,
    query,
    raw_differences,
    shared_build,
    snapshot_version,
    table_differences,
    the_delivery,
)

from orchestration.raw_events import LoadError, load_partition
from orchestration.serving import PublishError, publish_snapshot
from orchestration.warehouse import connect

CLI = str(Path(sys.executable).parent / "chat-analytics")
DAY = date(2026, 3, 8)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The reference: one clean run of the shared landing zone on a fresh warehouse."""
    return shared_build(tmp_path_factory)


@pytest.fixture(scope="module")
def behind(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The same landing zone without its last arrival folders, built and published: a day behind."""
    return partial_build(tmp_path_factory)


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def assert_recovered(work: Build, clean: Build) -> None:
    assert table_differences(clean.settings.warehouse, work.settings.warehouse) == {}, "marts differ"
    assert raw_differences(clean.settings.warehouse, work.settings.warehouse) == {}, "raw differs"
    assert table_differences(work.settings.warehouse, work.serving.serving_file) == {}, "snapshot differs"
    leftovers = query(
        work.settings.warehouse,
        "select schema_name || '.' || table_name from duckdb_tables() where table_name like '%\\_\\_dbt\\_%' escape '\\'",
    )
    assert leftovers == [], "dbt left temporary relations behind"


def start_cli(build: Build, log: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [CLI, "materialize", "--start", build.first.isoformat(), "--end", build.last.isoformat()],
        cwd=REPO_ROOT,
        env=cli_environment(build.settings, **env),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the kill takes its dbt child too
    )


def lock_holders(path: Path) -> dict[int, str]:
    """Processes holding a POSIX lock on `path` (DuckDB's file lock), from /proc/locks: pid -> mode."""
    if not path.exists():
        return {}
    inode = os.stat(path).st_ino
    holders = {}
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->":  # "->" marks a waiter, not a holder
            continue
        if int(fields[5].split(":")[-1]) == inode:
            holders[int(fields[4])] = fields[3]
    return holders


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def dbt_child(pid: int) -> tuple[int, Path] | None:
    """The `dbt build` subprocess of the run and its target directory, once it has started."""
    for child in children(pid):
        try:
            cmdline = (Path("/proc") / str(child) / "cmdline").read_bytes().split(b"\x00")
            environ = (Path("/proc") / str(child) / "environ").read_bytes().split(b"\x00")
        except OSError:
            continue
        if any(part.endswith(b"/dbt") for part in cmdline[:2]) and b"build" in cmdline:
            env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
            cwd = Path(os.readlink(Path("/proc") / str(child) / "cwd"))
            return child, cwd / env.get("DBT_TARGET_PATH", "target")  # relative to dbt's project dir
    return None


def kill_when(proc: subprocess.Popen, condition, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (code {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(Path("/proc", str(p)).exists() for p in children(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)


def assert_no_stale_lock(warehouse: Path) -> None:
    """DuckDB's lock belongs to a process: after a kill, the file opens at once for writing."""
    con = connect(warehouse, lock_timeout_seconds=0)
    con.close()


# ---------------------------------------------------------------------------------------------------
# SIGKILL during the raw load and during the dbt build
# ---------------------------------------------------------------------------------------------------


def assert_untouched(work: Build, behind: Build) -> None:
    """After a kill: the lock is gone, and readers still have the last good snapshot, whole."""
    assert_no_stale_lock(work.settings.warehouse)
    assert snapshot_version(work.serving.serving_file) == snapshot_version(behind.serving.serving_file)
    assert table_differences(behind.serving.serving_file, work.serving.serving_file) == {}


@pytest.mark.slow
def test_sigkill_during_the_raw_load_then_a_rerun_recovers(
    clean: Build, behind: Build, tmp_path: Path
) -> None:
    work = the_delivery(behind, clean, tmp_path / "killed in raw")
    log = tmp_path / "killed.log"
    proc = start_cli(work, log)

    def loading() -> bool:
        # The Dagster process itself writes the warehouse (dbt has not started): the raw step is running.
        return lock_holders(work.settings.warehouse).get(proc.pid) == "WRITE" and dbt_child(proc.pid) is None

    kill_when(proc, loading, "the raw load")
    assert proc.returncode == -signal.SIGKILL
    assert_untouched(work, behind)
    delivered = len([p for p in work.settings.landing_dir.iterdir() if p.name >= DELIVERY.isoformat()])
    (loaded,) = query(
        work.settings.warehouse, "select count(*) from raw.load_log where arrival_date >= ?", [DELIVERY]
    )[0]
    assert loaded < delivered, "the kill came after the raw load"
    assert table_differences(behind.settings.warehouse, work.settings.warehouse) == {}, "marts changed"

    assert materialize(work), log.read_text()[-3000:]
    assert_recovered(work, clean)


@pytest.mark.slow
def test_sigkill_during_the_dbt_build_then_a_rerun_recovers(
    clean: Build, behind: Build, tmp_path: Path
) -> None:
    """dbt is killed while it writes the marts; the rerun finds the delivery already loaded (a
    rerun of unchanged files may skip the load) and must still build what the killed run did not."""
    work = the_delivery(behind, clean, tmp_path / "killed in dbt")
    log = tmp_path / "killed.log"
    proc = start_cli(work, log)

    def building_marts() -> bool:
        found = dbt_child(proc.pid)
        return found is not None and any((found[1] / "run" / "models" / "marts").glob("*.sql"))

    kill_when(proc, building_marts, "dbt building the marts")
    assert proc.returncode == -signal.SIGKILL
    assert_untouched(work, behind)
    (loaded,) = query(
        work.settings.warehouse, "select count(*) from raw.load_log where arrival_date >= ?", [DELIVERY]
    )[0]
    assert loaded > 0, "the raw load of the delivery was committed before dbt started"

    assert materialize(work), log.read_text()[-3000:]
    assert snapshot_version(work.serving.serving_file) != snapshot_version(behind.serving.serving_file)
    assert_recovered(work, clean)


# ---------------------------------------------------------------------------------------------------
# Two materializations at once
# ---------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_materializations_at_once(clean: Build, behind: Build, tmp_path: Path) -> None:
    """Both deliver the same folders at once. A run either succeeds (it waited for the other's lock)
    or fails cleanly, saying the warehouse is locked; the state afterwards (after a plain rerun if
    both failed) is the clean run's, raw and marts, and the snapshot matches it.
    """
    work = the_delivery(behind, clean, tmp_path / "twice")
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    procs = [start_cli(work, log) for log in logs]
    codes = [proc.wait(timeout=600) for proc in procs]
    outputs = [log.read_text(errors="replace") for log in logs]
    for code, output in zip(codes, outputs, strict=True):
        assert code in (0, 1, 2), output[-3000:]
        if code != 0:
            assert "lock" in output.lower(), output[-3000:]
            # the CLI's failure line: a refused start, or the failed step's cause (orchestration/console.py)
            assert "chat-analytics: error:" in output or "FAILED:" in output, output[-3000:]
    if 0 not in codes:
        assert materialize(work)  # the plain rerun; when one of them succeeded, no rerun is needed
    assert_recovered(work, clean)


# ---------------------------------------------------------------------------------------------------
# An unreadable file in a run: nothing is published
# ---------------------------------------------------------------------------------------------------


def test_an_unreadable_landing_file_fails_the_run_and_publishes_nothing(clean: Build, tmp_path: Path) -> None:
    work = copy_build(clean, tmp_path / "corrupt", with_landing=True)
    last_good = snapshot_version(work.serving.serving_file)
    raw_before = query(work.settings.warehouse, RAW_LINEAGE)
    bad = work.settings.landing_dir / clean.first.isoformat() / "zz-broken.ndjson.gz"
    bad.write_bytes(gzip.compress(b'{"event_id": "x"}\n' * 100)[:-30])
    assert not materialize(replace(work, last=clean.first))
    assert snapshot_version(work.serving.serving_file) == last_good
    assert sorted(query(work.settings.warehouse, RAW_LINEAGE), key=repr) == sorted(raw_before, key=repr)


# ---------------------------------------------------------------------------------------------------
# Landing files: re-delivery, corrupt, truncated, invalid UTF-8, empty, 200 MB (loader level)
# ---------------------------------------------------------------------------------------------------


def ndjson(events: list[dict | str]) -> bytes:
    return "".join((json.dumps(e) if isinstance(e, dict) else e) + "\n" for e in events).encode()


def fresh_load(landing: Path, tmp: Path, name: str) -> Path:
    """The reference: the final landing zone loaded once into an empty warehouse."""
    warehouse = tmp / f"{name}.duckdb"
    load_partition(warehouse, landing, DAY)
    return warehouse


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "a.ndjson").write_bytes(ndjson([event(f"a{i}") for i in range(50)]))
    return tmp_path / "landing"


def test_a_growing_or_replaced_file_is_reloaded_without_doubles(landing: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "wh.duckdb"
    path = landing / DAY.isoformat() / "b.ndjson"
    path.write_bytes(ndjson([event(f"b{i}") for i in range(10)]))
    first = load_partition(warehouse, landing, DAY)
    # The platform appends to the file, then re-delivers (replaces) it with other content.
    with path.open("ab") as grown:
        grown.write(ndjson([event(f"b{i}") for i in range(10, 20)] + ["not json"]))
    grown_load = load_partition(warehouse, landing, DAY)
    assert grown_load.lines_read == first.lines_read + 11
    assert raw_differences(fresh_load(landing, tmp_path, "grown"), warehouse) == {}
    path.write_bytes(ndjson([event("b0", customer_id="c2"), event("b0"), event("c9")]))
    replaced = load_partition(warehouse, landing, DAY)
    assert (replaced.lines_read, replaced.valid_rows, replaced.duplicate_rows) == (53, 53, 1)
    assert raw_differences(fresh_load(landing, tmp_path, "replaced"), warehouse) == {}
    assert query(warehouse, "select count(*) from raw.chat_events where _source_file like '%b.ndjson'") == [
        (3,)
    ]


def _truncated_parquet(path: Path) -> None:
    table = pa.table({k: [event(f"p{i}")[k] for i in range(200)] for k in event("x")})
    pq.write_table(table, path)
    path.write_bytes(path.read_bytes()[:-100])


@pytest.mark.parametrize(
    ("name", "write"),
    [
        (
            "b.ndjson.gz",
            lambda p: p.write_bytes(gzip.compress(ndjson([event(f"g{i}") for i in range(500)]))[:-50]),
        ),
        ("b.ndjson.gz", lambda p: p.write_bytes(b"\x1f\x8b\x08\x00garbage, not deflate")),
        ("b.parquet", _truncated_parquet),
    ],
    ids=["truncated-gzip", "corrupt-gzip", "truncated-parquet"],
)
def test_an_unreadable_file_fails_its_partition_and_a_rerun_recovers(
    landing: Path, tmp_path: Path, name: str, write
) -> None:
    warehouse = tmp_path / "wh.duckdb"
    other_day = date(2026, 3, 9)
    other = landing / other_day.isoformat()
    other.mkdir()
    (other / "a.ndjson").write_bytes(ndjson([event("other", occurred_at="2026-03-09T08:00:00Z")]))
    load_partition(warehouse, landing, other_day)
    load_partition(warehouse, landing, DAY)
    before = query(warehouse, RAW_LINEAGE)
    bad = landing / DAY.isoformat() / name
    write(bad)
    with pytest.raises(LoadError, match=name.replace(".", r"\.")):
        load_partition(warehouse, landing, DAY)
    assert sorted(query(warehouse, RAW_LINEAGE), key=repr) == sorted(before, key=repr), "nothing was written"
    # The platform re-delivers the file whole; a plain rerun loads it.
    bad.unlink()
    (bad.parent / "b.ndjson").write_bytes(ndjson([event(f"g{i}") for i in range(500)]))
    load_partition(warehouse, landing, DAY)
    reference = fresh_load(landing, tmp_path, "reference")
    load_partition(reference, landing, other_day)
    assert raw_differences(reference, warehouse) == {}


def test_invalid_utf8_and_empty_files_are_accounted_for(landing: Path, tmp_path: Path) -> None:
    warehouse = tmp_path / "wh.duckdb"
    folder = landing / DAY.isoformat()
    (folder / "b-empty.ndjson").write_bytes(b"")
    (folder / "c-empty.ndjson.gz").write_bytes(gzip.compress(b""))
    (folder / "d-latin1.ndjson").write_bytes(
        ndjson([event("u1")])
        + '{"event_id": "u2", "text": "d\xe9j\xe0 vu"}\n'.encode("latin-1")
        + b"\xff\xfe\xfd\n"
        + ndjson([event("u3", text="déjà vu ✓")])
    )
    for _ in range(2):  # the rerun changes nothing
        result = load_partition(warehouse, landing, DAY)
        assert (result.lines_read, result.valid_rows, result.quarantined_rows) == (54, 52, 2)
        assert result.quarantine_reasons == {"invalid_utf8": 2}
        assert query(warehouse, "select count(*) from raw.chat_events") == [(52,)]
    assert query(warehouse, "select _source_file, _line_number from raw.quarantined_events order by 2") == [
        ("2026-03-08/d-latin1.ndjson", 2),
        ("2026-03-08/d-latin1.ndjson", 3),
    ]
    assert query(warehouse, "select text from raw.chat_events where event_id = 'u3'") == [("déjà vu ✓",)]


@pytest.mark.slow
def test_a_200_mb_file_loads_completely(tmp_path: Path) -> None:
    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    prefix, suffix = (json.dumps(event("EVENT-ID", text="x" * 1900)) + "\n").split("EVENT-ID")
    target, size, lines = 200 * 1024 * 1024, 0, 0
    with (folder / "big.ndjson").open("w") as out:
        while size < target:
            chunk = "".join(f"{prefix}big-{lines + j}{suffix}" for j in range(1000))
            out.write(chunk)
            size += len(chunk)
            lines += 1000
    assert (folder / "big.ndjson").stat().st_size >= target
    result = load_partition(tmp_path / "wh.duckdb", tmp_path / "landing", DAY)
    assert (result.lines_read, result.valid_rows, result.quarantined_rows, result.duplicate_rows) == (
        lines,
        lines,
        0,
        0,
    )
    assert query(
        tmp_path / "wh.duckdb", "select count(*), count(distinct event_id) from raw.chat_events"
    ) == [(lines, lines)]


HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.read()
    """
)


def test_publishing_waits_for_a_writer_and_never_reads_a_half_written_warehouse(
    clean: Build, tmp_path: Path
) -> None:
    """While another process writes the warehouse, publishing waits (bounded), then copies a whole state."""
    work = copy_build(clean, tmp_path / "wait")
    before = snapshot_version(work.serving.serving_file)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(work.settings.warehouse)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(PublishError, match="stayed locked"):
            publish_snapshot(work.settings.warehouse, work.serving, lock_timeout_seconds=0.5)
        assert snapshot_version(work.serving.serving_file) == before
    finally:
        holder.communicate("")
    assert publish_snapshot(work.settings.warehouse, work.serving).version != before
