"""Incremental dbt runs equal a full rebuild (SPEC §6 "Incremental equals full", decisions O4-O9).

Partitions are loaded with the real loader (which records raw.event_changes), in random orders,
repeated and re-delivered, with `dbt run` after each load or after a few; then a copy of the
warehouse is rebuilt with `dbt run --full-refresh` and every model is compared with it both ways
(`except all` in each direction and row counts; doubles rounded to 1e-6; the lineage column
`_processed_load_seq` left out).

dbt is parsed once for the module; every warehouse file is named warehouse.duckdb, as the reused
manifest requires (dbt-duckdb names the database after the file's stem).
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dbt_helpers import create_raw_tables, failures, run_dbt

from orchestration.generator import GeneratorConfig, generate
from orchestration.raw_events import load_partition

MODELS = {
    "staging": ("stg_chat__events",),
    "intermediate": (
        "int_events_sessionized",
        "int_handover_events",
        "int_event_days",
        "int_conversations",
        "int_handover_agent_replies",
        "int_handover_requests",
        "int_handover_orphan_events",
        "int_reporting_dates",
        "int_reporting_channels",
    ),
    "marts": (
        "kpi_daily",
        "transfers_by_outcome",
        "activity_by_weekday_hour",
        "closed_by_department",
        "conversations_by_channel",
        "fct_conversations",
        "fct_handover_requests",
        "fct_agent_replies",
    ),
}
LINEAGE_COLUMNS = {"_processed_load_seq"}
TIMEZONE = "America/Toronto"  # the generated weeks cross the spring DST change (2026-03-08)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("incremental_parse")
    warehouse = create_raw_tables(tmp / "warehouse.duckdb")
    parsed = run_dbt(["parse"], warehouse=warehouse, tmp=tmp)
    assert parsed.success, failures(parsed)
    return parsed.result


@dataclass
class Pipeline:
    """A landing zone and a warehouse driven like production: loader, then dbt."""

    root: Path
    manifest: Any
    timezone: str = "UTC"
    inactivity_minutes: int = 10

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def warehouse(self) -> Path:
        return self.root / "incremental" / "warehouse.duckdb"

    def load(self, day: date) -> None:
        self.warehouse.parent.mkdir(parents=True, exist_ok=True)
        load_partition(self.warehouse, self.landing, day)

    def dbt(self, *args: str, warehouse: Path | None = None) -> None:
        warehouse = warehouse or self.warehouse
        if args[0] == "run" and not self.has_seeds(warehouse):
            self.dbt("seed", warehouse=warehouse)  # `dbt run` builds models only; they read the seeds
        result = run_dbt(
            list(args),
            warehouse=warehouse,
            tmp=self.root / "dbt",
            manifest=self.manifest,
            env={
                "CHAT_ANALYTICS_TIMEZONE": self.timezone,
                "CHAT_ANALYTICS_INACTIVITY_MINUTES": str(self.inactivity_minutes),
            },
        )
        assert result.success, failures(result)

    def has_seeds(self, warehouse: Path) -> bool:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return bool(
                con.execute(
                    "select count(*) from information_schema.tables where table_schema = 'seeds'"
                ).fetchone()[0]
            )

    def query(self, sql: str, warehouse: Path | None = None) -> list[tuple]:
        with duckdb.connect(str(warehouse or self.warehouse), read_only=True) as con:
            con.execute("set TimeZone = 'UTC'")
            return con.execute(sql).fetchall()

    def runs(self) -> list[tuple]:
        """The watermark's history: (load_seq, mode, status) of every recorded run, oldest first."""
        if not self.warehouse.exists() or not self.query(
            "select 1 from information_schema.tables "
            "where table_schema = 'intermediate' and table_name = '_incremental_runs'"
        ):
            return []
        return self.query(
            "select load_seq, mode, status from intermediate._incremental_runs order by recorded_at"
        )

    def completed_runs(self) -> list[tuple]:
        return [run for run in self.runs() if run[2] == "complete"]

    def full_rebuild(self) -> Path:
        """A copy of the warehouse rebuilt from its raw tables with `dbt run --full-refresh`."""
        copy = self.root / "full" / "warehouse.duckdb"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.warehouse, copy)
        self.dbt("run", "--full-refresh", warehouse=copy)
        return copy

    def assert_equals_full_rebuild(self) -> None:
        full = self.full_rebuild()
        differences = compare_models(self.warehouse, full)
        assert not differences, "incremental and full rebuild differ:\n" + "\n".join(differences)


def compare_models(incremental: Path, full: Path) -> list[str]:
    differences = []
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"attach '{incremental}' as incremental (read_only)")
        con.execute(f"attach '{full}' as full_rebuild (read_only)")
        for schema, names in MODELS.items():
            for name in names:
                columns = con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_catalog = 'incremental' and table_schema = ? and table_name = ? "
                    "order by ordinal_position",
                    [schema, name],
                ).fetchall()
                assert columns, f"{schema}.{name} does not exist"
                select = ", ".join(
                    f"round({column}, 6) as {column}" if data_type == "DOUBLE" else column
                    for column, data_type in columns
                    if column not in LINEAGE_COLUMNS
                )
                a, b = f"incremental.{schema}.{name}", f"full_rebuild.{schema}.{name}"
                only_incremental = con.execute(
                    f"select count(*) from (select {select} from {a} except all select {select} from {b})"
                ).fetchone()[0]
                only_full = con.execute(
                    f"select count(*) from (select {select} from {b} except all select {select} from {a})"
                ).fetchone()[0]
                rows = (
                    con.execute(f"select count(*) from {a}").fetchone()[0],
                    con.execute(f"select count(*) from {b}").fetchone()[0],
                )
                if only_incremental or only_full or rows[0] != rows[1]:
                    differences.append(
                        f"{schema}.{name}: {only_incremental} rows only incremental, {only_full} only full, "
                        f"row counts {rows[0]} / {rows[1]}"
                    )
    return differences


# ---------------------------------------------------------------------------------------------------
# Hand-built events
# ---------------------------------------------------------------------------------------------------


def event(event_id: str, at: str, customer: str = "c1", channel: str = "web", **fields: Any) -> dict:
    row = {
        "event_id": event_id,
        "occurred_at": f"2026-03-02T{at}Z" if len(at) <= 8 else at,
        "customer_id": customer,
        "channel": channel,
        "event_type": "message",
        "sender": "customer",
    }
    row.update(fields)
    return row


def write_folder(landing: Path, day: date, events: list[dict], name: str = "events.ndjson") -> None:
    folder = landing / day.isoformat()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / name).write_text("".join(json.dumps(e) + "\n" for e in events))


DAY1, DAY2, DAY3 = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)

DAY1_EVENTS = [
    # c1/web: two conversations (20 minutes of silence)
    event("a1", "10:00:00"),
    event("a2", "10:20:00"),
    # c2/web: one conversation with a handover request
    event("b1", "09:00:00", "c2"),
    event("b2", "09:01:00", "c2", event_type="handover_requested", sender=None, handover_id="h2"),
    event("b3", "09:05:00", "c2"),
    event("b4", "09:06:00", "c2", sender="bot", flow_type="support"),
    # c3/sms: a reception and a reply of h9, whose request has not arrived (orphans)
    event("o1", "11:00:00", "c3", "sms", event_type="handover_received", sender=None, handover_id="h9"),
    event("o2", "11:05:00", "c3", "sms", sender="agent", handover_id="h9"),
]
LATE_MERGE = event("a3", "10:10:00", sender="bot")  # 10 and 10 minutes: one conversation
LATE_SPLIT = event("b5", "09:03:00", "c2", event_type="conversation_closed", sender=None, handover_id="h2")
DAY2_EVENTS = [
    LATE_MERGE,
    LATE_SPLIT,
    # the request of h9 arrives a day late, in its own thread
    event("r9", "10:55:00", "c3", "sms", event_type="handover_requested", sender=None, handover_id="h9"),
    # the day's own events
    event("d1", "2026-03-03T08:00:00Z", "c4"),
    event("d2", "2026-03-03T08:02:00Z", "c4", sender="bot", message_type="welcome"),
    event("d3", "2026-03-03T08:03:00Z", "c4"),
]


def conversations(pipeline: Pipeline, customer: str) -> list[str]:
    return [
        r[0]
        for r in pipeline.query(
            f"select conversation_id from marts.fct_conversations where customer_id = '{customer}' order by 1"
        )
    ]


def test_late_events_merge_split_and_orphans_join_their_request(tmp_path: Path, manifest: Any) -> None:
    pipeline = Pipeline(tmp_path, manifest)
    write_folder(pipeline.landing, DAY1, DAY1_EVENTS)
    write_folder(pipeline.landing, DAY2, DAY2_EVENTS)

    pipeline.load(DAY1)
    pipeline.dbt("run")
    assert conversations(pipeline, "c1") == ["a1", "a2"]
    assert conversations(pipeline, "c2") == ["b1"]
    assert pipeline.query("select event_id from intermediate.int_handover_orphan_events order by 1") == [
        ("o1",),
        ("o2",),
    ]

    pipeline.load(DAY2)
    pipeline.dbt("run")
    assert pipeline.runs()[-1] == (2, "incremental", "complete")
    assert conversations(pipeline, "c1") == ["a1"]  # merged: a2's conversation disappears
    assert conversations(pipeline, "c2") == ["b1", "b3"]  # split by the late close
    assert pipeline.query(
        "select handover_id, outcome, conversation_id, initial_wait_seconds from marts.fct_handover_requests "
        "where handover_id = 'h9'"
    ) == [("h9", "successful", "r9", 300.0)]
    assert pipeline.query("select count(*) from intermediate.int_handover_orphan_events") == [(0,)]
    pipeline.assert_equals_full_rebuild()

    # the same partition twice changes nothing
    pipeline.load(DAY2)
    pipeline.dbt("run")
    assert conversations(pipeline, "c1") == ["a1"]
    assert conversations(pipeline, "c2") == ["b1", "b3"]

    # day 2 re-delivered smaller: the merge and the split are undone
    write_folder(pipeline.landing, DAY2, [e for e in DAY2_EVENTS if e not in (LATE_MERGE, LATE_SPLIT)])
    pipeline.load(DAY2)
    pipeline.dbt("run")
    assert conversations(pipeline, "c1") == ["a1", "a2"]
    assert conversations(pipeline, "c2") == ["b1"]

    # a copy of a1 arrives on day 3, then day 1 is re-delivered without a1: day 3's copy wins
    write_folder(pipeline.landing, DAY3, [event("a1", "10:00:00"), event("e1", "2026-03-04T12:00:00Z", "c5")])
    pipeline.load(DAY3)
    write_folder(pipeline.landing, DAY1, [e for e in DAY1_EVENTS if e["event_id"] != "a1"])
    pipeline.load(DAY1)
    pipeline.dbt("run")
    assert pipeline.query("select _arrival_date from staging.stg_chat__events where event_id = 'a1'") == [
        (DAY3,)
    ]
    assert conversations(pipeline, "c1") == ["a1", "a2"]
    assert pipeline.query("select count(*) from marts.kpi_daily") == [(3 * 2,)]  # 3 dates x web, sms
    pipeline.assert_equals_full_rebuild()


def test_a_thread_back_after_the_timeout_is_recomputed_from_its_new_events_only(
    tmp_path: Path, manifest: Any
) -> None:
    """int_run_threads (decision O6): after a silence longer than the handover timeout (24 h) the changed
    instant starts an epoch, so the range starts there; within it (24 h exactly included, the rule is
    strict) it starts at the stored epoch. A handover left open before the silence closes after it."""
    pipeline = Pipeline(tmp_path, manifest)
    hand = {"sender": None, "handover_id": "h1"}
    write_folder(
        pipeline.landing,
        DAY1,
        [
            event("a1", "10:00:00", "back"),
            event("a2", "10:01:00", "back", event_type="handover_requested", **hand),
            event("a3", "10:02:00", "back", event_type="handover_received", **hand),
            event("b1", "10:00:00", "daily"),
            event("b2", "20:00:00", "daily"),
            event("e1", "09:00:00", "edge"),
        ],
    )
    write_folder(
        pipeline.landing,
        DAY3,
        [
            event("a4", "2026-03-04T12:00:00Z", "back"),
            event("a5", "2026-03-04T12:05:00Z", "back", event_type="conversation_closed", **hand),
            event("b3", "2026-03-03T10:00:00Z", "daily"),
            event("e2", "2026-03-03T09:00:00Z", "edge"),
        ],
    )
    pipeline.load(DAY1)
    pipeline.dbt("run")
    pipeline.load(DAY3)
    pipeline.dbt("run")
    assert pipeline.runs()[-1] == (2, "incremental", "complete")

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    assert pipeline.query(
        "select customer_id, first_changed_at, last_unchanged_at, range_start "
        "from intermediate.int_run_threads order by 1"
    ) == [
        ("back", at("2026-03-04T12:00:00"), at("2026-03-02T10:02:00"), at("2026-03-04T12:00:00")),
        ("daily", at("2026-03-03T10:00:00"), at("2026-03-02T20:00:00"), at("2026-03-02T10:00:00")),
        ("edge", at("2026-03-03T09:00:00"), at("2026-03-02T09:00:00"), at("2026-03-02T09:00:00")),
    ]
    # the recomputed events start a new epoch and a new stretch; the handover opened before the silence
    # is not open after it (rule 4), though its first close lies there
    assert pipeline.query(
        "select event_id, epoch_started_at, starts_stretch, open_handovers_before "
        "from intermediate.int_events_sessionized where customer_id = 'back' order by occurred_at"
    ) == [
        ("a1", at("2026-03-02T10:00:00"), True, 0),
        ("a2", at("2026-03-02T10:00:00"), False, 0),
        ("a3", at("2026-03-02T10:00:00"), False, 0),
        ("a4", at("2026-03-04T12:00:00"), True, 0),
        ("a5", at("2026-03-04T12:00:00"), False, 0),
    ]
    pipeline.assert_equals_full_rebuild()


def test_v2_late_events_move_an_opening_and_a_late_close_reaches_across_a_timeout(
    tmp_path: Path, manifest: Any
) -> None:
    """Conversation v2 in incremental runs: a late welcome becomes the opening event (a new
    conversation_id); a late close of a handover makes its reception after a timeout open nothing."""
    pipeline = Pipeline(tmp_path, manifest)
    hand = {"sender": None, "handover_id": "h7"}
    write_folder(
        pipeline.landing,
        DAY1,
        [
            event("l2", "10:05:00", "cl"),
            event("l3", "10:06:00", "cl", sender="bot"),
            event("r1", "08:00:00", "cr", event_type="handover_requested", **hand),
            event("r2", "08:01:00", "cr", event_type="handover_received", **hand),
            event("r4", "2026-03-03T20:00:00Z", "cr", event_type="handover_received", **hand),
            event("r5", "2026-03-03T20:30:00Z", "cr"),
        ],
    )
    write_folder(
        pipeline.landing,
        DAY2,
        [
            event("l1", "10:04:00", "cl", sender="bot", message_type="welcome"),
            event("r3", "08:05:00", "cr", event_type="conversation_closed", **hand),
        ],
    )
    pipeline.load(DAY1)
    pipeline.dbt("run")
    assert conversations(pipeline, "cl") == ["l2"]
    # the reception after the 36-hour silence opens h7 again: 30 minutes later do not cut
    assert conversations(pipeline, "cr") == ["r1", "r4"]

    pipeline.load(DAY2)
    pipeline.dbt("run")
    assert pipeline.runs()[-1] == (2, "incremental", "complete")
    assert conversations(pipeline, "cl") == ["l1"]  # the welcome opens it now
    assert pipeline.query(
        "select is_engaged, has_welcome from marts.fct_conversations where conversation_id = 'l1'"
    ) == [(True, True)]
    # h7 was closed before r4: r4 opens nothing, r5 comes 30 minutes after it with nothing open
    assert conversations(pipeline, "cr") == ["r1", "r5"]
    pipeline.assert_equals_full_rebuild()


def v2_shape_events() -> list[dict]:
    """Hand-made shapes of conversation v2 over 2026-03-06..09 (UTC), for the property test."""
    hand = {"sender": None}
    return [
        # a returning customer opened by the widget's welcome twice, days apart
        event("vw1", "2026-03-06T10:00:00Z", "v-welcome", sender="bot", message_type="welcome"),
        event("vw2", "2026-03-06T10:00:05Z", "v-welcome"),
        event("vw3", "2026-03-08T09:00:00Z", "v-welcome", sender="bot", message_type="welcome"),
        event("vw4", "2026-03-08T09:00:03Z", "v-welcome"),
        # campaigns: answered within minutes, unanswered, answered after 15 minutes
        event("vc1", "2026-03-06T12:00:00Z", "v-campaign", "sms", sender="bot", flow_type="campaign"),
        event("vc2", "2026-03-06T12:03:00Z", "v-campaign", "sms"),
        event("vc3", "2026-03-07T12:00:00Z", "v-campaign", "sms", sender="bot", flow_type="campaign"),
        event("vc4", "2026-03-08T12:00:00Z", "v-campaign", "sms", sender="bot", flow_type="campaign"),
        event("vc5", "2026-03-08T12:15:00Z", "v-campaign", "sms"),
        # an agent's goodbye after a close, answered; a second one unanswered
        event(
            "vg1",
            "2026-03-06T14:00:00Z",
            "v-goodbye",
            event_type="handover_requested",
            handover_id="vg-h1",
            **hand,
        ),
        event(
            "vg2",
            "2026-03-06T14:01:00Z",
            "v-goodbye",
            event_type="handover_received",
            handover_id="vg-h1",
            **hand,
        ),
        event("vg3", "2026-03-06T14:02:00Z", "v-goodbye", sender="agent", handover_id="vg-h1"),
        event(
            "vg4",
            "2026-03-06T14:05:00Z",
            "v-goodbye",
            event_type="conversation_closed",
            handover_id="vg-h1",
            **hand,
        ),
        event("vg5", "2026-03-06T14:05:10Z", "v-goodbye", sender="agent", handover_id="vg-h1"),
        event("vg6", "2026-03-06T14:06:00Z", "v-goodbye"),
        event(
            "vg7",
            "2026-03-07T14:00:00Z",
            "v-goodbye",
            event_type="handover_requested",
            handover_id="vg-h2",
            **hand,
        ),
        event(
            "vg8",
            "2026-03-07T14:01:00Z",
            "v-goodbye",
            event_type="handover_received",
            handover_id="vg-h2",
            **hand,
        ),
        event(
            "vg9",
            "2026-03-07T14:05:00Z",
            "v-goodbye",
            event_type="conversation_closed",
            handover_id="vg-h2",
            **hand,
        ),
        event("vga", "2026-03-07T14:05:10Z", "v-goodbye", sender="agent", handover_id="vg-h2"),
        # a ticket nobody closes: back after 24.5 hours (cut), then after 15 minutes (cut again)
        event(
            "vn1",
            "2026-03-06T16:00:00Z",
            "v-never",
            event_type="handover_requested",
            handover_id="vn-h",
            **hand,
        ),
        event(
            "vn2",
            "2026-03-06T16:01:00Z",
            "v-never",
            event_type="handover_received",
            handover_id="vn-h",
            **hand,
        ),
        event("vn3", "2026-03-06T16:02:00Z", "v-never", sender="agent", handover_id="vn-h"),
        event("vn4", "2026-03-07T16:32:00Z", "v-never"),
        event("vn5", "2026-03-07T16:47:00Z", "v-never"),
        # silences of exactly the timeout (no cut) and of a millisecond more (cut) with a handover open
        event(
            "vt1",
            "2026-03-06T18:00:00Z",
            "v-timeout",
            event_type="handover_requested",
            handover_id="vt-h",
            **hand,
        ),
        event(
            "vt2",
            "2026-03-06T18:01:00Z",
            "v-timeout",
            event_type="handover_received",
            handover_id="vt-h",
            **hand,
        ),
        event("vt3", "2026-03-07T18:01:00Z", "v-timeout"),
        event("vt4", "2026-03-08T18:01:00.001Z", "v-timeout"),
        # a reception after the handover's first close, across a timeout
        event(
            "vr1",
            "2026-03-06T08:00:00Z",
            "v-reopen",
            event_type="handover_requested",
            handover_id="vr-h",
            **hand,
        ),
        event(
            "vr2",
            "2026-03-06T08:01:00Z",
            "v-reopen",
            event_type="handover_received",
            handover_id="vr-h",
            **hand,
        ),
        event(
            "vr3",
            "2026-03-06T08:05:00Z",
            "v-reopen",
            event_type="conversation_closed",
            handover_id="vr-h",
            **hand,
        ),
        event(
            "vr4",
            "2026-03-07T20:00:00Z",
            "v-reopen",
            event_type="handover_received",
            handover_id="vr-h",
            **hand,
        ),
        event("vr5", "2026-03-07T20:30:00Z", "v-reopen"),
        # a late welcome that moves an opening
        event("vl1", "2026-03-08T10:04:00Z", "v-late", sender="bot", message_type="welcome"),
        event("vl2", "2026-03-08T10:05:00Z", "v-late"),
    ]


def scatter_into_folders(landing: Path, events: list[dict], rng: random.Random) -> None:
    """Add each event to a random arrival folder on or after its own date (a late arrival or not)."""
    folders = sorted(date.fromisoformat(p.name) for p in landing.iterdir())
    by_folder: dict[date, list[dict]] = {}
    for row in events:
        occurred = date.fromisoformat(row["occurred_at"][:10])
        by_folder.setdefault(rng.choice([d for d in folders if d >= occurred]), []).append(row)
    for day, rows in by_folder.items():
        payload = "".join(json.dumps(row) + "\n" for row in rows).encode()
        (landing / day.isoformat() / "v2-shapes.ndjson.gz").write_bytes(gzip.compress(payload))


def test_loader_records_the_winning_copies_it_removes_and_adds(tmp_path: Path) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write_folder(landing, DAY2, [event("x1", "10:00:00"), event("x2", "10:01:00")])
    write_folder(landing, DAY1, [event("x1", "10:00:00", "c9")])
    first = load_partition(warehouse, landing, DAY2)
    second = load_partition(warehouse, landing, DAY1)  # its copy of x1 wins over day 2's
    unchanged = load_partition(warehouse, landing, DAY1)  # the same files again: nothing to do
    third = load_partition(warehouse, landing, DAY1, force=True)
    assert unchanged.unchanged and unchanged.load_seq is None and unchanged.valid_rows == 1
    assert (first.load_seq, second.load_seq, third.load_seq) == (1, 2, 3)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        changes = con.execute(
            "select load_seq, change_type, event_id, customer_id, _arrival_date from raw.event_changes "
            "order by all"
        ).fetchall()
        logged = con.execute("select load_seq from raw.load_log order by 1").fetchall()
    assert changes == [
        (1, "added", "x1", "c1", DAY2),
        (1, "added", "x2", "c1", DAY2),
        (2, "added", "x1", "c9", DAY1),
        (2, "removed", "x1", "c1", DAY2),
        # a forced reload rewrites the winners' lineage: removed and added again
        (3, "added", "x1", "c9", DAY1),
        (3, "removed", "x1", "c9", DAY1),
    ]
    assert logged == [(1,), (2,), (3,)]


def test_identical_files_are_not_reloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decision O10: a rerun on byte-identical files writes nothing; any change of a byte reloads."""
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write_folder(landing, DAY1, [event("x1", "10:00:00"), "not json"])

    def log_and_changes() -> tuple[list[tuple], list[tuple]]:
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return (
                con.execute("select load_seq, files_fingerprint from raw.load_log order by 1").fetchall(),
                con.execute(
                    "select load_seq, change_type, event_id from raw.event_changes order by all"
                ).fetchall(),
            )

    first = load_partition(warehouse, landing, DAY1)
    before = log_and_changes()
    again = load_partition(warehouse, landing, DAY1)
    assert again.unchanged and not first.unchanged
    assert (again.lines_read, again.valid_rows, again.quarantined_rows) == (2, 1, 1)
    assert again.fingerprint == first.fingerprint
    assert log_and_changes() == before

    # same names, one byte changed: reloaded
    write_folder(landing, DAY1, [event("x1", "10:00:01"), "not json"])
    changed = load_partition(warehouse, landing, DAY1)
    assert not changed.unchanged and changed.load_seq == 2

    # a new loader version reloads unchanged files
    monkeypatch.setattr("orchestration.raw_events.LOADER_VERSION", 10_000)
    assert load_partition(warehouse, landing, DAY1).load_seq == 3


# ---------------------------------------------------------------------------------------------------
# Property: random data, random load orders, repeats, re-deliveries, partial runs
# ---------------------------------------------------------------------------------------------------


def redeliver(folder: Path, donor: Path, rng: random.Random) -> None:
    """Rewrite `folder` with about a fifth of its lines removed and some lines of `donor` added."""
    lines: list[bytes] = []
    for path in sorted(folder.iterdir()):
        lines += gzip.decompress(path.read_bytes()).splitlines(keepends=True)
        path.unlink()
    kept = [line for line in lines if rng.random() > 0.2]
    donor_lines = [
        line
        for path in sorted(donor.iterdir())
        for line in gzip.decompress(path.read_bytes()).splitlines(True)
    ]
    kept += rng.sample(donor_lines, min(10, len(donor_lines)))
    (folder / "events-001.ndjson.gz").write_bytes(gzip.compress(b"".join(kept)))


@pytest.mark.parametrize("seed", [3, 11, pytest.param(29, marks=pytest.mark.slow)])
def test_any_sequence_of_loads_equals_a_full_rebuild(tmp_path: Path, manifest: Any, seed: int) -> None:
    rng = random.Random(seed)
    pipeline = Pipeline(tmp_path, manifest, timezone=TIMEZONE)
    generate(
        GeneratorConfig(
            landing_dir=pipeline.landing,
            start=date(2026, 3, 6),
            days=4,
            seed=seed,
            conversations_per_day=40,
            timezone=TIMEZONE,
            late_rate=0.3,
            duplicate_rate=0.2,
            max_late_days=3,
            files_per_day=1,
        )
    )
    scatter_into_folders(pipeline.landing, v2_shape_events(), rng)
    folders = sorted(date.fromisoformat(p.name) for p in pipeline.landing.iterdir())
    order = folders[:]
    rng.shuffle(order)
    order += rng.sample(folders, 2)  # repeats
    redelivered = rng.choice(folders)
    order.insert(rng.randrange(len(order) // 2, len(order)), redelivered)
    partial_run_at = rng.randrange(1, len(order) - 1)

    done_redelivery = False
    pending = 0
    for i, day in enumerate(order):
        if day == redelivered and not done_redelivery and i >= len(order) // 2:
            donor = pipeline.landing / rng.choice([d for d in folders if d != day]).isoformat()
            redeliver(pipeline.landing / day.isoformat(), donor, rng)
            done_redelivery = True
        pipeline.load(day)
        pending += 1
        if i == partial_run_at:
            # upstream models commit, the marts do not run: the watermark must not move
            before = pipeline.completed_runs()
            pipeline.dbt("run", "--select", "+int_conversations")
            assert pipeline.completed_runs() == before
        elif pending >= rng.randint(1, 3) or i == len(order) - 1:
            pipeline.dbt("run")
            pending = 0

    modes = [mode for _, mode, _ in pipeline.completed_runs()]
    assert modes[0] == "full" and set(modes[1:]) == {"incremental"}
    pipeline.assert_equals_full_rebuild()


def test_incremental_build_runs_data_tests_on_the_new_rows(tmp_path: Path, manifest: Any) -> None:
    """`dbt build` after a load: every data test passes on the rows the run wrote."""
    pipeline = Pipeline(tmp_path, manifest)
    write_folder(pipeline.landing, DAY1, DAY1_EVENTS)
    write_folder(pipeline.landing, DAY2, DAY2_EVENTS)
    pipeline.load(DAY1)
    pipeline.dbt("run")
    pipeline.load(DAY2)
    pipeline.dbt("build", "--exclude-resource-type", "unit_test")
    assert pipeline.runs()[-1] == (2, "incremental", "complete")


def test_changed_settings_or_missing_state_make_the_next_run_full(tmp_path: Path, manifest: Any) -> None:
    pipeline = Pipeline(tmp_path, manifest)
    write_folder(pipeline.landing, DAY1, DAY1_EVENTS)
    write_folder(pipeline.landing, DAY3, [event("e1", "2026-03-04T12:00:00Z", "c5")])
    pipeline.load(DAY1)
    pipeline.dbt("run")
    assert conversations(pipeline, "c1") == ["a1", "a2"]

    with duckdb.connect(str(pipeline.warehouse)) as con:
        con.execute("drop table intermediate.int_handover_events")
    pipeline.load(DAY3)
    pipeline.dbt("run")
    assert pipeline.completed_runs()[-1] == (2, "full", "complete")

    # another inactivity limit: the next run recomputes everything with it (20 minutes no longer split c1)
    pipeline.inactivity_minutes = 60
    pipeline.dbt("run")
    assert pipeline.completed_runs()[-1] == (2, "full", "complete")
    assert conversations(pipeline, "c1") == ["a1"]
    pipeline.assert_equals_full_rebuild()


# ---------------------------------------------------------------------------------------------------
# Adversarial threads: the limits of every rule, any load order, against the Python reference
# ---------------------------------------------------------------------------------------------------

# Gaps at and around every limit of the definitions (10 minutes, 24 hours), ties included.
ADVERSARIAL_GAPS = (
    timedelta(0),
    timedelta(milliseconds=1),
    timedelta(seconds=5),
    timedelta(minutes=10) - timedelta(milliseconds=1),
    timedelta(minutes=10),
    timedelta(minutes=10, milliseconds=1),
    timedelta(minutes=40),
    timedelta(hours=24),
    timedelta(hours=24, milliseconds=1),
    timedelta(hours=50),
)


def adversarial_events(rng: random.Random, threads: int = 80) -> list[dict]:
    """Random threads built from the shapes every rule has an edge at: welcomes, campaigns, agent
    notes, receptions and closes of several handovers (some of another thread's), repeated requests
    and receptions after closes, at gaps on and around the inactivity and the timeout."""
    events: list[dict] = []
    for thread in range(threads):
        customer, channel = f"a{thread % 5}", rng.choice(["web", "sms"])
        handovers = [f"h{thread}-{k}" for k in range(3)] + [f"h{(thread + 1) % threads}-0"]
        at = datetime(2026, 3, 2, 8, tzinfo=UTC) + timedelta(minutes=rng.randrange(600))
        for n in range(rng.randint(4, 22)):
            at += rng.choice(ADVERSARIAL_GAPS)
            kind = rng.choices(
                ["customer", "welcome", "bot", "campaign", "agent", "note", "handover"],
                weights=[5, 2, 2, 1, 2, 1, 6],
            )[0]
            # event ids in random order, so that ties are broken both ways
            row = event(
                f"{rng.randrange(10_000):04d}-{thread}-{n}",
                at.isoformat().replace("+00:00", "Z"),
                customer,
                channel,
            )
            if kind == "welcome":
                row.update(sender="bot", message_type="welcome")
            elif kind in ("bot", "campaign"):
                row.update(
                    sender="bot", flow_type="campaign" if kind == "campaign" else rng.choice(["sales", None])
                )
            elif kind in ("agent", "note"):
                row.update(sender="agent", handover_id=rng.choice(handovers))
                if kind == "note":
                    row["message_type"] = "internal_note"
            elif kind == "handover":
                row.update(
                    sender=None,
                    handover_id=rng.choice(handovers),
                    event_type=rng.choice(
                        [
                            "handover_requested",
                            "handover_received",
                            "handover_received",
                            "conversation_closed",
                            "handover_cancelled",
                            "handover_disabled",
                            "handover_incomplete",
                        ]
                    ),
                    department=rng.choice(["sales", None]),
                )
            events.append({k: v for k, v in row.items() if v is not None})
    return events


def write_scattered(landing: Path, events: list[dict], rng: random.Random) -> list[date]:
    """Each event to an arrival folder 0-2 days after its date; one in ten also redelivered later."""
    by_folder: dict[date, list[dict]] = {}
    for row in events:
        occurred = date.fromisoformat(row["occurred_at"][:10])
        by_folder.setdefault(occurred + timedelta(days=rng.randint(0, 2)), []).append(row)
        if rng.random() < 0.1:
            by_folder.setdefault(occurred + timedelta(days=rng.randint(0, 2)), []).append(row)
    for day, rows in by_folder.items():
        write_folder(landing, day, rows)
    return sorted(by_folder)


@pytest.mark.parametrize("seed", [1, pytest.param(17, marks=pytest.mark.slow)])
def test_adversarial_threads_match_the_reference_in_any_load_order(
    tmp_path: Path, manifest: Any, seed: int
) -> None:
    from reference_metrics import compute_marts
    from test_pipeline import KEYS, MARTS, _keyed, assert_rows_equal

    rng = random.Random(seed)
    pipeline = Pipeline(tmp_path, manifest)
    folders = write_scattered(pipeline.landing, adversarial_events(rng), rng)
    order = folders[:]
    rng.shuffle(order)
    for i, day in enumerate(order):
        pipeline.load(day)
        if rng.random() < 0.6 or i == len(order) - 1:
            pipeline.dbt("run")
    pipeline.assert_equals_full_rebuild()

    with duckdb.connect(str(pipeline.warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")

        def rows(sql: str) -> list[dict]:
            cursor = con.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        expected = compute_marts(rows("select * from staging.stg_chat__events"), timezone="UTC")
        for mart in MARTS:
            want, got = (
                _keyed(expected[mart], KEYS[mart]),
                _keyed(rows(f"select * from marts.{mart}"), KEYS[mart]),
            )
            assert got.keys() == want.keys(), f"{mart}: rows differ"
            for key, row in want.items():
                assert_rows_equal(got[key], row, (mart, key))


def test_full_builds_skip_the_tests_their_proofs_imply_and_incremental_builds_run_them(
    tmp_path: Path, manifest: Any
) -> None:
    """Issue 13: a test whose `meta.proven_in_full_builds_by` names its proofs checks no row in a full
    build, where those proofs (which exist and pass in the same build) imply it; it checks the new rows
    in an incremental build, and every row in a plain `dbt test`."""
    proven = {
        node.unique_id: node.config.meta["proven_in_full_builds_by"]
        for node in manifest.nodes.values()
        if node.resource_type == "test" and node.config.meta.get("proven_in_full_builds_by")
    }
    assert len(proven) >= 2
    test_names = {node.name for node in manifest.nodes.values() if node.resource_type == "test"}
    for unique_id, proofs in proven.items():
        assert set(proofs) <= test_names, f"{unique_id} names proofs that are not tests"

    pipeline = Pipeline(tmp_path, manifest)
    write_folder(pipeline.landing, DAY1, DAY1_EVENTS)
    write_folder(pipeline.landing, DAY2, DAY2_EVENTS)
    pipeline.load(DAY1)

    def build(*args: str) -> dict[str, Any]:
        pipeline.dbt(*args)
        results = json.loads((tmp_path / "dbt" / "dbt_target" / "run_results.json").read_text())["results"]
        return {result["unique_id"]: result for result in results}

    full = build("build", "--exclude-resource-type", "unit_test")
    assert pipeline.runs()[-1][1:] == ("full", "complete")
    for unique_id, proofs in proven.items():
        assert "where false) dbt_subquery" in full[unique_id]["compiled_code"], unique_id
        for proof in proofs:
            (proof_result,) = [r for uid, r in full.items() if uid.split(".")[2] == proof]
            assert proof_result["status"] == "pass", proof
            assert "where false" not in proof_result["compiled_code"], f"{proof} proves, it is not proven"

    pipeline.load(DAY2)
    incremental = build("build", "--exclude-resource-type", "unit_test")
    assert pipeline.runs()[-1][1:] == ("incremental", "complete")
    for unique_id in proven:
        assert "where _processed_load_seq > 1) dbt_subquery" in incremental[unique_id]["compiled_code"], (
            unique_id
        )

    everything = build("test", "--exclude-resource-type", "unit_test")
    for unique_id in proven:
        assert "dbt_subquery" not in everything[unique_id]["compiled_code"], unique_id
