"""DuckDB's one-pass load of a range of arrival dates (decision O21).

A pass must leave the warehouse as loading its dates one by one would, record what changed for dbt,
and fail whole: one bad file leaves every partition of the range as it was.
"""

from __future__ import annotations

import gzip
import itertools
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from test_raw_load import event, write_lines
from test_serving import raw_differences

from orchestration.raw_events import LoadError, _read_ahead, load_partition, load_partitions

DAYS = [date(2026, 3, 8) + timedelta(days=offset) for offset in range(4)]


def rows(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def write_range(landing: Path) -> None:
    """Four dates: duplicates within and across dates, quarantined lines, gzip, an empty folder."""
    write_lines(landing, DAYS[0], "b.ndjson", [event("e1"), event("e1", text="again"), "{not json"])
    write_lines(landing, DAYS[0], "a.ndjson", [event("e2", channel="whatsapp")])
    write_lines(
        landing,
        DAYS[1],
        "a.ndjson.gz",
        [event("e1", customer_id="c9"), event("e3", handover_id="h1", event_type="handover_requested"), "  "],
        gz=True,
    )
    write_lines(landing, DAYS[2], "a.ndjson", [event("e2"), event("e4", occurred_at="2026-02-30T10:00:00Z")])
    (landing / DAYS[3].isoformat()).mkdir(parents=True)


def test_a_pass_over_several_dates_equals_loading_them_one_by_one(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    write_range(landing)
    one_by_one, in_one_pass = tmp_path / "one-by-one.duckdb", tmp_path / "pass.duckdb"
    for day in reversed(DAYS):  # a later arrival first: the duplicate ranking must not care
        load_partition(one_by_one, landing, day, chunk_bytes=64)
    results = load_partitions(in_one_pass, landing, DAYS, chunk_bytes=64)

    assert raw_differences(one_by_one, in_one_pass) == {}
    assert [r.arrival_date for r in results] == DAYS
    assert [(r.lines_read, r.valid_rows, r.quarantined_rows, r.duplicate_rows) for r in results] == [
        (4, 3, 1, 1),
        (3, 2, 1, 1),
        (2, 1, 1, 1),
        (0, 0, 0, 0),
    ]
    seqs = [r.load_seq for r in results]
    assert seqs == [1, 2, 3, 4], "each loaded partition takes its own load sequence, in date order"
    assert rows(in_one_pass, "select arrival_date, load_seq, lines_read from raw.load_log order by 2") == [
        (r.arrival_date, r.load_seq, r.lines_read) for r in results
    ]
    # dbt reads changes above its watermark: the pass's changes carry its last sequence and name every
    # winner it added (a first load removes nothing).
    changes = rows(in_one_pass, "select distinct load_seq, change_type from raw.event_changes")
    assert changes == [(4, "added")]
    added = rows(in_one_pass, "select event_id, _arrival_date from raw.event_changes order by 1")
    winners = rows(
        in_one_pass, "select event_id, _arrival_date from raw.chat_events where not _is_duplicate order by 1"
    )
    assert added == winners
    assert all(r.event_changes == len(added) for r in results)


def test_a_pass_records_winners_that_moved_between_dates(tmp_path: Path) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write_range(landing)
    load_partitions(warehouse, landing, DAYS)
    # e1 leaves the first date: its copy of the second date wins; e2's first copy changes thread.
    write_lines(landing, DAYS[0], "b.ndjson", ["{not json"])
    write_lines(landing, DAYS[0], "a.ndjson", [event("e2", customer_id="c7")])
    results = load_partitions(warehouse, landing, DAYS)
    assert [r.unchanged for r in results] == [False, True, True, True], "unchanged dates are not reloaded"
    assert [r.load_seq for r in results] == [5, None, None, None]
    changes = rows(
        warehouse,
        "select change_type, event_id, customer_id, _arrival_date from raw.event_changes "
        "where load_seq = 5 order by 1, 2, 3",
    )
    assert changes == [
        ("added", "e1", "c9", DAYS[1]),
        ("added", "e2", "c7", DAYS[0]),
        ("removed", "e1", "c1", DAYS[0]),
        ("removed", "e2", "c1", DAYS[0]),
    ]
    # The change log is written without `distinct`: no row may repeat all the same.
    assert rows(
        warehouse,
        "select count(*) from (select * from raw.event_changes group by all having count(*) > 1)",
    ) == [(0,)]
    reference = tmp_path / "reference.duckdb"
    load_partitions(reference, landing, DAYS)
    assert raw_differences(reference, warehouse) == {}


def test_the_reader_runs_ahead_of_the_inserts_and_hands_them_its_errors() -> None:
    assert list(_read_ahead(iter(range(5)), name="test-reader")) == [0, 1, 2, 3, 4]

    def failing() -> Iterator[int]:
        yield 1
        raise LoadError("landing/2026-03-02/a.ndjson.gz: cannot be read")

    with pytest.raises(LoadError, match="a.ndjson.gz"):
        list(_read_ahead(failing(), name="test-reader"))

    produced: list[int] = []

    def endless() -> Iterator[int]:
        for number in itertools.count():
            produced.append(number)
            yield number

    for number in _read_ahead(endless(), name="test-reader"):
        if number == 3:
            break
    assert not [thread for thread in threading.enumerate() if thread.name == "test-reader"]
    assert len(produced) <= 6, "a stopped consumer stops the reader, one item ahead at most"


def test_a_bad_file_in_a_pass_leaves_every_partition_as_it_was(tmp_path: Path) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write_range(landing)
    load_partitions(warehouse, landing, DAYS)
    everything = (
        "select 'events', count(*), count(*) filter (where _is_duplicate) from raw.chat_events "
        "union all select 'quarantined', count(*), 0 from raw.quarantined_events "
        "union all select 'loads', count(*), max(load_seq) from raw.load_log "
        "union all select 'changes', count(*), max(load_seq) from raw.event_changes order by 1"
    )
    before = rows(warehouse, everything)

    write_lines(landing, DAYS[0], "a.ndjson", [event("e5"), event("e6")])
    write_lines(landing, DAYS[1], "c.ndjson", [event("e7")])
    bad = landing / DAYS[2].isoformat() / "z.ndjson.gz"
    bad.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:-40])
    with pytest.raises(LoadError, match="z.ndjson.gz"):
        load_partitions(warehouse, landing, DAYS)
    assert rows(warehouse, everything) == before


def test_an_empty_range_creates_the_raw_tables_and_loads_nothing(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    assert load_partitions(warehouse, tmp_path / "landing", []) == []
    assert rows(warehouse, "select count(*) from raw.load_log") == [(0,)]


def test_a_range_larger_than_a_pass_loads_in_several_and_a_failure_keeps_the_earlier_passes(
    tmp_path: Path,
) -> None:
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    write_range(landing)
    reference = tmp_path / "reference.duckdb"
    load_partitions(reference, landing, DAYS)
    results = load_partitions(warehouse, landing, DAYS, pass_bytes=1)  # one partition per pass
    assert raw_differences(reference, warehouse) == {}
    assert rows(warehouse, "select distinct load_seq from raw.event_changes order by 1") == [(1,), (2,)], (
        "each pass records its own changes (the third date adds no winner, the fourth is empty)"
    )
    assert [r.load_seq for r in results] == [1, 2, 3, 4]

    write_lines(landing, DAYS[0], "a.ndjson", [event("e5")])
    bad = landing / DAYS[1].isoformat() / "z.ndjson.gz"
    bad.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:-40])
    second_date = "select count(*) from raw.chat_events where _arrival_date = '2026-03-09'"
    before = rows(warehouse, second_date)
    with pytest.raises(LoadError, match="z.ndjson.gz"):
        load_partitions(warehouse, landing, DAYS, pass_bytes=1)
    # the first date's pass committed; the failing date is as it was, never half-loaded
    assert rows(warehouse, "select _arrival_date from raw.chat_events where event_id = 'e5'") == [(DAYS[0],)]
    assert rows(warehouse, second_date) == before
