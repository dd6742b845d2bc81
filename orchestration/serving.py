"""Publishing the marts to readers: a read-only DuckDB snapshot and Parquet files, swapped in atomically.

DuckDB lets no other process open a file while one writes it, so BI tools and analysts never read the
warehouse. After every successful build the serving asset copies the `marts` schema into a new file
and renames it over the published one; Parquet files go to a new version folder and a `current`
symlink is switched to it. A reader therefore sees the previous snapshot or the new one, whole, and
never waits for a run: a rename neither takes nor needs DuckDB's lock, and a reader that has the old
file open keeps reading it (its inode lives on until it closes it).

Layout of the serving directory (default `<warehouse folder>/serving`, env `CHAT_ANALYTICS_SERVING_DIR`):

    chat_analytics.duckdb           schemas `marts` (one table per mart) and `meta` (snapshot, tables)
    parquet/current -> <version>    symlink switched atomically; parquet/CURRENT holds the same name
    parquet/<version>/<mart>.parquet and _snapshot.json
    .tmp/                           in-flight files of a publication (never read)
    .publish.lock                   one publisher at a time (an OS lock, released when its process dies)

Customer ids can be pseudonymized in the serving copy only (the warehouse keeps the real ids):
`CHAT_ANALYTICS_PSEUDONYMIZE_CUSTOMERS=1` with a secret `CHAT_ANALYTICS_PSEUDONYMIZATION_KEY` replaces
every `customer_id` column by HMAC-SHA256(key, customer_id) in lower-case hex.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from orchestration.config import ENV_PSEUDONYMIZE, SERVING_FILE, Settings, validate_pseudonymization_key
from orchestration.names import INCREMENTAL_RUNS, RAW_LOAD_LOG

PARQUET_DIR = "parquet"
CURRENT_LINK = "current"
CURRENT_POINTER = "CURRENT"
SNAPSHOT_JSON = "_snapshot.json"
TMP_DIR = ".tmp"
LOCK_FILE = ".publish.lock"
MARTS_SCHEMA = "marts"
META_SCHEMA = "meta"
DEFAULT_KEEP_VERSIONS = 3
# Not marts: dbt's `__dbt_tmp` / `__dbt_backup` relations (left behind when dbt is killed mid-swap) and
# any other bookkeeping table named with a double underscore (e.g. `<model>__removed`).
_NOT_A_MART = re.compile(r"__")
_VERSION = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")

# Reconciliations run on the copy before it is switched in: a copy whose marts disagree with their
# facts (for example taken after a killed dbt build left some marts rebuilt and others not) is never
# published. (name, tables needed, SQL returning one boolean).
CONSISTENCY_CHECKS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "kpi_daily totals equal fct_conversations",
        ("kpi_daily", "fct_conversations"),
        """select
            (select coalesce(sum(total_conversations), 0) from marts.kpi_daily)
                = (select count(*) from marts.fct_conversations)
            and (select coalesce(sum(engaged_conversations), 0) from marts.kpi_daily)
                = (select count(*) from marts.fct_conversations where is_engaged)""",
    ),
    (
        "kpi_daily totals equal fct_handover_requests",
        ("kpi_daily", "fct_handover_requests"),
        """select
            (select coalesce(sum(successful_transfers), 0) from marts.kpi_daily)
                = (select count(received_at) from marts.fct_handover_requests)
            and (select coalesce(sum(closed_conversations), 0) from marts.kpi_daily)
                = (select count(closed_at) from marts.fct_handover_requests)
            and (select coalesce(sum(initial_wait_count), 0) from marts.kpi_daily)
                = (select count(initial_wait_seconds) from marts.fct_handover_requests)""",
    ),
    (
        "transfers_by_outcome counts every request once",
        ("transfers_by_outcome", "fct_handover_requests"),
        """select (select coalesce(sum(handover_requests), 0) from marts.transfers_by_outcome)
            = (select count(*) from marts.fct_handover_requests)""",
    ),
    (
        "conversations_by_channel counts every conversation once",
        ("conversations_by_channel", "fct_conversations"),
        """select (select coalesce(sum(total_conversations), 0) from marts.conversations_by_channel)
            = (select count(*) from marts.fct_conversations)""",
    ),
    (
        "activity_by_weekday_hour counts every engaged conversation and request once",
        ("activity_by_weekday_hour", "fct_conversations", "fct_handover_requests"),
        """select
            (select coalesce(sum(engaged_conversations), 0) from marts.activity_by_weekday_hour)
                = (select count(*) from marts.fct_conversations where is_engaged)
            and (select coalesce(sum(handover_requests), 0) from marts.activity_by_weekday_hour)
                = (select count(*) from marts.fct_handover_requests)""",
    ),
    (
        "closed_by_department counts every closed request once",
        ("closed_by_department", "fct_handover_requests"),
        """select (select coalesce(sum(closed_conversations), 0) from marts.closed_by_department)
            = (select count(closed_at) from marts.fct_handover_requests)""",
    ),
)


class PublishError(RuntimeError):
    """The snapshot could not be published; the previously published one is untouched."""


@dataclass(frozen=True)
class ServingConfig:
    """Where snapshots are published and whether customer ids are pseudonymized there."""

    serving_dir: Path
    pseudonymize_customers: bool = False
    # The secret never appears in a repr, a log, the snapshot or its metadata.
    pseudonymization_key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.pseudonymize_customers:
            validate_pseudonymization_key(self.pseudonymization_key)

    @classmethod
    def from_settings(cls, settings: Settings, key: bytes | None = None) -> ServingConfig:
        """The settings' serving directory and flag; `key` is the secret when pseudonymizing."""
        return cls(
            serving_dir=settings.serving_path,
            pseudonymize_customers=settings.pseudonymize_customers,
            pseudonymization_key=key if settings.pseudonymize_customers else None,
        )

    @property
    def serving_file(self) -> Path:
        return self.serving_dir / SERVING_FILE

    @property
    def parquet_dir(self) -> Path:
        return self.serving_dir / PARQUET_DIR

    @property
    def current_parquet_dir(self) -> Path:
        return self.parquet_dir / CURRENT_LINK


@dataclass(frozen=True)
class Publication:
    version: str
    path: Path
    parquet_dir: Path
    published_at: datetime
    row_counts: dict[str, int]
    pseudonymized: bool
    checks: list[str]


def pseudonymize(customer_id: str, key: bytes) -> str:
    """The pseudonym the serving copy holds for `customer_id` (HMAC-SHA256, lower-case hex)."""
    import hmac

    return hmac.new(key, customer_id.encode(), hashlib.sha256).hexdigest()


def _literal(value: str) -> str:
    """A SQL string literal for a path (DuckDB's ATTACH and COPY take no parameters)."""
    if "\x00" in value:
        raise PublishError(f"{value!r} contains a NUL character")
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _publish_lock(serving_dir: Path, timeout_seconds: float) -> Iterator[None]:
    """One publisher at a time; the OS drops the lock when its holder dies (even by SIGKILL)."""
    with open(serving_dir / LOCK_FILE, "a+") as handle:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PublishError(
                        f"another process is publishing into {serving_dir}; try again when it is done"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _attach_warehouse(con: duckdb.DuckDBPyConnection, warehouse: Path, timeout_seconds: float) -> None:
    """Attach the warehouse read-only, waiting while another process writes it."""
    if not warehouse.exists():
        raise PublishError(f"the warehouse {warehouse} does not exist: nothing to publish")
    deadline = time.monotonic() + timeout_seconds
    delay = 0.1
    while True:
        try:
            con.execute(f"attach {_literal(str(warehouse))} as wh (read_only)")
            return
        except duckdb.Error as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise PublishError(
                    f"the warehouse {warehouse} stayed locked by another process for {timeout_seconds:.0f} s"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _new_version(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]


def _clean_tmp(tmp: Path) -> None:
    """Remove what a publisher killed mid-way left behind (only called under the publish lock)."""
    if tmp.is_dir():
        shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True, exist_ok=True)


def _mart_tables(con: duckdb.DuckDBPyConnection, wanted: list[str] | None) -> list[str]:
    """The relations of the warehouse's `marts` schema to publish: `wanted`, or every mart there."""
    rows = con.execute(
        """
        select table_name from information_schema.tables
        where table_catalog = 'wh' and table_schema = ?
        order by table_name
        """,
        [MARTS_SCHEMA],
    ).fetchall()
    present = [name for (name,) in rows]
    if wanted is None:
        return [name for name in present if not _NOT_A_MART.search(name)]
    missing = sorted(set(wanted) - set(present))
    if missing:
        raise PublishError(
            f"the warehouse has no {MARTS_SCHEMA} table {', '.join(missing)}: build the dbt models first"
        )
    return sorted(set(wanted))


def _pseudonymize_tables(con: duckdb.DuckDBPyConnection, tables: list[str], key: bytes) -> list[str]:
    """Replace customer ids by HMAC-SHA256(key, id) in SQL; return the columns changed."""
    block = 64
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\x00")
    params = {"ipad": bytes(b ^ 0x36 for b in padded), "opad": bytes(b ^ 0x5C for b in padded)}
    changed = []
    for table in tables:
        columns = con.execute(
            """
            select column_name from information_schema.columns
            where table_schema = ? and table_name = ? and data_type = 'VARCHAR'
                and (column_name = 'customer_id' or column_name like '%\\_customer\\_id' escape '\\')
            """,
            [MARTS_SCHEMA, table],
        ).fetchall()
        for (column,) in columns:
            c = _ident(column)
            con.execute(
                f"update {MARTS_SCHEMA}.{_ident(table)} set {c} = "
                f"sha256($opad::blob || unhex(sha256($ipad::blob || encode({c}))))",
                params,
            )
            changed.append(f"{table}.{column}")
    return changed


def _check_consistency(con: duckdb.DuckDBPyConnection, tables: list[str]) -> list[str]:
    passed = []
    for name, needed, sql in CONSISTENCY_CHECKS:
        if not set(needed) <= set(tables):
            continue
        (ok,) = con.execute(sql).fetchone()
        if not ok:
            raise PublishError(
                f"the marts are not consistent ({name} fails): the warehouse holds a half-built state, "
                "so the previous snapshot stays published; rerun the materialization"
            )
        passed.append(name)
    return passed


def _write_metadata(
    con: duckdb.DuckDBPyConnection,
    version: str,
    published_at: datetime,
    row_counts: dict[str, int],
    *,
    run_id: str | None,
    partition_range: tuple[str, str] | None,
    pseudonymized: bool,
    pseudonymized_columns: list[str],
    checks: list[str],
    dbt_run: tuple[int, str, str] | None,
) -> None:
    con.execute(f"create schema {META_SCHEMA}")
    con.execute(
        f"""
        create table {META_SCHEMA}.snapshot (
            version varchar, published_at timestamptz, dagster_run_id varchar,
            partition_start varchar, partition_end varchar, pseudonymized_customers boolean,
            pseudonymized_columns varchar[], consistency_checks varchar[],
            dbt_load_seq bigint, dbt_load_id varchar, dbt_invocation_id varchar
        )
        """
    )
    con.execute(
        f"insert into {META_SCHEMA}.snapshot values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            version,
            published_at,
            run_id,
            partition_range[0] if partition_range else None,
            partition_range[1] if partition_range else None,
            pseudonymized,
            pseudonymized_columns,
            checks,
            *(dbt_run or (None, None, None)),
        ],
    )
    con.execute(
        f"create table {META_SCHEMA}.tables (table_name varchar, row_count bigint, parquet_file varchar)"
    )
    con.executemany(
        f"insert into {META_SCHEMA}.tables values (?, ?, ?)",
        [[name, count, f"{name}.parquet"] for name, count in row_counts.items()],
    )


def _switch_symlink(link: Path, target_name: str) -> None:
    tmp_link = link.with_name(f".{link.name}-{uuid.uuid4().hex[:8]}")
    os.symlink(target_name, tmp_link)
    os.replace(tmp_link, link)


def _write_pointer(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}-{uuid.uuid4().hex[:8]}")
    tmp.write_text(text + "\n")
    _fsync(tmp)
    os.replace(tmp, path)


def _prune(parquet_dir: Path, current: str, keep: int) -> list[str]:
    """Delete Parquet versions beyond the `keep` newest; never the current one.

    A reader that already opened a file of a deleted version keeps reading it (Linux keeps the inode).
    """
    versions = sorted((p.name for p in parquet_dir.iterdir() if _VERSION.match(p.name)), reverse=True)
    removed = []
    for name in versions[keep:]:
        if name != current:
            shutil.rmtree(parquet_dir / name, ignore_errors=True)
            removed.append(name)
    return removed


def _table_exists(con: duckdb.DuckDBPyConnection, catalog: str, qualified_name: str) -> bool:
    schema, name = qualified_name.split(".")
    (exists,) = con.execute(
        "select count(*) from information_schema.tables where table_catalog = ? "
        "and table_schema = ? and table_name = ?",
        [catalog, schema, name],
    ).fetchone()
    return bool(exists)


def _last_complete_dbt_run(con: duckdb.DuckDBPyConnection, catalog: str) -> tuple[int, str, str] | None:
    """(load_seq, load_id, dbt invocation) of the warehouse's last complete dbt run, if any.

    The invocation tells two complete runs of the same loads apart (a rebuild after a change of settings).
    """
    if not _table_exists(con, catalog, INCREMENTAL_RUNS):
        return None
    row = con.execute(
        f"select load_seq, load_id, invocation_id from {catalog}.{INCREMENTAL_RUNS} "
        "where status = 'complete' order by recorded_at desc limit 1"
    ).fetchone()
    return (int(row[0]), str(row[1]), str(row[2])) if row else None


def _loaded_arrival_range(con: duckdb.DuckDBPyConnection, catalog: str) -> tuple[str, str] | None:
    """The first and last arrival dates the warehouse has loaded: what the snapshot covers."""
    if not _table_exists(con, catalog, RAW_LOAD_LOG):
        return None
    first, last = con.execute(
        f"select min(arrival_date), max(arrival_date) from {catalog}.{RAW_LOAD_LOG}"
    ).fetchone()
    return (first.isoformat(), last.isoformat()) if first else None


def reason_to_publish(warehouse: duckdb.DuckDBPyConnection, config: ServingConfig) -> str | None:
    """Why the serving snapshot is behind the warehouse, or None when it is current.

    `warehouse` is a connection to the warehouse. A snapshot is behind when none is published, when it
    was published before the last complete dbt run (a run killed between dbt and its publication), or
    when the pseudonymization setting changed since. A run that finds nothing new for dbt should still
    publish when this returns a reason.
    """
    if not config.serving_file.exists():
        return f"no snapshot published yet in {config.serving_dir}"
    try:
        with duckdb.connect(str(config.serving_file), read_only=True) as snapshot:
            published = snapshot.execute(
                f"select dbt_load_seq, dbt_load_id, dbt_invocation_id, pseudonymized_customers "
                f"from {META_SCHEMA}.snapshot"
            ).fetchone()
    except duckdb.Error as exc:
        return f"the published snapshot cannot be read ({exc})"
    (catalog,) = warehouse.execute("select current_database()").fetchone()
    last_run = _last_complete_dbt_run(warehouse, catalog)
    if published is None or (last_run is not None and tuple(published[:3]) != last_run):
        return "the snapshot was published before the last complete dbt run"
    if bool(published[3]) != config.pseudonymize_customers:
        return f"{ENV_PSEUDONYMIZE} changed since the snapshot was published"
    return None


def current_version(config: ServingConfig) -> str | None:
    """The published Parquet version, or None before the first publication."""
    pointer = config.parquet_dir / CURRENT_POINTER
    return pointer.read_text().strip() if pointer.exists() else None


def publish_snapshot(
    warehouse: Path,
    config: ServingConfig,
    *,
    run_id: str | None = None,
    tables: list[str] | None = None,
    keep_versions: int = DEFAULT_KEEP_VERSIONS,
    lock_timeout_seconds: float = 60.0,
) -> Publication:
    """Copy the warehouse's marts into a new serving snapshot and switch readers to it atomically.

    `tables` names the marts to publish (the serving asset passes the dbt models of the marts group);
    by default every table of the `marts` schema but bookkeeping ones (names with `__`). The snapshot
    records the range of arrival dates the warehouse has loaded (`partition_start`, `partition_end`).
    """
    if keep_versions < 1:
        raise ValueError(f"keep_versions must be at least 1, got {keep_versions}")
    serving_dir = config.serving_dir
    serving_dir.mkdir(parents=True, exist_ok=True)
    config.parquet_dir.mkdir(exist_ok=True)
    tmp = serving_dir / TMP_DIR
    with _publish_lock(serving_dir, lock_timeout_seconds):
        _clean_tmp(tmp)
        published_at = datetime.now(UTC)
        version = _new_version(published_at)
        staging_file = tmp / f"{version}.duckdb"
        staging_parquet = tmp / version
        staging_parquet.mkdir()
        try:
            con = duckdb.connect(str(staging_file))
            try:
                con.execute("set TimeZone = 'UTC'")
                _attach_warehouse(con, warehouse, lock_timeout_seconds)
                try:
                    tables = _mart_tables(con, tables)
                    if not tables:
                        raise PublishError(
                            f"the warehouse {warehouse} has no {MARTS_SCHEMA} tables yet: "
                            "build the dbt models first"
                        )
                    dbt_run = _last_complete_dbt_run(con, "wh")
                    partition_range = _loaded_arrival_range(con, "wh")
                    con.execute(f"create schema {MARTS_SCHEMA}")
                    for table in tables:
                        name = f"{MARTS_SCHEMA}.{_ident(table)}"
                        con.execute(f"create table {name} as select * from wh.{name}")
                finally:
                    con.execute("detach wh")
                pseudonymized_columns = (
                    _pseudonymize_tables(con, tables, config.pseudonymization_key)
                    if config.pseudonymize_customers and config.pseudonymization_key
                    else []
                )
                checks = _check_consistency(con, tables)
                row_counts = {
                    table: int(
                        con.execute(f"select count(*) from {MARTS_SCHEMA}.{_ident(table)}").fetchone()[0]
                    )
                    for table in tables
                }
                _write_metadata(
                    con,
                    version,
                    published_at,
                    row_counts,
                    run_id=run_id,
                    partition_range=partition_range,
                    pseudonymized=config.pseudonymize_customers,
                    pseudonymized_columns=pseudonymized_columns,
                    checks=checks,
                    dbt_run=dbt_run,
                )
                for table in tables:
                    target = staging_parquet / f"{table}.parquet"
                    con.execute(
                        f"copy {MARTS_SCHEMA}.{_ident(table)} to {_literal(str(target))} "
                        "(format parquet, compression zstd)"
                    )
                    _fsync(target)
                con.execute("checkpoint")
            finally:
                con.close()
            (staging_parquet / SNAPSHOT_JSON).write_text(
                json.dumps(
                    {
                        "version": version,
                        "published_at": published_at.isoformat(),
                        "dagster_run_id": run_id,
                        "partition_range": list(partition_range) if partition_range else None,
                        "pseudonymized_customers": config.pseudonymize_customers,
                        "row_counts": row_counts,
                    },
                    indent=2,
                )
            )
            # Read-only on disk too: a tool that tries to open the snapshot for writing is refused
            # (a writer would leave a WAL next to the published name that the next file would inherit).
            for path in (staging_file, *staging_parquet.iterdir()):
                os.chmod(path, 0o444)
            _fsync(staging_file)
            _fsync(staging_parquet)
            # The switch: each rename is atomic; a reader sees the old or the new snapshot, never a mix.
            os.replace(staging_parquet, config.parquet_dir / version)
            _switch_symlink(config.current_parquet_dir, version)
            _write_pointer(config.parquet_dir / CURRENT_POINTER, version)
            Path(f"{config.serving_file}.wal").unlink(missing_ok=True)
            os.replace(staging_file, config.serving_file)
            _fsync(config.parquet_dir)
            _fsync(serving_dir)
        except BaseException:
            shutil.rmtree(staging_parquet, ignore_errors=True)
            for leftover in (staging_file, staging_file.with_name(staging_file.name + ".wal")):
                leftover.unlink(missing_ok=True)
            raise
        _prune(config.parquet_dir, version, keep_versions)
    return Publication(
        version=version,
        path=config.serving_file,
        parquet_dir=config.parquet_dir / version,
        published_at=published_at,
        row_counts=row_counts,
        pseudonymized=config.pseudonymize_customers,
        checks=checks,
    )
