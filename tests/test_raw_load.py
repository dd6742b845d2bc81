"""The raw loader: validation, quarantine reasons, lineage, duplicates, idempotence, bad files.

Every test runs against the loader of fixture `engine` (tests/raw_engines.py): DuckDB here, Spark in
tests/test_raw_load_spark.py, which runs these same tests with the Spark loader (`make test-spark`).
"""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from raw_engines import DUCKDB_RAW

from orchestration.raw_events import LoadError
from orchestration.warehouse import WarehouseLockedError, connect

DAY = date(2026, 3, 8)


def event(event_id: str, **overrides: object) -> dict:
    base = {
        "event_id": event_id,
        "occurred_at": "2026-03-08T10:00:00Z",
        "customer_id": "c1",
        "channel": "web",
        "event_type": "message",
        "sender": "customer",
        "text": "bonjour",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def write_lines(landing: Path, day: date, name: str, lines: list[str | dict], *, gz: bool = False) -> Path:
    folder = landing / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines).encode()
    path = folder / name
    path.write_bytes(gzip.compress(body) if gz else body)
    return path


@pytest.fixture
def engine():
    """The loader under test (tests/test_raw_load_spark.py overrides it with Spark's)."""
    return DUCKDB_RAW


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


@pytest.fixture
def warehouse(tmp_path: Path, engine) -> Path:
    return engine.warehouse_in(tmp_path)


@pytest.fixture
def rows(engine):
    return engine.rows


@pytest.fixture
def load_partition(engine):
    return engine.load


QUARANTINE_CASES = {
    "invalid_json": "{not json",
    "invalid_json_array": "[1, 2]",
    "invalid_json_trailing_comma": '{"event_id": "t1", "occurred_at": "2026-03-08T10:00:00Z", "customer_id": "c1", '
    '"channel": "web", "event_type": "message", "sender": "bot",}',
    "invalid_json_nan": '{"event_id": "t2", "occurred_at": "2026-03-08T10:00:00Z", "customer_id": "c1", '
    '"channel": "web", "event_type": "message", "sender": "bot", "properties": {"score": NaN}}',
    "empty_line": "   ",
    "missing_field:event_id": event(...),
    "missing_field:occurred_at": event("q2", occurred_at=None),
    "missing_field:customer_id": event("q3", customer_id="  "),
    "missing_field:channel": event("q4", channel=...),
    "missing_field:event_type": event("q5", event_type=...),
    "invalid_type:customer_id": event("q6", customer_id=42),
    "invalid_type:handover_id": event("q7", handover_id=["h"]),
    "invalid_type:properties": event("q8", properties="not an object"),
    "invalid_timestamp": event("q9", occurred_at="2026-02-30T10:00:00Z"),
    "invalid_timestamp_no_offset": event("q10", occurred_at="2026-03-08 10:00:00"),
    "timestamp_out_of_range": event("q11", occurred_at="1970-01-01T00:00:00Z"),
    "timestamp_out_of_range_future": event("q12", occurred_at="2099-01-01T00:00:00Z"),
    "unknown_event_type": event("q13", event_type="typing"),
    "missing_field:sender": event("q14", sender=...),
    "invalid_sender": event("q15", sender="robot"),
    "missing_handover_id": event("q16", event_type="handover_received", sender=...),
}


def test_quarantine_reasons(landing: Path, warehouse: Path, load_partition, rows) -> None:
    cases = list(QUARANTINE_CASES.items())
    valid = [
        event("ok-1"),
        event("ok-nanos", occurred_at="2026-03-08T12:00:00.123456789+02:00"),
        event("ok-lower", occurred_at="2026-03-08t10:00:00.5z", message_type="carousel"),
        event("ok-handover", event_type="handover_requested", sender=..., handover_id="h1"),
        event("ok-tricky-text", text='NaN, ] and ,} are fine "inside" strings', properties={"a": [1, 2]}),
    ]
    write_lines(landing, DAY, "events.ndjson", [line for _, line in cases] + valid)
    result = load_partition(warehouse, landing, DAY)

    reasons = dict(rows(warehouse, "select _line_number, reason from raw.quarantined_events"))
    for line_number, (case, _) in enumerate(cases, start=1):
        expected = case
        for variant in ("_array", "_no_offset", "_future", "_trailing_comma", "_nan"):
            expected = expected.removesuffix(variant)
        assert reasons[line_number] == expected, case
    assert result.lines_read == len(cases) + len(valid)
    assert result.valid_rows == len(valid)
    assert result.quarantined_rows == len(cases)
    stored = dict(rows(warehouse, "select event_id, occurred_at_utc::varchar from raw.chat_events"))
    assert stored["ok-nanos"] == "2026-03-08 10:00:00.123456+00"
    assert stored["ok-lower"] == "2026-03-08 10:00:00.5+00"


def test_impossible_clock_times_and_offsets_are_invalid_timestamps(
    landing: Path, warehouse: Path, load_partition, rows
) -> None:
    """Hours 00-23 and minutes 00-59, in the time and in the offset (decision R2).

    DuckDB's own cast reads 24:00:00 as the next midnight and accepts offsets such as +99:99.
    """
    invalid = [
        "2026-03-08T10:00:00+99:99",
        "2026-03-08T24:00:00Z",
        "2026-03-08T24:00:00.000+01:00",
        "2026-03-08T10:00:00+24:00",
        "2026-03-08T10:00:00-05:60",
        "2026-03-08T10:60:00Z",
        "2026-03-08T10:00:60Z",
    ]
    valid = {
        "edge-east": ("2026-03-08T23:59:59.999999+23:59", "2026-03-08 00:00:59.999999+00"),
        "edge-west": ("2026-03-08T00:00:00-23:59", "2026-03-08 23:59:00+00"),
        "midnight": ("2026-03-08T00:00:00+00:00", "2026-03-08 00:00:00+00"),
    }
    write_lines(
        landing,
        DAY,
        "events.ndjson",
        [event(f"bad-{i}", occurred_at=ts) for i, ts in enumerate(invalid)]
        + [event(name, occurred_at=ts) for name, (ts, _) in valid.items()],
    )
    result = load_partition(warehouse, landing, DAY)
    assert result.quarantine_reasons == {"invalid_timestamp": len(invalid)}
    stored = dict(rows(warehouse, "select event_id, occurred_at_utc::varchar from raw.chat_events"))
    assert stored == {name: utc for name, (_, utc) in valid.items()}


def test_values_made_only_of_whitespace_are_blank(
    landing: Path, warehouse: Path, load_partition, rows
) -> None:
    """Tabs, newlines and other Unicode white space are blank like spaces (decision R5)."""
    cases = [
        (event("w1", channel=" \t "), "missing_field:channel"),
        (event("w2", channel="\t"), "missing_field:channel"),
        (event("w3", channel="\u00a0\u3000\r\n"), "missing_field:channel"),
        (event("w4", customer_id="\n"), "missing_field:customer_id"),
        (event("\t\t"), "missing_field:event_id"),
        (event("w6", sender="\t"), "missing_field:sender"),
        (event("w7", event_type="handover_received", sender=..., handover_id=" \t"), "missing_handover_id"),
    ]
    valid = [event("ok-tab-inside", channel="\tweb "), event("ok-nbsp-inside", customer_id="\u00a0c1")]
    write_lines(landing, DAY, "events.ndjson", [line for line, _ in cases] + valid)
    result = load_partition(warehouse, landing, DAY)
    reasons = dict(rows(warehouse, "select _line_number, reason from raw.quarantined_events"))
    assert reasons == {i: reason for i, (_, reason) in enumerate(cases, start=1)}
    assert result.valid_rows == len(valid)


def test_invalid_utf8_crlf_and_last_line_without_newline(
    landing: Path, warehouse: Path, load_partition, rows
) -> None:
    folder = landing / DAY.isoformat()
    folder.mkdir(parents=True)
    good = json.dumps(event("e1")).encode()
    (folder / "mixed.ndjson").write_bytes(
        good + b"\r\n" + b'{"event_id": "\xff\xfe"}\n' + json.dumps(event("e2")).encode()
    )
    result = load_partition(warehouse, landing, DAY)
    assert (result.lines_read, result.valid_rows, result.quarantined_rows) == (3, 2, 1)
    assert rows(warehouse, "select _line_number, reason from raw.quarantined_events") == [(2, "invalid_utf8")]


def test_a_line_that_is_not_utf8_is_kept_as_escaped_text(
    landing: Path, warehouse: Path, load_partition, rows
) -> None:
    folder = landing / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "a.ndjson").write_bytes(b'{"t": "caf\xe9 \\ \'q\' \x7f~"}\n')
    load_partition(warehouse, landing, DAY)
    assert rows(warehouse, "select raw_line, raw_line_bytes from raw.quarantined_events") == [
        ("{\\x22t\\x22: \\x22caf\\xE9 \\x5C \\x27q\\x27 \\x7F~\\x22}", 22)
    ]


def test_lineage_and_extra_fields(landing: Path, warehouse: Path, load_partition, rows) -> None:
    write_lines(landing, DAY, "b.ndjson", [event("e1", vendor_flag=True, nested={"x": [1, 2]})])
    result = load_partition(warehouse, landing, DAY)
    ((source, line, arrival, load_id, extra, text),) = rows(
        warehouse,
        "select _source_file, _line_number, _arrival_date, _load_id, extra_fields, text from raw.chat_events",
    )
    assert (source, line, arrival, load_id) == ("2026-03-08/b.ndjson", 1, DAY, result.load_id)
    assert json.loads(extra) == {"vendor_flag": True, "nested": {"x": [1, 2]}}
    assert text == "bonjour"


def test_reload_is_idempotent_and_replaces_the_partition(
    landing: Path, warehouse: Path, load_partition, rows
) -> None:
    write_lines(landing, DAY, "a.ndjson", [event("e1"), event("e2"), "garbage"])
    load_partition(warehouse, landing, DAY)
    load_partition(warehouse, landing, DAY)
    assert rows(warehouse, "select count(*) from raw.chat_events") == [(2,)]
    assert rows(warehouse, "select count(*) from raw.quarantined_events") == [(1,)]
    write_lines(landing, DAY, "a.ndjson", [event("e1")])  # re-delivered, smaller
    load_partition(warehouse, landing, DAY)
    assert rows(warehouse, "select event_id from raw.chat_events") == [("e1",)]
    assert rows(warehouse, "select count(*) from raw.quarantined_events") == [(0,)]


def test_gzip_and_parquet_inputs(landing: Path, warehouse: Path, load_partition, rows) -> None:
    write_lines(landing, DAY, "a.ndjson.gz", [event("gz-1"), event("gz-2")], gz=True)
    table = pa.table(
        {
            "event_id": ["pq-1", "pq-2"],
            "occurred_at": ["2026-03-08T10:00:00Z", "not a time"],
            "customer_id": ["c1", "c2"],
            "channel": ["WhatsApp", "sms"],
            "event_type": ["message", "message"],
            "sender": ["customer", "bot"],
            "properties": ['{"campaign": "x"}', None],
        }
    )
    pq.write_table(table, landing / DAY.isoformat() / "b.parquet")
    result = load_partition(warehouse, landing, DAY)
    assert (result.lines_read, result.valid_rows, result.quarantined_rows) == (4, 3, 1)
    assert rows(warehouse, "select _source_file, _line_number, reason from raw.quarantined_events") == [
        ("2026-03-08/b.parquet", 2, "invalid_timestamp")
    ]
    ((props,),) = rows(warehouse, "select properties from raw.chat_events where event_id = 'pq-1'")
    assert json.loads(props) == {"campaign": "x"}


def test_duplicates_across_partitions_any_order(
    landing: Path, warehouse: Path, engine, load_partition, rows
) -> None:
    day1, day2 = date(2026, 3, 8), date(2026, 3, 9)
    write_lines(landing, day1, "b.ndjson", [event("e1"), event("e1")])
    write_lines(landing, day1, "a.ndjson", [event("e2")])
    write_lines(landing, day2, "a.ndjson", [event("e1"), event("e2"), event("e3")])
    winners_sql = (
        "select event_id, _arrival_date, _source_file, _line_number from raw.chat_events "
        "where not _is_duplicate order by event_id"
    )
    expected = [
        ("e1", day1, "2026-03-08/b.ndjson", 1),
        ("e2", day1, "2026-03-08/a.ndjson", 1),
        ("e3", day2, "2026-03-09/a.ndjson", 3),
    ]
    second = load_partition(warehouse, landing, day2)  # later arrival loaded first
    assert second.duplicate_rows == 0
    first = load_partition(warehouse, landing, day1)
    assert first.duplicate_rows == 1
    assert rows(warehouse, winners_sql) == expected

    # Removing day 1's copies promotes day 2's again.
    for path in (landing / day1.isoformat()).iterdir():
        path.write_text("")
    load_partition(warehouse, landing, day1)
    assert [r[:2] for r in rows(warehouse, winners_sql)] == [("e1", day2), ("e2", day2), ("e3", day2)]

    other = tmp_warehouse = engine.warehouse_in(warehouse.parent / "in-order")
    load_partition(other, landing, day2)
    assert rows(tmp_warehouse, winners_sql) == rows(warehouse, winners_sql)


def test_corrupt_gzip_fails_and_leaves_the_warehouse_as_it_was(
    landing: Path, warehouse: Path, load_partition, rows
) -> None:
    write_lines(landing, DAY, "a.ndjson", [event("e1")])
    load_partition(warehouse, landing, DAY)
    write_lines(landing, DAY, "a.ndjson", [event("e1"), event("e2")])
    bad = landing / DAY.isoformat() / "b.ndjson.gz"
    bad.write_bytes(gzip.compress(b'{"a": 1}\n' * 1000)[:-40])
    with pytest.raises(LoadError, match="b.ndjson.gz"):
        load_partition(warehouse, landing, DAY)
    assert rows(warehouse, "select event_id from raw.chat_events") == [("e1",)]


def test_unreadable_parquet_names_the_file(landing: Path, warehouse: Path, load_partition) -> None:
    folder = landing / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(LoadError, match="broken.parquet"):
        load_partition(warehouse, landing, DAY)


def test_absent_folder_loads_nothing_and_keeps_earlier_loads(
    landing: Path, warehouse: Path, load_partition, rows
) -> None:
    write_lines(landing, DAY, "a.ndjson", [event("e1")])
    load_partition(warehouse, landing, DAY)
    for path in (landing / DAY.isoformat()).iterdir():
        path.unlink()
    (landing / DAY.isoformat()).rmdir()
    result = load_partition(warehouse, landing, DAY)
    assert not result.folder_exists and result.lines_read == 0
    assert rows(warehouse, "select count(*) from raw.chat_events") == [(1,)]


def test_unknown_file_type_is_an_error_not_a_silent_skip(
    landing: Path, warehouse: Path, load_partition
) -> None:
    write_lines(landing, DAY, "notes.txt", ["hello"])
    with pytest.raises(LoadError, match="notes.txt"):
        load_partition(warehouse, landing, DAY)


def test_locked_warehouse_gives_a_clear_message(
    landing: Path, warehouse: Path, tmp_path: Path, engine, load_partition
) -> None:
    if engine is not DUCKDB_RAW:
        pytest.skip("DuckDB's file lock (Spark's lock: tests/test_spark_engine.py)")
    import subprocess
    import sys

    write_lines(landing, DAY, "a.ndjson", [event("e1")])
    connect(warehouse).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys; c=duckdb.connect({str(warehouse)!r}); print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseLockedError, match="locked by another process"):
            load_partition(warehouse, landing, DAY)
    finally:
        holder.communicate("")


def test_small_chunks_give_the_same_result(
    landing: Path, tmp_path: Path, engine, load_partition, rows
) -> None:
    lines = [event(f"e{i}", customer_id=f"c{i % 7}") for i in range(200)] + ["bad line"]
    write_lines(landing, DAY, "a.ndjson", lines)
    big_warehouse, small_warehouse = (
        engine.warehouse_in(tmp_path / "big"),
        engine.warehouse_in(tmp_path / "small"),
    )
    big = load_partition(big_warehouse, landing, DAY)
    small = load_partition(small_warehouse, landing, DAY, chunk_bytes=97)
    sql = "select event_id, _line_number from raw.chat_events order by 2"
    assert rows(big_warehouse, sql) == rows(small_warehouse, sql)
    assert (small.lines_read, small.quarantined_rows) == (big.lines_read, big.quarantined_rows) == (201, 1)
