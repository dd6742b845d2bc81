"""Loading arrival-date partitions of the landing zone into `raw.chat_events` (SPEC §2).

Lines are cut with numpy and handed to DuckDB as Arrow binary arrays, so validation and
JSON parsing happen in DuckDB, never per line in Python. A range of partitions is replaced in passes
of about 64 MiB of files, one transaction each (decision O21): a failure leaves its pass's partitions
exactly as they were, and no partition is ever half-loaded.

The same transaction records the load's changes for incremental dbt runs (decision O4): each loaded
partition takes the next load sequence number (`raw.load_log.load_seq`), and `raw.event_changes`
receives one row per winning copy (`not _is_duplicate`) the pass removed or added, with the keys that
tell dbt what to recompute (thread, instant, handover). New data is thus found by load, never by
event time.
"""

from __future__ import annotations

import gzip
import hashlib
import queue
import threading
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import duckdb
import numpy as np
import pyarrow as pa

# The contract (fields, rules and their order) is written once for both engines: raw_contract.py.
# Its names stay importable from here.
from orchestration.raw_contract import (  # noqa: F401
    DUCKDB,
    DUPLICATE_RANK_ORDER,
    EARLIEST_VALID_INSTANT,
    EVENT_TYPES,
    FUTURE_TOLERANCE_DAYS,
    HANDOVER_EVENT_TYPES,
    KNOWN_FIELDS,
    OPTIONAL_STRING_FIELDS,
    QUARANTINED_TEXT_LIMIT,
    REQUIRED_FIELDS,
    RFC3339_PATTERN,
    SENDERS,
    WHITESPACE_CODE_POINTS,
    reason_case,
)
from orchestration.warehouse import ensure_raw_schema, open_warehouse

_T = TypeVar("_T")

NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".json")
GZIP_SUFFIXES = tuple(s + ".gz" for s in NDJSON_SUFFIXES)
PARQUET_SUFFIXES = (".parquet",)

DEFAULT_CHUNK_BYTES = 128 * 1024 * 1024
# File bytes (as stored, compressed or not) per pass: about 1.4 million events of gzipped NDJSON.
DEFAULT_PASS_BYTES = 64 * 1024 * 1024
SCAN_BATCH_ROWS = 64 * 1024  # rows per Arrow record batch handed to DuckDB (its unit of parallel scan)
# Part of every partition's fingerprint: bump it when a change of the loader changes what a file loads as,
# so that reruns of unchanged files reload them with the new rules (decision O10).
# 2: 24:00:00, offsets beyond 23:59 and whitespace-only values are quarantined (decisions R2, R5).
LOADER_VERSION = 2


class LoadError(RuntimeError):
    """A partition could not be loaded; nothing was written."""


@dataclass
class LoadResult:
    arrival_date: date
    folder: Path
    folder_exists: bool
    load_id: str
    files: list[str] = field(default_factory=list)
    lines_read: int = 0
    valid_rows: int = 0
    quarantined_rows: int = 0
    duplicate_rows: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    load_seq: int | None = None  # None when nothing was loaded (absent folder, unchanged files)
    event_changes: int = 0  # winning copies removed or added by this load (raw.event_changes rows)
    fingerprint: str | None = None
    unchanged: bool = False  # the files are byte-identical to the last load: nothing was rewritten

    @property
    def quarantined_share(self) -> float:
        return self.quarantined_rows / self.lines_read if self.lines_read else 0.0


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def partition_files(folder: Path) -> list[Path]:
    """The files of an arrival folder, in name order; hidden and temporary files are skipped."""
    if not folder.is_dir():
        return []
    files = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.name.startswith((".", "_")) or not path.is_file():
            continue
        if not path.name.endswith(NDJSON_SUFFIXES + GZIP_SUFFIXES + PARQUET_SUFFIXES):
            raise LoadError(
                f"{path}: unknown file type; the landing zone accepts "
                f"{', '.join(NDJSON_SUFFIXES + GZIP_SUFFIXES + PARQUET_SUFFIXES)}"
            )
        files.append(path)
    return files


def files_fingerprint(folder: Path, files: list[Path]) -> str:
    """sha256 of the loader's version and each file's name and bytes: equal means a reload is a no-op."""
    digest = hashlib.sha256(f"loader {LOADER_VERSION}\n".encode())
    for path in files:
        digest.update(f"{path.relative_to(folder)}\n{path.stat().st_size}\n".encode())
        with path.open("rb") as stream:
            digest.update(hashlib.file_digest(stream, "sha256").digest())
    return digest.hexdigest()


def _line_batches(stream: BinaryIO, chunk_bytes: int) -> Iterator[tuple[int, pa.Array]]:
    """Yield (first line number, Arrow binary array of lines) without a Python object per line.

    Newlines are found with numpy and cut out with `bytes.replace` (every newline ends a line, so
    dropping them all and shifting the offsets is exact; memchr-fast, twice as fast as a numpy
    mask); trimming them in SQL costs more than the whole JSON parse. A final line without a
    newline counts as a line.
    """
    carry = b""
    next_line = 1
    while True:
        block = stream.read(chunk_bytes)
        data = carry + block if carry else block
        if not block:
            if data:
                yield next_line, pa.array([data], type=pa.large_binary())
            return
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
        if ends.size == 0:
            carry = data
            continue
        last = int(ends[-1])
        # The bytes after the last newline (no newline among them) stay past the last offset.
        body = data.replace(b"\n", b"")
        # Line i ends at its newline's position minus the i newlines removed before it.
        offsets = np.concatenate(([0], ends - np.arange(ends.size))).astype(np.int64)
        lines = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), int(ends.size), [None, pa.py_buffer(offsets), pa.py_buffer(body)]
        )
        yield next_line, lines
        next_line += int(ends.size)
        carry = data[last + 1 :]


def _open_lines(path: Path) -> BinaryIO:
    if path.name.endswith(GZIP_SUFFIXES):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _field_type_columns() -> str:
    """Columns t_<field> (JSON type) and <field> (value) from two list extractions.

    One `json_type(j, [paths])` and one `json_extract_string(j, [paths])` parse each line once;
    a call per field would parse it 26 times (5x slower, measured on 230k lines). The type list
    starts with the root's type (`root_type`), which thus costs no parse of its own.
    """
    parts = ["field_types[1] as root_type"]
    for index, name in enumerate(KNOWN_FIELDS, start=1):
        parts.append(f"field_types[{index + 1}] as t_{name}")
        if name == "properties":
            parts.append(
                f"case when field_types[{index + 1}] = 'OBJECT' then field_values[{index}]::json end as {name}"
            )
        else:
            parts.append(f"field_values[{index}] as {name}")
    return ",\n            ".join(parts)


def _field_paths(*, root: bool = False) -> str:
    paths = (["$"] if root else []) + ["$." + name for name in KNOWN_FIELDS]
    return "[" + ", ".join(_quote(path) for path in paths) + "]"


# DuckDB's JSON reader accepts trailing commas and NaN/Infinity, which RFC 8259 does not: such
# lines are invalid_json. String literals are blanked out (so that a "NaN" inside a text does not
# count) only for the rare lines that match the test on the whole line, and that test only runs on
# the lines that pass a cheaper superset of it: a substring search and a regex without the word
# boundaries that keep RE2 off its fast path. CASE, unlike AND, evaluates its branch only for the
# rows that reach it (the former AND chain ran both regexes on every line: half of the whole parse).
_NON_STANDARD_JSON = r",\s*[\]}]|\bNaN\b|\bInfinity\b"
_NON_STANDARD_JSON_HINT = (
    "contains(txt, 'NaN') or contains(txt, 'Infinity') or regexp_matches(txt, " + _quote(r",\s*[\]}]") + ")"
)
_STRING_LITERAL = r'"(?:[^"\\]|\\.)*"'
_LENIENT_JSON_CHECK = f"""case
            when {_NON_STANDARD_JSON_HINT} then case
                when regexp_matches(txt, {_quote(_NON_STANDARD_JSON)})
                    then regexp_matches(regexp_replace(txt, {_quote(_STRING_LITERAL)}, '""', 'g'), {_quote(_NON_STANDARD_JSON)})
                else false
            end
            else false
        end"""


def _parse_sql() -> str:
    known = ", ".join(_quote(n) for n in KNOWN_FIELDS)
    return f"""
    create or replace temp table _parsed as
    with decoded as (
        select
            file_index,
            line_number,
            octet_length(line) as raw_line_bytes,
            -- 'ignore' drops invalid bytes: a shorter result means the line is not UTF-8 (no try()).
            case when strlen(decode(line, 'ignore')) = octet_length(line) then decode(line, 'ignore') end as txt,
            case when txt is null then left(line::varchar, {QUARANTINED_TEXT_LIMIT}) end as undecodable
        from _chunk
    ),
    parsed as (
        select *, case when not {_LENIENT_JSON_CHECK} then try_cast(txt as json) end as j
        from decoded
    ),
    extracted as (
        select
            *,
            json_type(j, {_field_paths(root=True)}) as field_types,
            json_extract_string(j, {_field_paths()}) as field_values
        from parsed
    ),
    typed as (
        select
            *,
            {_field_type_columns()}
        from extracted
    ),
    timed as (
        select
            *,
            case when t_occurred_at = 'VARCHAR' and regexp_full_match(occurred_at, {_quote(RFC3339_PATTERN)})
                then try_cast(
                    regexp_replace(upper(occurred_at), '(\\.\\d{{6}})\\d+', '\\1') as timestamptz
                )
            end as occurred_at_utc,
            list_filter(json_keys(j), lambda k: k not in ({known})) as extra_keys
        from typed
    ),
    reasoned as (
        select
            file_index,
            line_number,
            raw_line_bytes,
            txt,
            undecodable,
            event_id, occurred_at, occurred_at_utc, customer_id, channel, event_type,
            sender, message_type, handover_id, agent_id, department, flow_type, text, properties,
            -- The map is only built for the rare lines with unknown fields (CASE evaluates lazily).
            case when len(extra_keys) > 0
                then to_json(map_from_entries(
                    list_filter(map_entries(try_cast(j as map(varchar, json))), lambda e: e.key not in ({known}))
                ))
            end as extra_fields,
            {reason_case(DUCKDB, "_arrival_date")} as reason
        from timed
        join _files using (file_index)
    )
    select
        * exclude (txt, undecodable),
        -- Only quarantined lines keep their text: copying every line cost a tenth of the parse.
        case when reason is not null then coalesce(left(txt, {QUARANTINED_TEXT_LIMIT}), undecodable) end as raw_line
    from reasoned
    """


CHANGE_KEY_COLUMNS = "event_id, customer_id, channel, handover_id, occurred_at_utc, _arrival_date"
# The partitions a pass replaces (a temp table registered by `_replace_partitions`).
IN_PASS = "_arrival_date in (select _arrival_date from _files)"


@dataclass
class _Partition:
    """One arrival folder of a pass: its result (filled in as it loads) and its files."""

    result: LoadResult
    paths: list[Path]


@dataclass
class _Batch:
    """Lines of one or more files, handed to DuckDB as one scan."""

    tables: list[pa.Table] = field(default_factory=list)
    nbytes: int = 0
    lines_added: int = 0  # since the batch was made, whatever was taken since

    def add(self, file_index: int, first_line: int, lines: pa.Array) -> None:
        count = len(lines)
        self.tables.append(
            pa.table(
                {
                    "file_index": pa.array(np.full(count, file_index, dtype=np.int32)),
                    "line_number": pa.array(np.arange(first_line, first_line + count, dtype=np.int64)),
                    "line": lines,
                }
            )
        )
        self.nbytes += lines.nbytes
        self.lines_added += count

    def take(self) -> pa.Table:
        """The lines added so far, as one table; the batch starts empty again."""
        table = pa.concat_tables(self.tables)
        self.tables = []
        self.nbytes = 0
        return table


def _insert_parsed(con: duckdb.DuckDBPyConnection, loaded_at: datetime) -> None:
    """Validate the lines of `_chunk` and append them to raw (valid or quarantined)."""
    con.execute(_parse_sql())
    con.execute(
        """
        insert into raw.chat_events
        select
            event_id, occurred_at, occurred_at_utc, customer_id, channel, event_type,
            sender, message_type, handover_id, agent_id, department, flow_type, text,
            properties, extra_fields,
            f._arrival_date, f._source_file, p.line_number, f._load_id, $loaded_at, false
        from _parsed as p
        join _files as f using (file_index)
        where p.reason is null
        """,
        {"loaded_at": loaded_at},
    )
    con.execute(
        """
        insert into raw.quarantined_events
        select f._arrival_date, f._source_file, p.line_number, p.raw_line, p.raw_line_bytes, p.reason,
            f._load_id, $loaded_at
        from _parsed as p
        join _files as f using (file_index)
        where p.reason is not null
        """,
        {"loaded_at": loaded_at},
    )
    con.execute("drop table _parsed")


def _insert_lines(con: duckdb.DuckDBPyConnection, table: pa.Table, loaded_at: datetime) -> None:
    """Validate and append a batch of lines (`file_index`, `line_number`, `line`)."""
    # Several record batches (zero-copy slices): DuckDB scans one batch per thread.
    con.register("_chunk", pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_BATCH_ROWS)))
    try:
        _insert_parsed(con, loaded_at)
    finally:
        con.unregister("_chunk")


@dataclass
class _ParquetFile:
    """A Parquet file of a pass: DuckDB reads it itself, on the loading connection."""

    partition_index: int
    file_index: int
    path: Path


@dataclass
class _LineCounts:
    """Lines of the NDJSON files of each partition of a pass (by index): the reader's last item."""

    by_partition: dict[int, int]


def _read_ndjson(path: Path, file_index: int, batch: _Batch, chunk_bytes: int) -> Iterator[pa.Table]:
    """Add the lines of an NDJSON file (gzip or not) to `batch`, yielding each batch that fills up."""
    try:
        with _open_lines(path) as stream:
            for first_line, lines in _line_batches(stream, chunk_bytes):
                batch.add(file_index, first_line, lines)
                if batch.nbytes >= chunk_bytes:
                    yield batch.take()
    except (OSError, EOFError, zlib.error) as exc:
        raise LoadError(f"{path}: cannot be read ({exc.__class__.__name__}: {exc})") from exc


def _pass_inputs(
    partitions: list[_Partition], chunk_bytes: int
) -> Iterator[pa.Table | _ParquetFile | _LineCounts]:
    """What a pass inserts, in file order: batches of NDJSON lines, Parquet files, then the line counts.

    Pure reading (no DuckDB), so that it can run ahead of the inserts in a thread of its own.
    """
    batch = _Batch()
    lines_by_partition: dict[int, int] = {}
    file_index = 0
    for partition_index, partition in enumerate(partitions):
        lines_by_partition[partition_index] = 0
        for path in partition.paths:
            if path.name.endswith(PARQUET_SUFFIXES):
                yield _ParquetFile(partition_index, file_index, path)
            else:
                lines_before = batch.lines_added
                yield from _read_ndjson(path, file_index, batch, chunk_bytes)
                lines_by_partition[partition_index] += batch.lines_added - lines_before
            file_index += 1
    if batch.tables:
        yield batch.take()
    yield _LineCounts(lines_by_partition)


def _read_ahead(items: Iterator[_T], name: str) -> Iterator[_T]:
    """`items`, produced in a background thread one item ahead of the consumer.

    The reader's gzip inflation and line cutting (a fifth of a full load at 10M events, all on one core)
    then overlap DuckDB's parse of the previous batch: zlib and DuckDB release the GIL. An exception of
    the reader is raised here, in the consumer; a consumer that stops early stops the reader.
    """
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(entry: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put(("error", exc))

    reader = threading.Thread(target=produce, name=name, daemon=True)
    reader.start()
    try:
        while True:
            kind, value = slots.get()
            if kind == "done":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        reader.join()


def _parquet_column_expression(name: str, type_name: str) -> str:
    column = _ident(name)
    if name == "properties" and type_name == "VARCHAR":
        return (
            f"case when json_valid({column}) and json_type({column}::json) = 'OBJECT' "
            f"then {column}::json else to_json({column}) end"
        )
    if type_name.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"strftime({column} at time zone 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ')"
    return column


def _load_parquet(con: duckdb.DuckDBPyConnection, path: Path, file_index: int, loaded_at: datetime) -> int:
    """Validate and append the rows of a Parquet file (a row is a line); return the row count."""
    try:
        schema = con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()
        fields = ", ".join(
            f"{_quote(name)}: {_parquet_column_expression(name, type_name)}"
            for name, type_name, *_ in schema
            if name != "file_row_number"
        )
        con.execute(
            f"""
            create or replace temp table _chunk as
            select
                {int(file_index)}::integer as file_index,
                file_row_number + 1 as line_number,
                encode(to_json({{{fields}}})::varchar) as line
            from read_parquet(?, file_row_number = true)
            """,
            [str(path)],
        )
    except duckdb.Error as exc:
        raise LoadError(f"{path}: cannot be read as Parquet ({exc})") from exc
    ((rows,),) = con.execute("select count(*) from _chunk").fetchall()
    _insert_parsed(con, loaded_at)
    con.execute("drop table _chunk")
    return int(rows)


def _mark_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute `_is_duplicate` for every event_id the pass's partitions hold or held (decision R8).

    One ranking for the whole pass. The flags that change are kept in `_flipped` (with the new flag):
    a copy of another partition that stopped or started being the winning one is a change for
    incremental runs.
    """
    con.execute(
        f"""
        create or replace temp table _affected_ids as
        select event_id from raw.chat_events where {IN_PASS}
        union
        select event_id from _previous_ids
        """
    )
    rank_order = ", ".join(DUPLICATE_RANK_ORDER)
    con.execute(
        f"""
        create or replace temp table _flipped as
        with contested as (
            -- Only ids with several copies, or a flagged single copy, are ranked: a hash count
            -- instead of sorting every event.
            select event_id
            from raw.chat_events
            where event_id in (select event_id from _affected_ids)
            group by event_id
            having count(*) > 1 or bool_or(_is_duplicate)
        ),
        ranked as (
            select
                {CHANGE_KEY_COLUMNS}, _source_file, _line_number, _is_duplicate,
                row_number() over (partition by event_id order by {rank_order}) > 1 as is_later_copy
            from raw.chat_events
            where event_id in (select event_id from contested)
        )
        select {CHANGE_KEY_COLUMNS}, _source_file, _line_number, is_later_copy as new_is_duplicate
        from ranked
        where is_later_copy <> _is_duplicate
        """
    )
    con.execute(
        """
        update raw.chat_events as e
        set _is_duplicate = f.new_is_duplicate
        from _flipped as f
        where e._arrival_date = f._arrival_date
            and e._source_file = f._source_file
            and e._line_number = f._line_number
        """
    )


def _record_changes(con: duckdb.DuckDBPyConnection, load_seq: int) -> int:
    """Write the pass's changes to raw.event_changes under `load_seq`; return the rows written.

    A change is a winning copy removed (the partitions' winners before the pass, copies elsewhere that
    lost) or added (the partitions' winners after the pass, copies elsewhere that won). A reload rewrites
    the partitions' lineage (`_load_id`), so their winners count as changed too.

    No `distinct`: the three parts cannot repeat a row (an event_id has one winner before the pass and one
    after; the first two parts are inside the pass, the third outside it). The hash it cost was a quarter of
    this step at 10M events (8.9 s -> 6.7 s).
    """
    ((written,),) = con.execute(
        f"""
        insert into raw.event_changes
        select $seq, change_type, {CHANGE_KEY_COLUMNS}
        from (
            select 'removed' as change_type, {CHANGE_KEY_COLUMNS} from _removed_winners
            union all
            select 'added', {CHANGE_KEY_COLUMNS} from raw.chat_events where {IN_PASS} and not _is_duplicate
            union all
            select case when new_is_duplicate then 'removed' else 'added' end, {CHANGE_KEY_COLUMNS}
            from _flipped
            where not {IN_PASS}
        )
        """,
        {"seq": load_seq},
    ).fetchall()
    return int(written)


def _count(con: duckdb.DuckDBPyConnection, results: list[LoadResult]) -> None:
    """Each partition's rows as the warehouse holds them (valid, duplicates, quarantined by reason)."""
    if not results:
        return
    dates = [result.arrival_date for result in results]
    valid = {
        day: (int(rows), int(duplicates))
        for day, rows, duplicates in con.execute(
            "select _arrival_date, count(*), count(*) filter (where _is_duplicate) from raw.chat_events "
            "where _arrival_date in (select unnest($dates)) group by 1",
            {"dates": dates},
        ).fetchall()
    }
    reasons: dict[date, dict[str, int]] = {}
    for day, reason, rows in con.execute(
        "select _arrival_date, reason, count(*) from raw.quarantined_events "
        "where _arrival_date in (select unnest($dates)) group by 1, 2 order by 1, 2",
        {"dates": dates},
    ).fetchall():
        reasons.setdefault(day, {})[reason] = int(rows)
    for result in results:
        result.valid_rows, result.duplicate_rows = valid.get(result.arrival_date, (0, 0))
        result.quarantine_reasons = reasons.get(result.arrival_date, {})
        result.quarantined_rows = sum(result.quarantine_reasons.values())


def _last_loads(con: duckdb.DuckDBPyConnection, dates: list[date]) -> dict[date, tuple[str, int]]:
    """(fingerprint, lines read) of each date's last load, in one query."""
    rows = con.execute(
        "select arrival_date, arg_max(files_fingerprint, load_seq), arg_max(lines_read, load_seq) "
        "from raw.load_log where arrival_date in (select unnest($dates)) group by 1",
        {"dates": dates},
    ).fetchall()
    return {day: (fingerprint, int(lines)) for day, fingerprint, lines in rows}


def _replace_partitions(
    con: duckdb.DuckDBPyConnection, partitions: list[_Partition], chunk_bytes: int
) -> None:
    """Replace the partitions' rows with their files' lines, in the caller's transaction."""
    loaded_at = datetime.now(UTC)
    files: list[tuple[int, date, str, str]] = []
    for partition in partitions:
        for source_file in partition.result.files:
            files.append((len(files), partition.result.arrival_date, source_file, partition.result.load_id))
    con.register(
        "_files_input",
        pa.table(
            {
                "file_index": pa.array([f[0] for f in files], pa.int32()),
                "_arrival_date": pa.array([f[1] for f in files], pa.date32()),
                "_source_file": pa.array([f[2] for f in files], pa.string()),
                "_load_id": pa.array([f[3] for f in files], pa.string()),
            }
        ),
    )
    # A partition without files (an empty folder) is replaced by nothing: it needs a row all the same.
    con.execute(
        "create or replace temp table _files as select * from _files_input union all "
        "select null::integer, d, null, null from unnest($dates) as t(d) "
        "where d not in (select _arrival_date from _files_input)",
        {"dates": [p.result.arrival_date for p in partitions]},
    )
    con.unregister("_files_input")
    con.execute(
        f"create or replace temp table _previous_ids as select distinct event_id from raw.chat_events where {IN_PASS}"
    )
    con.execute(
        f"create or replace temp table _removed_winners as select {CHANGE_KEY_COLUMNS} "
        f"from raw.chat_events where {IN_PASS} and not _is_duplicate"
    )
    con.execute(f"delete from raw.chat_events where {IN_PASS}")
    con.execute(f"delete from raw.quarantined_events where {IN_PASS}")

    parquet_rows = [0] * len(partitions)
    for item in _read_ahead(_pass_inputs(partitions, chunk_bytes), name="raw-reader"):
        if isinstance(item, _ParquetFile):
            parquet_rows[item.partition_index] += _load_parquet(con, item.path, item.file_index, loaded_at)
        elif isinstance(item, _LineCounts):
            for index, partition in enumerate(partitions):
                partition.result.lines_read = item.by_partition[index] + parquet_rows[index]
        else:
            _insert_lines(con, item, loaded_at)


def _passes(partitions: list[_Partition], pass_bytes: int) -> Iterator[list[_Partition]]:
    """Consecutive groups of partitions holding about `pass_bytes` of files each (at least one partition).

    One transaction per group: a pass's uncommitted rows and its temp tables are held by DuckDB until
    it commits, so a full build of 10M events in one pass reached 9 GiB; a bounded pass keeps the
    memory of a load independent of the range while a backfill of small folders is still one pass.
    """
    group: list[_Partition] = []
    size = 0
    for partition in partitions:
        partition_size = sum(path.stat().st_size for path in partition.paths)
        if group and size + partition_size > pass_bytes:
            yield group
            group, size = [], 0
        group.append(partition)
        size += partition_size
    if group:
        yield group


def _load_pass(con: duckdb.DuckDBPyConnection, to_load: list[_Partition], chunk_bytes: int) -> None:
    """Replace the partitions `to_load` in one transaction, with their load_log rows and the changes."""
    con.execute("begin transaction")
    try:
        started_at = datetime.now(UTC)
        _replace_partitions(con, to_load, chunk_bytes)
        _mark_duplicates(con)
        ((first_seq,),) = con.execute("select coalesce(max(load_seq), 0) + 1 from raw.load_log").fetchall()
        for offset, partition in enumerate(to_load):
            partition.result.load_seq = int(first_seq) + offset
        last_seq = int(first_seq) + len(to_load) - 1
        changes = _record_changes(con, last_seq)
        _count(con, [p.result for p in to_load])
        for partition in to_load:
            result = partition.result
            # Changes are recorded for the pass; each loaded partition reports the pass's count.
            result.event_changes = changes
            if result.valid_rows + result.quarantined_rows != result.lines_read:
                raise LoadError(
                    f"{result.folder}: {result.lines_read} lines read but {result.valid_rows} valid and "
                    f"{result.quarantined_rows} quarantined rows written; nothing was loaded"
                )
        _log_loads(con, [p.result for p in to_load], [len(p.paths) for p in to_load], started_at)
        for table in ("_files", "_previous_ids", "_removed_winners", "_affected_ids", "_flipped"):
            con.execute(f"drop table {table}")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def load_partitions(
    warehouse: Path,
    landing_dir: Path,
    arrival_dates: Iterable[date],
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    pass_bytes: int = DEFAULT_PASS_BYTES,
    lock_timeout_seconds: float = 0.0,
    force: bool = False,
) -> list[LoadResult]:
    """Replace raw partitions `arrival_dates` with the files of `<landing_dir>/<date>/`, in few passes.

    A pass is one transaction over consecutive partitions holding about `pass_bytes` of files
    (decision O21): their files are read and validated in batches of about `chunk_bytes` whatever
    their partition, duplicates are ranked once and the changes recorded once; a failure (it names the
    file) leaves the partitions of its pass exactly as they were, and stops the load. Each loaded
    partition gets its row in `raw.load_log` and its own load sequence number; the changes carry the
    pass's last.

    An absent folder loads nothing and leaves an earlier load of the partition in place
    (decision R10): a purged landing zone must not erase the warehouse's history. Files identical to
    the partition's last load are not reloaded unless `force` (decision O10): a rerun changes nothing.
    Results come in the order of `arrival_dates`.
    """
    partitions: list[_Partition] = []
    for arrival_date in arrival_dates:
        folder = landing_dir / arrival_date.isoformat()
        result = LoadResult(
            arrival_date=arrival_date, folder=folder, folder_exists=folder.is_dir(), load_id=uuid.uuid4().hex
        )
        paths = partition_files(folder)
        result.files = [f"{arrival_date.isoformat()}/{path.name}" for path in paths]
        partitions.append(_Partition(result, paths))
    present = [p for p in partitions if p.result.folder_exists]
    with open_warehouse(warehouse, lock_timeout_seconds=lock_timeout_seconds) as con:
        ensure_raw_schema(con)
        if not present:
            return [p.result for p in partitions]
        last_loads = _last_loads(con, [p.result.arrival_date for p in present])
        to_load = []
        for partition in present:
            result = partition.result
            result.fingerprint = files_fingerprint(result.folder, partition.paths)
            last_load = last_loads.get(result.arrival_date)
            if not force and last_load is not None and last_load[0] == result.fingerprint:
                result.unchanged = True
                result.lines_read = last_load[1]
            else:
                to_load.append(partition)
        _count(con, [p.result for p in present if p.result.unchanged])
        for group in _passes(to_load, pass_bytes):
            _load_pass(con, group, chunk_bytes)
    return [p.result for p in partitions]


def _log_loads(
    con: duckdb.DuckDBPyConnection, results: list[LoadResult], files_read: list[int], started_at: datetime
) -> None:
    """One `raw.load_log` row per loaded partition."""
    con.register(
        "_load_log_rows",
        pa.table(
            {
                "load_id": [r.load_id for r in results],
                "arrival_date": pa.array([r.arrival_date for r in results], pa.date32()),
                "files_read": pa.array(files_read, pa.int32()),
                "lines_read": pa.array([r.lines_read for r in results], pa.int64()),
                "valid_rows": pa.array([r.valid_rows for r in results], pa.int64()),
                "quarantined_rows": pa.array([r.quarantined_rows for r in results], pa.int64()),
                "duplicate_rows": pa.array([r.duplicate_rows for r in results], pa.int64()),
                "load_seq": pa.array([r.load_seq for r in results], pa.int64()),
                "files_fingerprint": [r.fingerprint for r in results],
            }
        ),
    )
    try:
        con.execute(
            """
            insert into raw.load_log (
                load_id, arrival_date, started_at, finished_at, files_read, lines_read,
                valid_rows, quarantined_rows, duplicate_rows, load_seq, files_fingerprint
            )
            select
                load_id, arrival_date, $started_at, now(), files_read, lines_read,
                valid_rows, quarantined_rows, duplicate_rows, load_seq, files_fingerprint
            from _load_log_rows
            """,
            {"started_at": started_at},
        )
    finally:
        con.unregister("_load_log_rows")


def load_partition(
    warehouse: Path,
    landing_dir: Path,
    arrival_date: date,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    lock_timeout_seconds: float = 0.0,
    force: bool = False,
) -> LoadResult:
    """Replace raw partition `arrival_date` with the files of `<landing_dir>/<arrival_date>/` (a pass of one)."""
    (result,) = load_partitions(
        warehouse,
        landing_dir,
        [arrival_date],
        chunk_bytes=chunk_bytes,
        lock_timeout_seconds=lock_timeout_seconds,
        force=force,
    )
    return result
