"""Serving the marts to readers: the published snapshot, its atomic switch, documented queries, and a
reader that queries in a loop while daily runs write (one fails a dbt test, its rerun succeeds).

The helpers at the top are shared with tests/test_faults.py and tests/test_personal_data.py. Two real
builds through Dagster are made once per pytest session and copied where a test needs to change
them: `shared_build` (the whole landing zone on a fresh warehouse: the reference every recovery is
compared with) and `partial_build` (the same landing zone without its last arrival folders, which a
test then delivers as "the daily run").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration import serving
from orchestration.cli import main as cli_main
from orchestration.config import (
    ENV_LANDING_DIR,
    ENV_PSEUDONYMIZATION_KEY,
    ENV_PSEUDONYMIZE,
    ENV_SERVING_DIR,
    ENV_WAREHOUSE,
    ConfigError,
    Settings,
)
from orchestration.definitions import build_definitions
from orchestration.generator import GeneratorConfig, generate
from orchestration.runner import materialize_range
from orchestration.serving import PublishError, ServingConfig, publish_snapshot

REPO_ROOT = Path(__file__).resolve().parents[1]
START = date(2026, 3, 2)
TIMEZONE = "Europe/Paris"
MARTS = (
    "activity_by_weekday_hour",
    "closed_by_department",
    "conversations_by_channel",
    "display_labels",
    "fct_agent_replies",
    "fct_conversations",
    "fct_handover_requests",
    "kpi_daily",
    "transfers_by_outcome",
)
# Message texts of the handcrafted events: if one of them shows up outside raw, personal data leaked.
SENTINEL_TEXTS = (
    "Bonjour, je suis Camille Durand, mon numéro est le 06 12 34 56 78",
    "my card 4970 1012 3456 7890 was charged twice",
)
SENTINEL_CUSTOMER = "customer-sentinel-7f3a"
BULK_COPIES = 30_000  # redelivered copies of one event in the delivery: a raw load that takes a moment
# The daily delivery: the arrival folders from this date on are missing from `partial_build`.
DELIVERY = START + timedelta(days=2)
LATE_FILE = "late-handover.ndjson"  # in the delivery: a handover whose request comes with its reception


# ---------------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    """A landing zone, a warehouse built from it through Dagster, and its published snapshot."""

    settings: Settings
    first: date  # first arrival folder
    last: date  # last arrival folder

    @property
    def serving(self) -> ServingConfig:
        return ServingConfig(serving_dir=self.settings.warehouse.parent / "serving")


def _event(event_id: str, at: str, **fields: str) -> str:
    base = {"event_id": event_id, "occurred_at": at, "customer_id": SENTINEL_CUSTOMER, "channel": "web"}
    return json.dumps({**base, **fields}, ensure_ascii=False)


def write_landing(landing: Path) -> tuple[date, date]:
    """Generated events, a handcrafted conversation carrying sentinel texts, and a bulk re-delivery."""
    generate(
        GeneratorConfig(
            landing_dir=landing,
            start=START,
            days=3,
            seed=11,
            conversations_per_day=40,
            timezone=TIMEZONE,
            max_late_days=2,
        )
    )
    folder = landing / (START + timedelta(days=1)).isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        _event(
            "hc-1",
            "2026-03-03T09:00:00Z",
            event_type="message",
            sender="bot",
            message_type="welcome",
            text="Bienvenue !",
            flow_type="support",
        ),
        _event(
            "hc-2", "2026-03-03T09:00:05Z", event_type="message", sender="customer", text=SENTINEL_TEXTS[0]
        ),
        _event(
            "hc-3",
            "2026-03-03T09:00:09Z",
            event_type="handover_requested",
            handover_id="hc-h1",
            department="billing",
        ),
        _event("hc-4", "2026-03-03T09:01:00Z", event_type="handover_received", handover_id="hc-h1"),
        _event(
            "hc-5",
            "2026-03-03T09:02:00Z",
            event_type="message",
            sender="agent",
            handover_id="hc-h1",
            agent_id="a-1",
            text="Bonjour Camille, je regarde.",
        ),
        _event(
            "hc-6", "2026-03-03T09:03:00Z", event_type="message", sender="customer", text=SENTINEL_TEXTS[1]
        ),
        _event(
            "hc-7",
            "2026-03-03T09:10:00Z",
            event_type="conversation_closed",
            handover_id="hc-h1",
            agent_id="a-1",
            department="billing",
        ),
    ]
    (folder / "handcrafted.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    delivery = landing / DELIVERY.isoformat()
    bulk = _event(
        "bulk-1",
        f"{DELIVERY.isoformat()}T12:00:00Z",
        customer_id="customer-bulk",
        event_type="message",
        sender="customer",
        text="the same message, delivered many times",
    )
    (delivery / "a-bulk-redelivery.ndjson").write_text((bulk + "\n") * BULK_COPIES)
    (delivery / LATE_FILE).write_text("\n".join(late_handover(with_request=True)) + "\n")
    folders = sorted(date.fromisoformat(p.name) for p in landing.iterdir())
    return folders[0], folders[-1]


def late_handover(*, with_request: bool) -> list[str]:
    """A handover on a channel seen nowhere else; without its request, its reception is an orphan."""
    at = DELIVERY.isoformat()
    fields = {"customer_id": "customer-orphan", "channel": "telegram", "handover_id": "h-orphan"}
    request = _event("orphan-request", f"{at}T09:59:00Z", event_type="handover_requested", **fields)
    reception = _event("orphan-reception", f"{at}T10:00:00Z", event_type="handover_received", **fields)
    return [request, reception] if with_request else [reception]


def settings_for(root: Path, landing: Path | None = None) -> Settings:
    return Settings(
        landing_dir=landing or root / "landing",
        warehouse=root / "warehouse.duckdb",
        timezone=TIMEZONE,
        inactivity_minutes=10,
        start_date=date(2026, 2, 20),
    )


@contextmanager
def run_environment(**extra: str) -> Iterator[None]:
    """Extra environment of an in-process run, for dbt's own variables (e.g. DBT_WARN_ERROR): the
    pipeline's settings never come from the environment once read."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in extra.items():
            patch.setenv(key, value)
        yield


def cli_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment of a `chat-analytics` subprocess working on `settings`' paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAT_ANALYTICS_", "DAGSTER_", "DBT_"))}
    env.update(
        {
            "CHAT_ANALYTICS_LANDING_DIR": str(settings.landing_dir),
            "CHAT_ANALYTICS_WAREHOUSE": str(settings.warehouse),
            "CHAT_ANALYTICS_TIMEZONE": settings.timezone,
            "CHAT_ANALYTICS_INACTIVITY_MINUTES": str(settings.inactivity_minutes),
            "CHAT_ANALYTICS_START_DATE": settings.start_date.isoformat(),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def materialize(build: Build, defs: dg.Definitions | None = None, **env: str) -> bool:
    with run_environment(**env):
        return materialize_range(
            build.settings,
            build.first,
            build.last,
            definitions=defs or build_definitions(build.settings, lock_timeout_seconds=60),
        )


def _session_build(tmp_path_factory: pytest.TempPathFactory, name: str, before: date | None) -> Build:
    """A build made once per pytest session under `name` (kept on disk, marked DONE when complete).

    `before`: leave out the arrival folders from that date on (a landing zone a day behind).
    """
    root = tmp_path_factory.getbasetemp() / name
    done = root / "DONE"
    landing = root / "landing"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        first, last = write_landing(landing)
        if before is not None:
            for folder in landing.iterdir():
                if date.fromisoformat(folder.name) >= before:
                    shutil.rmtree(folder)
            last = max(date.fromisoformat(p.name) for p in landing.iterdir())
        build = Build(settings_for(root), first, last)
        assert materialize(build), f"the session build {name!r} failed"
        done.write_text(json.dumps([first.isoformat(), last.isoformat()]))
    first, last = (date.fromisoformat(d) for d in json.loads(done.read_text()))
    return Build(settings_for(root), first, last)


def shared_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The reference: the whole landing zone built on a fresh warehouse (spaces and quotes in paths)."""
    return _session_build(tmp_path_factory, 'shared build, it\'s "quoted"', None)


def partial_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    """The same landing zone without the delivery (arrival folders from DELIVERY on), built and published."""
    return _session_build(tmp_path_factory, "partial build (a day behind)", DELIVERY)


def the_delivery(partial: Build, full: Build, dest: Path) -> Build:
    """A copy of `partial` whose run delivers what it lacks: the folders of `full` from DELIVERY on."""
    work = copy_build(partial, dest, with_landing=True)
    for folder in full.settings.landing_dir.iterdir():
        if date.fromisoformat(folder.name) >= DELIVERY:
            shutil.copytree(folder, work.settings.landing_dir / folder.name)
    return replace(work, first=DELIVERY, last=full.last)


def copy_build(build: Build, dest: Path, *, with_landing: bool = False) -> Build:
    """A private copy of a build's warehouse and snapshot (and landing zone, to change it)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(build.settings.warehouse, dest / "warehouse.duckdb")
    if build.serving.serving_dir.exists():
        shutil.copytree(build.serving.serving_dir, dest / "serving", symlinks=True)
    landing = None
    if with_landing:
        shutil.copytree(build.settings.landing_dir, dest / "landing")
    else:
        landing = build.settings.landing_dir
    return Build(settings_for(dest, landing), build.first, build.last)


def query(path: Path, sql: str, params: list | dict | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def table_differences(
    left: Path, right: Path, schema: str = "marts", right_schema: str | None = None
) -> dict:
    """Tables of `schema` that differ between two DuckDB files: row counts and EXCEPT ALL both ways.

    Doubles are rounded to 6 decimals: sums may differ in the last bits with the aggregation order.
    Bookkeeping relations (names with `__`, e.g. dbt's `__dbt_tmp` or `<model>__removed`) are ignored.
    """
    right_schema = right_schema or schema
    con = duckdb.connect()
    try:
        con.execute(f"attach {serving._literal(str(left))} as l (read_only)")
        con.execute(f"attach {serving._literal(str(right))} as r (read_only)")

        def tables(db: str, sch: str) -> set[str]:
            return {
                name
                for (name,) in con.execute(
                    "select table_name from information_schema.tables where table_catalog = ? and table_schema = ?",
                    [db, sch],
                ).fetchall()
                if "__" not in name
            }

        problems: dict[str, object] = {}
        left_tables, right_tables = tables("l", schema), tables("r", right_schema)
        if left_tables != right_tables:
            problems["tables"] = sorted(left_tables ^ right_tables)
        for table in sorted(left_tables & right_tables):
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_catalog = 'l' and table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            select = ", ".join(
                f"round({serving._ident(c)}, 6)" if t in ("DOUBLE", "FLOAT") else serving._ident(c)
                for c, t in columns
            )
            lt, rt = f"l.{schema}.{serving._ident(table)}", f"r.{right_schema}.{serving._ident(table)}"
            (nl,), (nr,) = (con.execute(f"select count(*) from {t}").fetchone() for t in (lt, rt))
            (only_left,) = con.execute(
                f"select count(*) from (select {select} from {lt} except all select {select} from {rt})"
            ).fetchone()
            (only_right,) = con.execute(
                f"select count(*) from (select {select} from {rt} except all select {select} from {lt})"
            ).fetchone()
            if (nl, only_left, only_right) != (nr, 0, 0):
                problems[table] = {"rows": (nl, nr), "only_left": only_left, "only_right": only_right}
        return problems
    finally:
        con.close()


RAW_LINEAGE = (
    "select event_id, occurred_at, customer_id, channel, event_type, _arrival_date, _source_file, "
    "_line_number, _is_duplicate from raw.chat_events"
)
RAW_QUARANTINE = (
    "select _arrival_date, _source_file, _line_number, reason, raw_line from raw.quarantined_events"
)


def raw_differences(left: Path, right: Path) -> dict:
    """Raw rows (without load ids and times) that differ between two warehouses, both ways."""
    problems = {}
    for name, sql in (("chat_events", RAW_LINEAGE), ("quarantined_events", RAW_QUARANTINE)):
        a, b = sorted(map(repr, query(left, sql))), sorted(map(repr, query(right, sql)))
        if a != b:
            problems[name] = (len(a), len(b))
    return problems


def snapshot_version(serving_file: Path) -> str:
    ((version,),) = query(serving_file, "select version from meta.snapshot")
    return version


# ---------------------------------------------------------------------------------------------------
# Documented queries (README "Serving the marts"): one per mart, run against the published snapshot
# ---------------------------------------------------------------------------------------------------

DOCUMENTED_QUERIES = {
    "kpi_daily": """
select report_date,
       sum(total_conversations) as conversations,
       sum(engaged_conversations) as engaged,
       sum(successful_transfers) as transfers,
       sum(closed_conversations) as closed,
       sum(initial_wait_seconds_sum) / nullif(sum(initial_wait_count), 0) as avg_initial_wait_s
from marts.kpi_daily
group by report_date
order by report_date""",
    "transfers_by_outcome": """
select outcome, sum(handover_requests) as requests
from marts.transfers_by_outcome
group by outcome, outcome_order
order by outcome_order""",
    "activity_by_weekday_hour": """
select day_name, hour_of_day,
       sum(engaged_conversations) as engaged,
       sum(handover_requests) as requests
from marts.activity_by_weekday_hour
group by day_of_week, day_name, hour_of_day
order by day_of_week, hour_of_day""",
    "closed_by_department": """
select department, sum(closed_conversations) as closed
from marts.closed_by_department
group by department
order by closed desc, department""",
    "conversations_by_channel": """
select channel, support_type,
       sum(total_conversations) as conversations,
       sum(engaged_conversations) as engaged
from marts.conversations_by_channel
group by channel, support_type
order by conversations desc, channel, support_type""",
    "fct_conversations": """
select count(*) as conversations,
       count(distinct customer_id) filter (where is_engaged) as engaged_customers,
       avg(chatbot_duration_seconds) filter (where is_engaged) as avg_chatbot_duration_s
from marts.fct_conversations
where report_date between date '2026-03-02' and date '2026-03-08'""",
    "fct_handover_requests": """
select channel, outcome, count(*) as requests, avg(initial_wait_seconds) as avg_initial_wait_s
from marts.fct_handover_requests
group by channel, outcome
order by channel, outcome""",
    "fct_agent_replies": """
select count(distinct handover_id) as answered_conversations
from marts.fct_agent_replies
where reply_date between date '2026-03-02' and date '2026-03-08'""",
    "display_labels": """
select labels.label_fr as outcome, sum(transfers.handover_requests) as requests
from marts.transfers_by_outcome as transfers
join marts.display_labels as labels
    on labels.dimension = 'outcome' and labels.code = transfers.outcome
group by labels.label_fr, transfers.outcome_order
order by transfers.outcome_order""",
}


def as_parquet_query(sql: str, parquet_dir: Path) -> str:
    """The same query on the Parquet files: `marts.<mart>` -> read_parquet('<dir>/<mart>.parquet')."""
    return re.sub(
        r"\bmarts\.(\w+)",
        lambda m: f"read_parquet({serving._literal(str(parquet_dir / (m.group(1) + '.parquet')))})",
        sql,
    )


# ---------------------------------------------------------------------------------------------------
# Tests on the shared build
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return shared_build(tmp_path_factory)


def test_the_build_publishes_every_mart(build: Build) -> None:
    config = build.serving
    assert config.serving_file.is_file()
    tables = {name for (name,) in query(config.serving_file, "select table_name from meta.tables")}
    assert tables == set(MARTS)
    assert table_differences(build.settings.warehouse, config.serving_file) == {}
    current = config.current_parquet_dir
    assert current.is_symlink() and current.resolve().parent == config.parquet_dir
    assert {p.name for p in current.iterdir()} == {f"{m}.parquet" for m in MARTS} | {"_snapshot.json"}
    assert not list((config.serving_dir / ".tmp").iterdir()), "a published snapshot leaves no temp file"


def test_snapshot_metadata(build: Build) -> None:
    config = build.serving
    ((version, published_at, run_id, first, last, pseudonymized, checks),) = query(
        config.serving_file,
        "select version, published_at, dagster_run_id, partition_start, partition_end, "
        "pseudonymized_customers, consistency_checks from meta.snapshot",
    )
    assert re.fullmatch(r"\d{8}T\d{12}Z-[0-9a-f]{8}", version)
    assert published_at is not None and run_id
    assert (first, last) == (build.first.isoformat(), build.last.isoformat())
    assert pseudonymized is False
    assert len(checks) == len(serving.CONSISTENCY_CHECKS)
    counts = dict(query(config.serving_file, "select table_name, row_count from meta.tables"))
    for mart in MARTS:
        assert query(config.serving_file, f"select count(*) from marts.{mart}") == [(counts[mart],)]
    parquet_meta = json.loads((config.current_parquet_dir / "_snapshot.json").read_text())
    assert parquet_meta["version"] == version == serving.current_version(config)
    assert parquet_meta["row_counts"] == counts


@pytest.mark.parametrize("mart", MARTS)
def test_documented_query_runs_on_the_snapshot(build: Build, mart: str) -> None:
    """Every query of the README runs read-only on the DuckDB file and gives the same on Parquet."""
    config = build.serving
    sql = DOCUMENTED_QUERIES[mart]
    con = duckdb.connect(str(config.serving_file), read_only=True)
    try:
        from_duckdb = con.execute(sql).fetchall()
    finally:
        con.close()
    assert from_duckdb and any(v not in (None, 0) for row in from_duckdb for v in row), mart
    con = duckdb.connect()  # an analyst's in-memory session reading the Parquet files
    try:
        from_parquet = con.execute(as_parquet_query(sql, config.current_parquet_dir)).fetchall()
    finally:
        con.close()
    rounded = [
        [tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in rows]
        for rows in (from_duckdb, from_parquet)
    ]
    assert rounded[0] == rounded[1], mart


def test_readme_shows_the_tested_queries() -> None:
    """The README's section "Serving the marts" shows, for every mart, the query tested above."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Serving the marts", 1)[1].split("\n## ", 1)[0]
    squashed = " ".join(section.split())
    assert set(DOCUMENTED_QUERIES) == set(MARTS)
    for mart, sql in DOCUMENTED_QUERIES.items():
        assert " ".join(sql.split()) in squashed, f"README's query for {mart} differs from the tested one"


def test_the_snapshot_is_read_only(build: Build) -> None:
    con = duckdb.connect(str(build.serving.serving_file), read_only=True)
    try:
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("delete from marts.kpi_daily")
    finally:
        con.close()
    published = [build.serving.serving_file, *build.serving.current_parquet_dir.iterdir()]
    assert all(path.stat().st_mode & 0o777 == 0o444 for path in published)


# ---------------------------------------------------------------------------------------------------
# Publishing: atomic switch, failures, pruning, concurrent publishers, configuration
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def private(build: Build, tmp_path: Path) -> Build:
    return copy_build(build, tmp_path / "private copy")


def test_an_open_reader_keeps_its_snapshot_and_new_readers_see_the_next(private: Build) -> None:
    config = private.serving
    old = duckdb.connect(str(config.serving_file), read_only=True)
    try:
        (old_version,) = old.execute("select version from meta.snapshot").fetchone()
        old_parquet = (config.current_parquet_dir / "kpi_daily.parquet").open("rb")
        publication = publish_snapshot(private.settings.warehouse, config)
        assert publication.version != old_version
        # The old connection still reads the old file (its inode lives until the connection closes).
        assert old.execute("select version from meta.snapshot").fetchone() == (old_version,)
        assert old.execute("select count(*) from marts.kpi_daily").fetchone()[0] > 0
        assert old_parquet.read(4) == b"PAR1"
        old_parquet.close()
    finally:
        old.close()
    assert snapshot_version(config.serving_file) == publication.version
    assert serving.current_version(config) == publication.version


def test_a_failed_publication_leaves_the_last_snapshot(private: Build, monkeypatch) -> None:
    config = private.serving
    before = snapshot_version(config.serving_file)

    def broken(con, tables):
        raise PublishError("injected failure after the copy")

    monkeypatch.setattr(serving, "_check_consistency", broken)
    with pytest.raises(PublishError, match="injected"):
        publish_snapshot(private.settings.warehouse, config)
    assert snapshot_version(config.serving_file) == before == serving.current_version(config)
    assert list((config.serving_dir / ".tmp").iterdir()) == []
    assert table_differences(private.settings.warehouse, config.serving_file) == {}


def test_an_inconsistent_warehouse_is_not_published(private: Build) -> None:
    """A half-built state (a mart rebuilt, its fact not) fails the consistency gate."""
    config = private.serving
    before = snapshot_version(config.serving_file)
    con = duckdb.connect(str(private.settings.warehouse))
    try:
        con.execute(
            "delete from marts.fct_conversations where conversation_id in "
            "(select conversation_id from marts.fct_conversations limit 1)"
        )
    finally:
        con.close()
    with pytest.raises(PublishError, match="not consistent"):
        publish_snapshot(private.settings.warehouse, config)
    assert snapshot_version(config.serving_file) == before


def test_leftovers_of_a_killed_publisher_are_cleaned_and_old_versions_pruned(private: Build) -> None:
    config = private.serving
    tmp = config.serving_dir / ".tmp"
    (tmp / "20260101T000000000000Z-deadbeef.duckdb").write_bytes(b"half written")
    (tmp / "20260101T000000000000Z-deadbeef").mkdir()
    versions = [
        publish_snapshot(private.settings.warehouse, config, keep_versions=2).version for _ in range(3)
    ]
    assert list(tmp.iterdir()) == []
    kept = sorted(p.name for p in config.parquet_dir.iterdir() if re.match(r"\d{8}T", p.name))
    assert kept == sorted(versions[-2:])
    assert os.readlink(config.current_parquet_dir) == versions[-1]


def test_a_snapshot_behind_the_warehouse_is_noticed(private: Build) -> None:
    """`reason_to_publish`: none after a run's publication; a reason when the snapshot is missing, was
    published before the last complete dbt run (a run killed between dbt and publication) or under
    another pseudonymization setting."""
    config = private.serving

    def reason(cfg: ServingConfig = config) -> str | None:
        with duckdb.connect(str(private.settings.warehouse), read_only=True) as con:
            return serving.reason_to_publish(con, cfg)

    assert reason() is None
    pseudonymizing = replace(config, pseudonymize_customers=True, pseudonymization_key=b"k" * 32)
    assert "PSEUDONYMIZE_CUSTOMERS changed" in reason(pseudonymizing)
    con = duckdb.connect(str(private.settings.warehouse))
    try:  # the record a later complete dbt run leaves
        con.execute(
            "insert into intermediate._incremental_runs select * replace (load_seq + 1 as load_seq, "
            "recorded_at + interval 1 second as recorded_at) from intermediate._incremental_runs "
            "order by recorded_at desc limit 1"
        )
    finally:
        con.close()
    assert "before the last complete dbt run" in reason()
    publish_snapshot(private.settings.warehouse, config)
    assert reason() is None
    shutil.rmtree(config.serving_dir)
    assert "no snapshot published yet" in reason()


def test_a_run_with_nothing_new_publishes_a_snapshot_left_behind(private: Build) -> None:
    """Decision O11: dbt is skipped only when the snapshot is current too; a missing one is republished."""
    shutil.rmtree(private.serving.serving_dir)
    assert materialize(private)
    version = snapshot_version(private.serving.serving_file)
    assert materialize(private)  # now nothing is behind: no dbt, no publication
    assert snapshot_version(private.serving.serving_file) == version


def test_concurrent_publishers_take_turns(private: Build) -> None:
    """Two processes publishing at once: both succeed, one after the other, and the result is whole."""
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        from orchestration.config import Settings
        from orchestration.serving import ServingConfig, publish_snapshot
        settings = Settings(landing_dir=Path(sys.argv[1]), warehouse=Path(sys.argv[2]))
        print(publish_snapshot(settings.warehouse, ServingConfig(serving_dir=Path(sys.argv[3]))).version)
        """
    )
    args = [
        sys.executable,
        "-c",
        script,
        str(private.settings.landing_dir),
        str(private.settings.warehouse),
        str(private.serving.serving_dir),
    ]
    procs = [
        subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    versions = sorted(out.strip() for out, _ in outputs)
    assert (
        snapshot_version(private.serving.serving_file)
        == versions[-1]
        == serving.current_version(private.serving)
    )
    assert table_differences(private.settings.warehouse, private.serving.serving_file) == {}


def test_serving_configuration_is_validated(tmp_path: Path) -> None:
    """The serving settings are read with the others (Settings.from_env), validated at once."""
    base = {ENV_LANDING_DIR: str(tmp_path / "landing"), ENV_WAREHOUSE: str(tmp_path / "warehouse.duckdb")}

    def settings(**env: str) -> Settings:
        return Settings.from_env({**base, **env})

    default = ServingConfig.from_settings(settings())
    assert default.serving_dir == tmp_path / "serving" and not default.pseudonymize_customers
    odd = tmp_path / 'it\'s a "serving" dir'
    assert settings(**{ENV_SERVING_DIR: str(odd)}).serving_path == odd
    cases = [
        ({ENV_SERVING_DIR: "  "}, "serving directory is empty"),
        ({ENV_SERVING_DIR: "a\x00b"}, "NUL"),
        ({ENV_PSEUDONYMIZE: "maybe"}, f"{ENV_PSEUDONYMIZE} must be 1 or 0"),
        ({ENV_PSEUDONYMIZE: "1"}, f"{ENV_PSEUDONYMIZATION_KEY} is missing or shorter"),
        ({ENV_PSEUDONYMIZE: "yes", ENV_PSEUDONYMIZATION_KEY: "short"}, "shorter than 16"),
        (
            {
                ENV_WAREHOUSE: str(tmp_path / "serving" / "chat_analytics.duckdb"),
                ENV_SERVING_DIR: str(tmp_path / "serving"),
            },
            "would overwrite the warehouse",
        ),
    ]
    (tmp_path / "a file").write_text("")
    cases.append(({ENV_SERVING_DIR: str(tmp_path / "a file")}, "is a file"))
    for env, message in cases:
        with pytest.raises(ConfigError, match=re.escape(message)):
            settings(**env)
    on = settings(**{ENV_PSEUDONYMIZE: "on", ENV_PSEUDONYMIZATION_KEY: "k" * 32})
    assert on.pseudonymize_customers and "kkkk" not in repr(on), "the settings never hold the key"
    secret = ServingConfig.from_settings(on, b"k" * 32)
    assert secret.pseudonymize_customers and "kkkk" not in repr(secret)


def test_a_bad_serving_setting_stops_the_cli_before_any_work(tmp_path: Path, monkeypatch, capsys) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    monkeypatch.setenv("CHAT_ANALYTICS_LANDING_DIR", str(landing))
    monkeypatch.setenv("CHAT_ANALYTICS_WAREHOUSE", str(tmp_path / "wh.duckdb"))
    monkeypatch.setenv("CHAT_ANALYTICS_START_DATE", "2026-03-01")
    monkeypatch.setenv(ENV_PSEUDONYMIZE, "1")
    monkeypatch.delenv(ENV_PSEUDONYMIZATION_KEY, raising=False)
    code = cli_main(["materialize", "--start", "2026-03-02", "--end", "2026-03-02"])
    err = capsys.readouterr().err
    assert code == 2 and ENV_PSEUDONYMIZATION_KEY in err and "Traceback" not in err
    assert not (tmp_path / "wh.duckdb").exists()


# ---------------------------------------------------------------------------------------------------
# A reader in a loop while a materialization runs
# ---------------------------------------------------------------------------------------------------

READER = textwrap.dedent(
    """
    import json, os, sys, time
    import duckdb

    serving_dir, out_path, stop_path = sys.argv[1:4]
    db = os.path.join(serving_dir, "chat_analytics.duckdb")
    CHECK = '''
        select
            (select version from meta.snapshot),
            (select sum(total_conversations) from {kpi}) = (select count(*) from {conv}),
            (select sum(engaged_conversations) from {kpi}) = (select count(*) filter (where is_engaged) from {conv}),
            (select sum(successful_transfers) from {kpi}) = (select count(received_at) from {req}),
            (select sum(closed_conversations) from {kpi}) = (select count(closed_at) from {req}),
            (select sum(handover_requests) from {outcome}) = (select count(*) from {req})
    '''
    with open(out_path, "a") as out:
        while not os.path.exists(stop_path):
            record = {}
            started = time.monotonic()
            try:
                con = duckdb.connect(db, read_only=True)
                try:
                    version, *checks = con.execute(CHECK.format(
                        kpi="marts.kpi_daily", conv="marts.fct_conversations",
                        req="marts.fct_handover_requests", outcome="marts.transfers_by_outcome")).fetchone()
                    counts = con.execute(
                        "select bool_and(row_count = (select count(*) from marts.kpi_daily)) "
                        "from meta.tables where table_name = 'kpi_daily'").fetchone()[0]
                finally:
                    con.close()
                record.update(version=version, consistent=all(checks) and counts)
                # Parquet: resolve `current` once, then read every file of that version.
                folder = os.path.realpath(os.path.join(serving_dir, "parquet", "current"))
                con = duckdb.connect()
                try:
                    def pq(name):
                        return "read_parquet('" + os.path.join(folder, name + ".parquet").replace("'", "''") + "')"
                    sql = CHECK.replace("(select version from meta.snapshot)", "'-'").format(
                        kpi=pq("kpi_daily"), conv=pq("fct_conversations"),
                        req=pq("fct_handover_requests"), outcome=pq("transfers_by_outcome"))
                    _, *checks = con.execute(sql).fetchone()
                finally:
                    con.close()
                with open(os.path.join(folder, "_snapshot.json")) as f:
                    parquet_version = json.load(f)["version"]
                record.update(parquet_version=parquet_version, parquet_consistent=all(checks))
            except Exception as exc:
                record["error"] = repr(exc)
            record["seconds"] = time.monotonic() - started
            out.write(json.dumps(record) + "\\n")
            out.flush()
            time.sleep(0.5)  # a BI tool refreshing; leaves the two cores to the runs
    """
)


@dataclass
class DailyRuns:
    """What a reader saw while two daily runs delivered the missing folders into a copy of `partial_build`.

    The first delivery carries the late handover's reception without its request: the orphan test fails
    under dbt's strict mode (`DBT_WARN_ERROR`), so the run fails. The platform then re-delivers the file
    with the request; the plain rerun succeeds.
    """

    work: Build
    partial: Build
    full: Build
    before: str  # the snapshot published by the partial build
    failed_run_succeeded: bool
    after_failure: str
    served_after_failure: dict  # differences between the snapshot then and the partial build's
    channels_after_failure: tuple[set[str], set[str]]  # kpi_daily channels: warehouse, snapshot
    rerun_succeeded: bool
    run_seconds: list[float]
    records: list[dict]
    reads_during_failed_run: int  # records written before the rerun started


def start_reader(serving_dir: Path, out: Path, stop: Path) -> subprocess.Popen:
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(serving_dir), str(out), str(stop)], cwd=REPO_ROOT
    )
    deadline = time.monotonic() + 60
    while not (out.exists() and out.read_text().count("\n") >= 3):
        assert reader.poll() is None and time.monotonic() < deadline, "the reader did not start"
        time.sleep(0.05)
    return reader


def kpi_channels(path: Path) -> set[str]:
    return {c for (c,) in query(path, "select distinct channel from marts.kpi_daily")}


@pytest.fixture(scope="module")
def daily_runs(tmp_path_factory: pytest.TempPathFactory) -> DailyRuns:
    full, partial = shared_build(tmp_path_factory), partial_build(tmp_path_factory)
    tmp = tmp_path_factory.mktemp("daily runs")
    work = the_delivery(partial, full, tmp / "daily runs")
    late = work.settings.landing_dir / DELIVERY.isoformat() / LATE_FILE
    late.write_text("\n".join(late_handover(with_request=False)) + "\n")
    before = snapshot_version(work.serving.serving_file)
    out, stop = tmp / "reader.jsonl", tmp / "stop"
    reader = start_reader(work.serving.serving_dir, out, stop)
    seconds = []
    try:
        started = time.monotonic()
        failed_run_succeeded = materialize(work, DBT_WARN_ERROR="true")
        seconds.append(time.monotonic() - started)
        after_failure = snapshot_version(work.serving.serving_file)
        served_after_failure = table_differences(partial.serving.serving_file, work.serving.serving_file)
        channels = (kpi_channels(work.settings.warehouse), kpi_channels(work.serving.serving_file))
        reads_during_failed_run = out.read_text().count("\n")
        late.write_text("\n".join(late_handover(with_request=True)) + "\n")  # the re-delivery
        started = time.monotonic()
        rerun_succeeded = materialize(work, DBT_WARN_ERROR="true")
        seconds.append(time.monotonic() - started)
        # A few reads of the new snapshot: the reader pauses 0.5 s between reads, so a fixed wait of that
        # length could stop it before its first one.
        after = snapshot_version(work.serving.serving_file)
        deadline = time.monotonic() + 60
        while out.read_text().count(f'"version": "{after}"') < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.write_text("")
        reader.wait(timeout=60)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return DailyRuns(
        work=work,
        partial=partial,
        full=full,
        before=before,
        failed_run_succeeded=failed_run_succeeded,
        after_failure=after_failure,
        served_after_failure=served_after_failure,
        channels_after_failure=channels,
        rerun_succeeded=rerun_succeeded,
        run_seconds=seconds,
        records=records,
        reads_during_failed_run=reads_during_failed_run,
    )


def test_a_reader_in_a_loop_never_fails_never_waits_and_sees_whole_snapshots(daily_runs: DailyRuns) -> None:
    records = daily_runs.records
    slowest = max(r["seconds"] for r in records)
    print(f"runs {daily_runs.run_seconds} s, {len(records)} reads, slowest {slowest:.2f} s")
    errors = [r for r in records if "error" in r]
    assert not errors, errors[:3]
    assert all(r["consistent"] and r["parquet_consistent"] for r in records)
    after = snapshot_version(daily_runs.work.serving.serving_file)
    assert daily_runs.rerun_succeeded and after != daily_runs.before
    versions = [r["version"] for r in records]
    assert versions[0] == daily_runs.before and versions[-1] == after
    assert set(versions) == {daily_runs.before, after}
    assert versions == sorted(versions), "a reader never goes back to an older snapshot"
    assert all(r["parquet_version"] == r["version"] for r in records[:3] + records[-1:])
    assert slowest < min(5.0, *(s / 3 for s in daily_runs.run_seconds)), (slowest, daily_runs.run_seconds)
    during = [r for r in records if r["version"] == daily_runs.before]
    assert len(during) >= 15, "the reader kept reading while the runs wrote"


def test_a_failing_dbt_test_keeps_the_last_good_snapshot(daily_runs: DailyRuns) -> None:
    """The orphan test fails: dbt has rebuilt the marts in the warehouse (the test is on an
    intermediate model, the marts are built beside it), but the serving asset does not run.

    No error-severity test can be violated from raw input: the loader quarantines what staging's tests
    would reject and every mart test is implied by the models. The orphan test is the one a realistic
    input fails; it warns by default, so the runs set dbt's own `DBT_WARN_ERROR=true` (strict mode),
    under which a failing test fails `dbt build` exactly like an error-severity one.
    """
    assert not daily_runs.failed_run_succeeded
    assert daily_runs.after_failure == daily_runs.before
    assert daily_runs.served_after_failure == {}, "the snapshot is still the partial build's"
    in_warehouse, served = daily_runs.channels_after_failure
    assert "telegram" in in_warehouse, "dbt rebuilt the marts in the warehouse"
    assert "telegram" not in served
    reads = daily_runs.records[: daily_runs.reads_during_failed_run]
    assert len(reads) >= 10 and {r["version"] for r in reads} == {daily_runs.before}


def test_the_rerun_after_the_failure_recovers_the_clean_state(daily_runs: DailyRuns) -> None:
    """The re-delivered file is loaded in place of the first one and the marts equal one clean build's."""
    work, full = daily_runs.work, daily_runs.full
    assert daily_runs.rerun_succeeded
    assert table_differences(full.settings.warehouse, work.settings.warehouse) == {}, "marts differ"
    assert raw_differences(full.settings.warehouse, work.settings.warehouse) == {}, "raw differs"
    assert table_differences(work.settings.warehouse, work.serving.serving_file) == {}
    assert query(
        work.serving.serving_file,
        "select outcome from marts.fct_handover_requests where handover_id = 'h-orphan'",
    ) == [("successful",)]
