"""Loading one arrival-date partition of the landing zone into the Spark warehouse's raw layer.

The same contract as the DuckDB loader (`orchestration/raw_events.py`): the quarantine reasons and their
order are rendered from `orchestration/raw_contract.py`, duplicates are flagged by the same rank
(arrival date, file, line; decision R8), every row carries its lineage, a load replaces its whole
partition, and valid + quarantined rows = lines read. Spark parses every line (NDJSON, gzip'ed NDJSON,
Parquet converted to JSON lines like the DuckDB loader does); Python only lists files and moves folders.

The raw layer is Parquet under `<spark warehouse>/raw/`, one folder per partition, which dbt's Spark
runs register as tables (`raw.chat_events`, `raw.quarantined_events`, `raw.load_log`):

    raw/chat_events/_arrival_date=<date>/part-*.parquet
    raw/quarantined_events/_arrival_date=<date>/part-*.parquet
    raw/load_log/load-<load_seq>-<load_id>.parquet      one row per load that wrote a partition
    raw/.staging/<load_id>/...                          a load's output before its commit
    raw/.journal/<load_id>.json                         the commit: the folders to move into place

A load writes everything into `.staging/` first; its commit is the journal's rename, after which the
staged folders are renamed over the live ones. A load killed before the journal leaves nothing but
staging files; one killed after it is rolled forward by the next load (or dbt run). One process at a
time holds `<spark warehouse>/.lock` (loads, dbt runs and publications alike).

Not written on Spark: `raw.event_changes` (the change log of incremental runs): every Spark dbt run is a
full build (README, docs/scaling.md).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.config import Settings
from orchestration.raw_contract import (
    KNOWN_FIELDS,
    QUARANTINED_TEXT_LIMIT,
    RFC3339_PATTERN,
    SPARK,
    quote,
    reason_case,
    spark_schema_ddl,
)
from orchestration.raw_events import (
    PARQUET_SUFFIXES,
    LoadError,
    LoadResult,
    files_fingerprint,
    partition_files,
)
from orchestration.warehouse import WarehouseLockedError

# Part of every Spark partition's fingerprint (with the DuckDB loader's version): bump it when a change
# of this loader changes what a file loads as.
SPARK_LOADER_VERSION = 1
RAW_DIR = "raw"
LOCK_FILE = ".lock"
TABLES = ("chat_events", "quarantined_events", "load_log", "event_changes")
_STRING_LITERAL = r'"(?:[^"\\]|\\.)*"'
_GLOB_CHARS = "\\*?[]{}"


# ---------------------------------------------------------------------------------------------------
# Layout, lock, commit
# ---------------------------------------------------------------------------------------------------


def raw_root(spark_warehouse: Path) -> Path:
    return spark_warehouse / RAW_DIR


def table_dir(spark_warehouse: Path, table: str) -> Path:
    return raw_root(spark_warehouse) / table


def partition_dir(spark_warehouse: Path, table: str, arrival_date: date) -> Path:
    return table_dir(spark_warehouse, table) / f"_arrival_date={arrival_date.isoformat()}"


@contextmanager
def warehouse_lock(spark_warehouse: Path, timeout_seconds: float = 0.0) -> Iterator[None]:
    """The Spark warehouse's single-writer lock (an OS lock: it dies with its process)."""
    spark_warehouse.mkdir(parents=True, exist_ok=True)
    with open(spark_warehouse / LOCK_FILE, "a+") as handle:
        deadline = time.monotonic() + timeout_seconds
        delay = 0.1
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseLockedError(
                        f"the Spark warehouse {spark_warehouse} is locked by another process: "
                        "wait for that run to finish (or stop it) and try again"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _apply_moves(raw: Path, moves: list[tuple[str, str]]) -> None:
    """Rename each staged path over its live path (idempotent: a move already done is skipped)."""
    trash = raw / ".trash"
    for staged_name, live_name in moves:
        staged, live = raw / staged_name, raw / live_name
        if not staged.exists():
            continue
        if live.exists():
            trash.mkdir(parents=True, exist_ok=True)
            os.replace(live, trash / uuid.uuid4().hex)
        live.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, live)
    shutil.rmtree(trash, ignore_errors=True)


def recover(spark_warehouse: Path) -> list[str]:
    """Finish the commits a killed load left (journals), drop its staging files; return the load ids."""
    raw = raw_root(spark_warehouse)
    finished = []
    journal_dir = raw / ".journal"
    if journal_dir.is_dir():
        for journal in sorted(journal_dir.glob("*.json")):
            moves = [tuple(move) for move in json.loads(journal.read_text())["moves"]]
            _apply_moves(raw, moves)  # type: ignore[arg-type]
            journal.unlink()
            finished.append(journal.stem)
    shutil.rmtree(raw / ".staging", ignore_errors=True)
    shutil.rmtree(raw / ".trash", ignore_errors=True)
    return finished


def _commit(raw: Path, load_id: str, moves: list[tuple[str, str]]) -> None:
    journal_dir = raw / ".journal"
    journal_dir.mkdir(parents=True, exist_ok=True)
    tmp = journal_dir / f".{load_id}.json.tmp"
    with open(tmp, "w") as handle:
        json.dump({"load_id": load_id, "moves": moves}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, journal_dir / f"{load_id}.json")  # the commit point
    _fsync_dir(journal_dir)
    _apply_moves(raw, moves)
    (journal_dir / f"{load_id}.json").unlink()


# ---------------------------------------------------------------------------------------------------
# Reading the raw layer's bookkeeping (small files, read with DuckDB without a Spark job)
# ---------------------------------------------------------------------------------------------------


def _parquet_files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*.parquet") if not p.name.startswith((".", "_")))


def _duck() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    return con


def last_load(spark_warehouse: Path, arrival_date: date) -> tuple[str, int] | None:
    """(files_fingerprint, lines_read) of the partition's last load, if any."""
    files = _parquet_files(table_dir(spark_warehouse, "load_log"))
    if not files:
        return None
    with _duck() as con:
        row = con.execute(
            "select files_fingerprint, lines_read from read_parquet(?) where arrival_date = ? "
            "order by load_seq desc limit 1",
            [files, arrival_date],
        ).fetchone()
    return (str(row[0]), int(row[1])) if row else None


def _next_load_seq(spark_warehouse: Path) -> int:
    files = _parquet_files(table_dir(spark_warehouse, "load_log"))
    if not files:
        return 1
    with _duck() as con:
        (seq,) = con.execute("select coalesce(max(load_seq), 0) + 1 from read_parquet(?)", [files]).fetchone()
    return int(seq)


def _count(spark_warehouse: Path, result: LoadResult) -> None:
    """Valid, duplicate and quarantined rows of the live partition."""
    valid_files = _parquet_files(partition_dir(spark_warehouse, "chat_events", result.arrival_date))
    quarantined_files = _parquet_files(
        partition_dir(spark_warehouse, "quarantined_events", result.arrival_date)
    )
    with _duck() as con:
        if valid_files:
            valid, duplicates = con.execute(
                "select count(*), count(*) filter (where _is_duplicate) from read_parquet(?)", [valid_files]
            ).fetchone()
        else:
            valid, duplicates = 0, 0
        reasons = (
            con.execute(
                "select reason, count(*) from read_parquet(?) group by reason order by reason",
                [quarantined_files],
            ).fetchall()
            if quarantined_files
            else []
        )
    result.valid_rows = int(valid)
    result.duplicate_rows = int(duplicates)
    result.quarantine_reasons = {reason: int(n) for reason, n in reasons}
    result.quarantined_rows = sum(result.quarantine_reasons.values())


# ---------------------------------------------------------------------------------------------------
# The parse: lines -> the contract's columns -> reason (rendered from raw_contract)
# ---------------------------------------------------------------------------------------------------


def _lit(value: str) -> str:
    """A Spark SQL string literal of `value`: Spark reads backslashes in literals as escapes."""
    return quote(value.replace("\\", "\\\\"))


_RFC3339_LITERAL = _lit(RFC3339_PATTERN)
_FRACTION_LITERAL = _lit(r"(\.\d{6})\d+")
_OBJECT_START_LITERAL = _lit(r"^[ \t\r\n]*\{")
_OBJECT_END_LITERAL = _lit(r"\}[ \t\r\n]*$")
_UNICODE_ESCAPE_LITERAL = _lit("\\u")
_OFFSET_LITERAL = _lit(r"(Z|[+-]\d{2}:\d{2})$")


def _type_of(name: str) -> str:
    """The JSON type of field `name` in DuckDB's json_type vocabulary (null when the field is absent)."""
    return f"""case
                when v_{name} is null then null
                when s_{name} is null then 'NULL'
                when s_{name} = 'STRING' then 'VARCHAR'
                when startswith(s_{name}, 'OBJECT') then 'OBJECT'
                when startswith(s_{name}, 'ARRAY') then 'ARRAY'
                else s_{name}
            end"""


def _braces(text: str) -> str:
    return f"(length({text}) - length(replace({text}, '}}', '')))"


def _blanked_braces(text: str) -> str:
    blanked = f"regexp_replace({text}, {_lit(_STRING_LITERAL)}, '\"\"')"
    return _braces(blanked)


# Spark's JSON parser reads the first value of a line and ignores what follows it, where DuckDB's rejects
# the line: `{...} x`, `{...}{...}`, `{...},{...}`. A line is one object when it ends with `}` (JSON white
# space after it) and has as many closing braces as the re-serialized object: what follows the object
# always adds one. Braces inside strings count the same on both sides unless a string escapes one as
# \u007d, so lines with a \u escape count braces outside string literals only.
_SINGLE_OBJECT = f"""(
            txt rlike {_OBJECT_END_LITERAL}
            and case
                when contains(txt, {_UNICODE_ESCAPE_LITERAL}) then {_blanked_braces("txt")} = {_blanked_braces("to_json(j0)")}
                else {_braces("txt")} = {_braces("to_json(j0)")}
            end
        )"""


def _undecodable(column: str) -> str:
    """DuckDB's text of a BLOB: printable ASCII as is except quotes and backslash, every other byte as \\xHH."""
    byte = f"substr(cast({column} as binary), i, 1)"
    code = f"cast(conv(hex({byte}), 16, 10) as int)"
    return (
        f"array_join(transform(sequence(1, octet_length({column})), i -> "
        f"case when {code} between 32 and 126 and {code} not in (34, 39, 92) then decode({byte}, 'US-ASCII') "
        f"else concat({_lit(chr(92) + 'x')}, hex({byte})) end), '')"
    )


def parse_sql(arrival_date: date) -> str:
    """Spark SQL over view `_lines` (source_file, line_number, line): the contract's columns and reason."""
    known = ", ".join(quote(name) for name in KNOWN_FIELDS)
    # Each field's variant and schema once (v_, s_), then its type and value in DuckDB's terms.
    variants = ",\n            ".join(f"try_variant_get(j, '$.{name}') as v_{name}" for name in KNOWN_FIELDS)
    schemas = ",\n            ".join(
        f"case when v_{name} is not null and not is_variant_null(v_{name}) "
        f"then schema_of_variant(v_{name}) end as s_{name}"
        for name in KNOWN_FIELDS
    )
    fields = []
    for name in KNOWN_FIELDS:
        fields.append(f"{_type_of(name)} as t_{name}")
        if name == "properties":
            fields.append(f"case when startswith(s_{name}, 'OBJECT') then to_json(v_{name}) end as {name}")
        else:
            fields.append(
                f"case when s_{name} is not null then try_variant_get(v_{name}, '$', 'string') end as {name}"
            )
    field_sql = ",\n            ".join(fields)
    return f"""
    with decoded as (
        select
            source_file,
            line_number,
            octet_length(line) as raw_line_bytes,
            case when is_valid_utf8(line) then line end as txt,
            case when not is_valid_utf8(line) then left({_undecodable("line")}, {QUARANTINED_TEXT_LIMIT}) end
                as undecodable
        from _lines
    ),
    parsed as (
        select *, case when txt is not null then try_parse_json(txt) end as j0
        from decoded
    ),
    single as (
        select *, case when j0 is not null and {_SINGLE_OBJECT} then j0 end as j
        from parsed
    ),
    field_variants as (
        select *, {variants}
        from single
    ),
    field_schemas as (
        select *, {schemas}
        from field_variants
    ),
    typed as (
        select
            *,
            case
                when j is null then null
                when startswith(txt, '{{') or txt rlike {_OBJECT_START_LITERAL} then 'OBJECT'
                else 'OTHER'
            end as root_type,
            {field_sql}
        from field_schemas
    ),
    timed as (
        select
            *,
            -- Spark's own cast refuses offsets beyond 18:00, which RFC 3339 (and DuckDB) allow up to
            -- 23:59: the wall-clock part is read as UTC, then the offset is subtracted.
            case when t_occurred_at = 'VARCHAR' and occurred_at rlike {_RFC3339_LITERAL}
                then timestampadd(
                    SECOND,
                    case when endswith(upper(occurred_at), 'Z') then 0
                        else (case when substr(occurred_at, -6, 1) = '-' then 1 else -1 end)
                            * (cast(substr(occurred_at, -5, 2) as int) * 3600 + cast(substr(occurred_at, -2, 2) as int) * 60)
                    end,
                    try_cast(
                        regexp_replace(
                            regexp_replace(upper(occurred_at), {_OFFSET_LITERAL}, ''), {_FRACTION_LITERAL}, '$1'
                        ) as timestamp
                    )
                )
            end as occurred_at_utc,
            -- the object of the unknown fields, only built for the lines that have some
            case when j is not null and exists(json_object_keys(txt), k -> k not in ({known}))
                then to_json(map_filter(
                    try_variant_get(j, '$', 'map<string, variant>'), (k, v) -> k not in ({known})
                ))
            end as extra_fields
        from typed
    ),
    reasoned as (
        select *, {reason_case(SPARK, arrival_date)} as reason
        from timed
    )
    select
        source_file,
        line_number,
        raw_line_bytes,
        event_id, occurred_at, occurred_at_utc, customer_id, channel, event_type,
        sender, message_type, handover_id, agent_id, department, flow_type, text, properties, extra_fields,
        reason,
        case when reason is not null then coalesce(left(txt, {QUARANTINED_TEXT_LIMIT}), undecodable) end
            as raw_line
    from reasoned
    """


def _escape_glob(path: Path) -> str:
    text = str(path)
    for char in _GLOB_CHARS:
        text = text.replace(char, "\\" + char)
    return text


def _ndjson_lines(spark, paths: list[Path], names: dict[str, str]):
    """(source_file, line_number, line) of NDJSON files: Spark splits big files, lines keep their number.

    Within one split rows come in file order with consecutive ids; a line's number is the count of lines
    of the file's earlier splits plus its place in its split.
    """
    text = (
        spark.read.option("lineSep", "\n")
        .text([_escape_glob(p) for p in paths])
        .selectExpr(
            "value as line",
            "_metadata.file_name as file_name",
            "_metadata.file_block_start as block_start",
            "monotonically_increasing_id() as row_id",
        )
    )
    text.createOrReplaceTempView("_text")
    mapping = ", ".join(f"{quote(k)}, {quote(v)}" for k, v in names.items())
    return spark.sql(
        f"""
        with blocks as (
            select file_name, block_start, min(row_id) as first_row_id, count(*) as line_count
            from _text
            group by file_name, block_start
        ),
        offsets as (
            select
                file_name,
                block_start,
                first_row_id,
                coalesce(sum(line_count) over (
                    partition by file_name order by block_start
                    rows between unbounded preceding and 1 preceding
                ), 0) as lines_before
            from blocks
        )
        select
            element_at(map({mapping}), _text.file_name) as source_file,
            offsets.lines_before + (_text.row_id - offsets.first_row_id) + 1 as line_number,
            _text.line
        from _text
        inner join offsets
            on _text.file_name = offsets.file_name and _text.block_start = offsets.block_start
        """
    )


def _parquet_lines(spark, path: Path, source_file: str):
    """A Parquet file's rows as JSON lines, as the DuckDB loader builds them (row number = line number)."""
    from pyspark.sql.types import StringType, TimestampType

    try:
        frame = spark.read.parquet(_escape_glob(path))
        fields = []
        for spark_field in frame.schema.fields:
            column = f"`{spark_field.name.replace('`', '``')}`"
            if spark_field.name == "properties" and isinstance(spark_field.dataType, StringType):
                expression = (
                    f"case when startswith(schema_of_variant(try_parse_json({column})), 'OBJECT') "
                    f"then try_parse_json({column}) else cast({column} as variant) end"
                )
            elif isinstance(spark_field.dataType, TimestampType):
                expression = f"date_format({column}, \"yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'\")"
            else:
                expression = column
            fields.append(f"{quote(spark_field.name)}, {expression}")
        return frame.selectExpr(
            f"{quote(source_file)} as source_file",
            "_metadata.row_index + 1 as line_number",
            f"to_json(named_struct({', '.join(fields)}), map('ignoreNullFields', 'false')) as line",
        )
    except Exception as exc:  # Spark raises its own exception types through py4j
        raise LoadError(f"{path}: cannot be read as Parquet ({_first_line(exc)})") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}"


def _find_unreadable(spark, paths: list[Path], exc: BaseException) -> LoadError:
    """Name the file that made the partition's read fail (only runs after a failure)."""
    for path in paths:
        if path.name.endswith(PARQUET_SUFFIXES):
            continue
        try:
            spark.read.option("lineSep", "\n").text(_escape_glob(path)).count()
        except Exception as file_exc:  # noqa: BLE001 - any failure of this file is the culprit
            return LoadError(f"{path}: cannot be read ({_first_line(file_exc)})")
    return LoadError(f"{paths[0].parent}: the partition cannot be read ({_first_line(exc)})")


# ---------------------------------------------------------------------------------------------------
# The load
# ---------------------------------------------------------------------------------------------------


def _fingerprint(folder: Path, files: list[Path]) -> str:
    inner = files_fingerprint(folder, files)
    return hashlib.sha256(f"spark loader {SPARK_LOADER_VERSION}\n{inner}".encode()).hexdigest()


def load_partition(
    settings: Settings,
    arrival_date: date,
    *,
    lock_timeout_seconds: float = 0.0,
    force: bool = False,
) -> LoadResult:
    """Replace raw partition `arrival_date` of the Spark warehouse with `<landing>/<arrival_date>/`'s files.

    An absent folder loads nothing and keeps an earlier load of the partition (decision R10); files
    identical to the partition's last load are not reloaded unless `force` (decision O10).
    """
    landing_dir = settings.landing_dir
    spark_warehouse = settings.spark_warehouse
    folder = landing_dir / arrival_date.isoformat()
    result = LoadResult(
        arrival_date=arrival_date, folder=folder, folder_exists=folder.is_dir(), load_id=uuid.uuid4().hex
    )
    files = partition_files(folder)
    result.files = [f"{arrival_date.isoformat()}/{path.name}" for path in files]
    with warehouse_lock(spark_warehouse, lock_timeout_seconds):
        recover(spark_warehouse)
        if not result.folder_exists:
            return result
        result.fingerprint = _fingerprint(folder, files)
        previous = last_load(spark_warehouse, arrival_date)
        if not force and previous is not None and previous[0] == result.fingerprint:
            result.unchanged = True
            result.lines_read = previous[1]
            _count(spark_warehouse, result)
            return result
        _load(settings, arrival_date, files, result)
        _count(spark_warehouse, result)
    return result


def _load(settings: Settings, arrival_date: date, files: list[Path], result: LoadResult) -> None:
    from orchestration.spark_session import spark_session

    spark = spark_session(settings)
    spark_warehouse = settings.spark_warehouse
    raw = raw_root(spark_warehouse)
    stage_name = f".staging/{result.load_id}"
    stage = raw / stage_name
    stage.mkdir(parents=True)
    loaded_at = datetime.now(UTC)
    day = arrival_date.isoformat()
    try:
        ndjson = [p for p in files if not p.name.endswith(PARQUET_SUFFIXES)]
        parts = []
        if ndjson:
            parts.append(_ndjson_lines(spark, ndjson, {p.name: f"{day}/{p.name}" for p in ndjson}))
        for path in files:
            if path.name.endswith(PARQUET_SUFFIXES):
                parts.append(_parquet_lines(spark, path, f"{day}/{path.name}"))
        if parts:
            lines = parts[0]
            for part in parts[1:]:
                lines = lines.unionByName(part)
        else:
            lines = spark.sql(
                "select cast(null as string) as source_file, 0L as line_number, '' as line where false"
            )
        lines.createOrReplaceTempView("_lines")
        try:
            spark.sql(parse_sql(arrival_date)).write.mode("overwrite").parquet(str(stage / "_parsed"))
        except LoadError:
            raise
        except Exception as exc:  # a corrupt gzip, a truncated file
            raise _find_unreadable(spark, files, exc) from exc
        spark.read.parquet(str(stage / "_parsed")).createOrReplaceTempView("_parsed")
        with _duck() as con:
            ((lines_read,),) = con.execute(
                "select count(*) from read_parquet(?)", [_parquet_files(stage / "_parsed")]
            ).fetchall()

        flipped_dates = _write_partition(spark, settings, arrival_date, result.load_id, loaded_at, stage)
        with _duck() as con:  # counted from the staged files' metadata, without a Spark job
            ((written_valid, duplicates),) = con.execute(
                "select count(*), count(*) filter (where _is_duplicate) from read_parquet(?)",
                [_parquet_files(stage / "chat_events")],
            ).fetchall()
            ((written_quarantined,),) = con.execute(
                "select count(*) from read_parquet(?)", [_parquet_files(stage / "quarantined_events")]
            ).fetchall()
        if written_valid + written_quarantined != lines_read:
            raise LoadError(
                f"{result.folder}: {lines_read} lines read but {written_valid} valid and "
                f"{written_quarantined} quarantined rows written; nothing was loaded"
            )
        result.lines_read = lines_read
        result.load_seq = _next_load_seq(spark_warehouse)
        log_name = f"load-{result.load_seq:012d}-{result.load_id}.parquet"
        (stage / "load_log").mkdir()
        pq.write_table(
            pa.table(
                {
                    "load_id": [result.load_id],
                    "arrival_date": [arrival_date],
                    "started_at": [loaded_at],
                    "finished_at": [datetime.now(UTC)],
                    "files_read": pa.array([len(files)], pa.int32()),
                    "lines_read": [lines_read],
                    "valid_rows": [written_valid],
                    "quarantined_rows": [written_quarantined],
                    "duplicate_rows": [duplicates],
                    "load_seq": [result.load_seq],
                    "files_fingerprint": [result.fingerprint],
                },
                schema=pa.schema(
                    [
                        ("load_id", pa.string()),
                        ("arrival_date", pa.date32()),
                        ("started_at", pa.timestamp("us", tz="UTC")),
                        ("finished_at", pa.timestamp("us", tz="UTC")),
                        ("files_read", pa.int32()),
                        ("lines_read", pa.int64()),
                        ("valid_rows", pa.int64()),
                        ("quarantined_rows", pa.int64()),
                        ("duplicate_rows", pa.int64()),
                        ("load_seq", pa.int64()),
                        ("files_fingerprint", pa.string()),
                    ]
                ),
            ),
            stage / "load_log" / log_name,
        )
        moves = [
            (f"{stage_name}/chat_events", f"chat_events/_arrival_date={day}"),
            (f"{stage_name}/quarantined_events", f"quarantined_events/_arrival_date={day}"),
            *(
                (f"{stage_name}/flipped/_arrival_date={d}", f"chat_events/_arrival_date={d}")
                for d in flipped_dates
            ),
            (f"{stage_name}/load_log/{log_name}", f"load_log/{log_name}"),
        ]
        _commit(raw, result.load_id, moves)
    finally:
        for view in ("_lines", "_text", "_parsed", "_new", "_ranked", "_others"):
            spark.catalog.dropTempView(view)
        shutil.rmtree(stage, ignore_errors=True)


def _write_partition(
    spark, settings: Settings, arrival_date: date, load_id: str, loaded_at: datetime, stage: Path
):
    """Stage the partition's valid and quarantined rows, and the other partitions whose duplicate flags flip.

    Decision R8: copies of an event_id rank by arrival date, file, line; all but the first are duplicates.
    Only the copies elsewhere of the ids this partition holds or held are ranked again.
    """
    spark_warehouse = settings.spark_warehouse
    day = arrival_date.isoformat()
    lineage = f"{quote(load_id)} as _load_id, timestamp '{loaded_at.strftime('%Y-%m-%d %H:%M:%S.%f')}' as _loaded_at"
    spark.sql(
        f"""
        select
            source_file as _source_file,
            line_number as _line_number,
            reason, raw_line, raw_line_bytes,
            {lineage}
        from _parsed
        where reason is not null
        """
    ).selectExpr(
        "_source_file", "_line_number", "raw_line", "raw_line_bytes", "reason", "_load_id", "_loaded_at"
    ).write.parquet(str(stage / "quarantined_events"))

    spark.sql(
        "select event_id, source_file as _source_file, line_number as _line_number from _parsed where reason is null"
    ).createOrReplaceTempView("_new")
    events_dir = table_dir(spark_warehouse, "chat_events")
    own = partition_dir(spark_warehouse, "chat_events", arrival_date)
    others_exist = events_dir.is_dir() and any(
        p.is_dir() and p.name.startswith("_arrival_date=") and p != own for p in events_dir.iterdir()
    )
    if others_exist:
        spark.read.schema(spark_schema_ddl("chat_events")).parquet(str(events_dir)).createOrReplaceTempView(
            "_others"
        )
        elsewhere = f"""
            union all
            select event_id, _arrival_date, _source_file, _line_number, _is_duplicate as stored
            from _others
            where _arrival_date <> date '{day}'
                and event_id in (
                    select event_id from _new
                    union
                    select event_id from _others where _arrival_date = date '{day}'
                )"""
    else:
        elsewhere = ""
    # This partition's copies and the copies elsewhere of the ids it holds or held, ranked.
    spark.sql(
        f"""
        select
            event_id, _arrival_date, _source_file, _line_number, stored,
            row_number() over (
                partition by event_id order by _arrival_date, _source_file, _line_number
            ) > 1 as is_duplicate
        from (
            select event_id, date '{day}' as _arrival_date, _source_file, _line_number,
                cast(null as boolean) as stored
            from _new
            {elsewhere}
        )
        """
    ).createOrReplaceTempView("_ranked")
    spark.sql(
        f"""
        select
            parsed.event_id, parsed.occurred_at, parsed.occurred_at_utc, parsed.customer_id, parsed.channel,
            parsed.event_type, parsed.sender, parsed.message_type, parsed.handover_id, parsed.agent_id,
            parsed.department, parsed.flow_type, parsed.text, parsed.properties, parsed.extra_fields,
            parsed.source_file as _source_file,
            parsed.line_number as _line_number,
            {lineage},
            coalesce(ranked.is_duplicate, false) as _is_duplicate
        from _parsed as parsed
        left join (select * from _ranked where _arrival_date = date '{day}') as ranked
            on parsed.source_file = ranked._source_file and parsed.line_number = ranked._line_number
        where parsed.reason is null
        """
    ).write.parquet(str(stage / "chat_events"))

    if not others_exist:
        return []
    flips = spark.sql(
        f"""
        select _arrival_date, _source_file, _line_number, is_duplicate
        from _ranked
        where _arrival_date <> date '{day}' and is_duplicate <> stored
        """
    )
    flips.createOrReplaceTempView("_flips")
    flipped_dates = sorted({row[0] for row in flips.select("_arrival_date").distinct().collect()})
    columns = [
        name.split("`")[1] for name in spark_schema_ddl("chat_events", without=("_arrival_date",)).split(", ")
    ]
    for flipped in flipped_dates:
        d = flipped.isoformat()
        spark.read.schema(spark_schema_ddl("chat_events", without=("_arrival_date",))).parquet(
            str(partition_dir(spark_warehouse, "chat_events", flipped))
        ).createOrReplaceTempView("_flipped_partition")
        select = ", ".join(
            "coalesce(flips.is_duplicate, events._is_duplicate) as _is_duplicate"
            if name == "_is_duplicate"
            else f"events.`{name}`"
            for name in columns
        )
        spark.sql(
            f"""
            select {select}
            from _flipped_partition as events
            left join (select * from _flips where _arrival_date = date '{d}') as flips
                on events._source_file = flips._source_file and events._line_number = flips._line_number
            """
        ).write.parquet(str(stage / "flipped" / f"_arrival_date={d}"))
    spark.catalog.dropTempView("_flips")
    spark.catalog.dropTempView("_flipped_partition")
    return [d.isoformat() for d in flipped_dates]
