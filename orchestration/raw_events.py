"""Loading one arrival-date partition of the landing zone into `raw.chat_events` (SPEC §2).

Lines are cut with numpy and handed to DuckDB as Arrow binary arrays, so validation and
JSON parsing happen in DuckDB, never per line in Python. The whole partition is replaced in one
transaction: a failure leaves the warehouse exactly as it was.

The same transaction records the load's changes for incremental dbt runs (decision O4): the load
takes the next load sequence number (`raw.load_log.load_seq`) and writes to `raw.event_changes` one
row per winning copy (`not _is_duplicate`) it removed or added, with the keys that tell dbt what to
recompute (thread, instant, handover). New data is thus found by load, never by event time.
"""

from __future__ import annotations

import gzip
import hashlib
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa

# The contract (fields, rules and their order) is written once for both engines: raw_contract.py.
# Its names stay importable from here.
from orchestration.raw_contract import (  # noqa: F401
    DUCKDB,
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

NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".json")
GZIP_SUFFIXES = tuple(s + ".gz" for s in NDJSON_SUFFIXES)
PARQUET_SUFFIXES = (".parquet",)

DEFAULT_CHUNK_BYTES = 128 * 1024 * 1024
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


def _reason_expression(arrival_date: date) -> str:
    return reason_case(DUCKDB, arrival_date)


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


def _parse_sql(arrival_date: date) -> str:
    known = ", ".join(_quote(n) for n in KNOWN_FIELDS)
    return f"""
    create or replace temp table _parsed as
    with decoded as (
        select
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
            {_reason_expression(arrival_date)} as reason
        from timed
    )
    select
        * exclude (txt, undecodable),
        -- Only quarantined lines keep their text: copying every line cost a tenth of the parse.
        case when reason is not null then coalesce(left(txt, {QUARANTINED_TEXT_LIMIT}), undecodable) end as raw_line
    from reasoned
    """


def _insert_parsed(
    con: duckdb.DuckDBPyConnection, arrival_date: date, source_file: str, load_id: str, loaded_at: datetime
) -> int:
    """Validate the lines of `_chunk` and append them to raw; return how many lines it held."""
    con.execute(_parse_sql(arrival_date))
    params = [arrival_date, source_file, load_id, loaded_at]
    con.execute(
        """
        insert into raw.chat_events
        select
            event_id, occurred_at, occurred_at_utc, customer_id, channel, event_type,
            sender, message_type, handover_id, agent_id, department, flow_type, text,
            properties, extra_fields,
            ?, ?, line_number, ?, ?, false
        from _parsed
        where reason is null
        """,
        params,
    )
    con.execute(
        """
        insert into raw.quarantined_events
        select ?, ?, line_number, raw_line, raw_line_bytes, reason, ?, ?
        from _parsed
        where reason is not null
        """,
        params,
    )
    (lines,) = con.execute("select count(*) from _parsed").fetchone()
    con.execute("drop table _parsed")
    return int(lines)


def _load_ndjson(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source_file: str,
    arrival_date: date,
    load_id: str,
    loaded_at: datetime,
    chunk_bytes: int,
) -> int:
    lines_read = 0
    try:
        with _open_lines(path) as stream:
            for first_line, lines in _line_batches(stream, chunk_bytes):
                numbers = pa.array(np.arange(first_line, first_line + len(lines), dtype=np.int64))
                table = pa.table({"line_number": numbers, "line": lines})
                # Several record batches (zero-copy slices): DuckDB scans one batch per thread.
                con.register("_chunk", pa.Table.from_batches(table.to_batches(max_chunksize=SCAN_BATCH_ROWS)))
                try:
                    lines_read += _insert_parsed(con, arrival_date, source_file, load_id, loaded_at)
                finally:
                    con.unregister("_chunk")
    except (OSError, EOFError, zlib.error) as exc:
        raise LoadError(f"{path}: cannot be read ({exc.__class__.__name__}: {exc})") from exc
    return lines_read


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


def _load_parquet(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source_file: str,
    arrival_date: date,
    load_id: str,
    loaded_at: datetime,
) -> int:
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
                file_row_number + 1 as line_number,
                encode(to_json({{{fields}}})::varchar) as line
            from read_parquet(?, file_row_number = true)
            """,
            [str(path)],
        )
    except duckdb.Error as exc:
        raise LoadError(f"{path}: cannot be read as Parquet ({exc})") from exc
    rows = _insert_parsed(con, arrival_date, source_file, load_id, loaded_at)
    con.execute("drop table _chunk")
    return rows


CHANGE_KEY_COLUMNS = "event_id, customer_id, channel, handover_id, occurred_at_utc, _arrival_date"


def _returned_rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> pa.Table:
    """The rows of an `update ... returning` statement as an Arrow table (few rows: flipped copies)."""
    cursor = con.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return pa.Table.from_pylist([dict(zip(names, row, strict=True)) for row in cursor.fetchall()])


def _mark_duplicates(con: duckdb.DuckDBPyConnection, arrival_date: date) -> list[pa.Table]:
    """Recompute `_is_duplicate` for every event_id this partition holds or held (decision R8).

    Returns the rows of other partitions whose flag changed (their new flag included): a copy that
    stopped or started being the winning one is a change for incremental runs.
    """
    flipped: list[pa.Table] = []
    con.execute(
        """
        update raw.chat_events as e
        set _is_duplicate = true
        from (
            select _source_file, _line_number
            from (
                select
                    event_id, _arrival_date, _source_file, _line_number,
                    row_number() over (
                        partition by event_id order by _arrival_date, _source_file, _line_number
                    ) as copy_rank
                from raw.chat_events
                where _arrival_date <= $d
                    -- Only ids with several copies are ranked: a hash count instead of sorting them all.
                    and event_id in (
                        select event_id
                        from raw.chat_events
                        where _arrival_date <= $d
                            and event_id in (select event_id from raw.chat_events where _arrival_date = $d)
                        group by event_id
                        having count(*) > 1
                    )
            )
            where _arrival_date = $d and copy_rank > 1
        ) as later_copy
        where e._arrival_date = $d
            and e._source_file = later_copy._source_file
            and e._line_number = later_copy._line_number
        """,
        {"d": arrival_date},
    )
    # Copies that arrived on later dates lose to this partition's copy.
    flipped.append(
        _returned_rows(
            con,
            f"""
            update raw.chat_events
            set _is_duplicate = true
            where _arrival_date > $d
                and not _is_duplicate
                and event_id in (select event_id from raw.chat_events where _arrival_date = $d)
            returning {CHANGE_KEY_COLUMNS}, _is_duplicate
            """,
            {"d": arrival_date},
        )
    )
    # Events this partition no longer holds: the next copy in line wins again.
    changed_elsewhere = _returned_rows(
        con,
        f"""
        update raw.chat_events as e
        set _is_duplicate = ranked.copy_rank > 1
        from (
            select
                event_id, _arrival_date, _source_file, _line_number,
                row_number() over (
                    partition by event_id order by _arrival_date, _source_file, _line_number
                ) as copy_rank
            from raw.chat_events
            where event_id in (
                select event_id from _previous_ids
                except
                select event_id from raw.chat_events where _arrival_date = $d
            )
        ) as ranked
        where e.event_id = ranked.event_id
            and e._arrival_date = ranked._arrival_date
            and e._source_file = ranked._source_file
            and e._line_number = ranked._line_number
            and e._is_duplicate <> (ranked.copy_rank > 1)
        returning {", ".join("e." + c.strip() for c in CHANGE_KEY_COLUMNS.split(","))}, e._is_duplicate
        """,
        {"d": arrival_date},
    )
    flipped.append(changed_elsewhere)
    return flipped


def _record_changes(
    con: duckdb.DuckDBPyConnection, arrival_date: date, flipped: list[pa.Table]
) -> tuple[int, int]:
    """Write this load's changes to raw.event_changes; return (load_seq, rows written).

    A change is a winning copy removed (the partition's winners before the load, copies elsewhere
    that lost) or added (the partition's winners after the load, copies elsewhere that won). A
    reload rewrites the partition's lineage (`_load_id`), so its winners count as changed too.
    """
    ((load_seq,),) = con.execute("select coalesce(max(load_seq), 0) + 1 from raw.load_log").fetchall()
    parts = [
        f"select 'removed' as change_type, {CHANGE_KEY_COLUMNS} from _removed_winners",
        f"select 'added' as change_type, {CHANGE_KEY_COLUMNS} from raw.chat_events "
        "where _arrival_date = $d and not _is_duplicate",
    ]
    registered = []
    for i, table in enumerate(flipped):
        if table.num_rows:
            registered.append(f"_flipped_{i}")
            con.register(registered[-1], table)
            parts.append(
                f"select case when _is_duplicate then 'removed' else 'added' end, {CHANGE_KEY_COLUMNS} "
                f"from {registered[-1]}"
            )
    try:
        ((written,),) = con.execute(
            f"""
            insert into raw.event_changes
            select distinct $seq, change_type, {CHANGE_KEY_COLUMNS}
            from ({" union all ".join(parts)})
            """,
            {"d": arrival_date, "seq": load_seq},
        ).fetchall()
    finally:
        for name in registered:
            con.unregister(name)
    return int(load_seq), int(written)


def load_partition(
    warehouse: Path,
    landing_dir: Path,
    arrival_date: date,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    lock_timeout_seconds: float = 0.0,
    force: bool = False,
) -> LoadResult:
    """Replace raw partition `arrival_date` with the files of `<landing_dir>/<arrival_date>/`.

    An absent folder loads nothing and leaves an earlier load of the partition in place
    (decision R10): a purged landing zone must not erase the warehouse's history. Files identical
    to the partition's last load are not reloaded unless `force` (decision O10): a rerun changes nothing.
    """
    folder = landing_dir / arrival_date.isoformat()
    result = LoadResult(
        arrival_date=arrival_date, folder=folder, folder_exists=folder.is_dir(), load_id=uuid.uuid4().hex
    )
    files = partition_files(folder)
    result.files = [f"{arrival_date.isoformat()}/{path.name}" for path in files]
    with open_warehouse(warehouse, lock_timeout_seconds=lock_timeout_seconds) as con:
        ensure_raw_schema(con)
        if not result.folder_exists:
            return result
        result.fingerprint = files_fingerprint(folder, files)
        last_load = con.execute(
            "select files_fingerprint, lines_read from raw.load_log where arrival_date = ? "
            "order by load_seq desc limit 1",
            [arrival_date],
        ).fetchone()
        if not force and last_load is not None and last_load[0] == result.fingerprint:
            result.unchanged = True
            result.lines_read = int(last_load[1])
            _count(con, result)
            return result
        loaded_at = datetime.now(UTC)
        con.execute("begin transaction")
        try:
            con.execute(
                "create or replace temp table _previous_ids as "
                "select distinct event_id from raw.chat_events where _arrival_date = ?",
                [arrival_date],
            )
            con.execute(
                f"create or replace temp table _removed_winners as select {CHANGE_KEY_COLUMNS} "
                "from raw.chat_events where _arrival_date = ? and not _is_duplicate",
                [arrival_date],
            )
            con.execute("delete from raw.chat_events where _arrival_date = ?", [arrival_date])
            con.execute("delete from raw.quarantined_events where _arrival_date = ?", [arrival_date])
            lines_read = 0
            for path, source_file in zip(files, result.files, strict=True):
                if path.name.endswith(PARQUET_SUFFIXES):
                    lines_read += _load_parquet(
                        con, path, source_file, arrival_date, result.load_id, loaded_at
                    )
                else:
                    lines_read += _load_ndjson(
                        con, path, source_file, arrival_date, result.load_id, loaded_at, chunk_bytes
                    )
            flipped = _mark_duplicates(con, arrival_date)
            result.load_seq, result.event_changes = _record_changes(con, arrival_date, flipped)
            _count(con, result)
            if result.valid_rows + result.quarantined_rows != lines_read:
                raise LoadError(
                    f"{folder}: {lines_read} lines read but {result.valid_rows} valid and "
                    f"{result.quarantined_rows} quarantined rows written; nothing was loaded"
                )
            result.lines_read = lines_read
            con.execute(
                """
                insert into raw.load_log (
                    load_id, arrival_date, started_at, finished_at, files_read, lines_read,
                    valid_rows, quarantined_rows, duplicate_rows, load_seq, files_fingerprint
                )
                values (?, ?, ?, now(), ?, ?, ?, ?, ?, ?, ?)
                """,
                [
                    result.load_id,
                    arrival_date,
                    loaded_at,
                    len(files),
                    result.lines_read,
                    result.valid_rows,
                    result.quarantined_rows,
                    result.duplicate_rows,
                    result.load_seq,
                    result.fingerprint,
                ],
            )
            con.execute("drop table _previous_ids")
            con.execute("drop table _removed_winners")
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    return result


def _count(con: duckdb.DuckDBPyConnection, result: LoadResult) -> None:
    valid, duplicates = con.execute(
        "select count(*), count(*) filter (where _is_duplicate) from raw.chat_events where _arrival_date = ?",
        [result.arrival_date],
    ).fetchone()
    reasons = con.execute(
        "select reason, count(*) from raw.quarantined_events where _arrival_date = ? group by reason order by reason",
        [result.arrival_date],
    ).fetchall()
    result.valid_rows = int(valid)
    result.duplicate_rows = int(duplicates)
    result.quarantine_reasons = {reason: int(n) for reason, n in reasons}
    result.quarantined_rows = sum(result.quarantine_reasons.values())
