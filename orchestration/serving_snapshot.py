"""Reading the published serving snapshot (`orchestration/serving.py`) read-only, for the tab's readers.

`chat-analytics report` and the dashboard open the snapshot here, never the warehouse: each connection
sees the snapshot that was current when it opened, whole, and a publication never waits for it.
A snapshot published by an older version of the marts, which lacks a table or column the tab reads, is
refused with the names of what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb

# What the tab reads: the SPEC §4 columns of the facts (and the dates and channels of kpi_daily).
# A snapshot published by an older version of the marts that lacks one of them is refused by name.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "fct_conversations": (
        "customer_id",
        "channel",
        "started_at",
        "report_date",
        "is_engaged",
        "support_type",
        "chatbot_duration_seconds",
    ),
    "fct_handover_requests": (
        "handover_id",
        "channel",
        "requested_at",
        "outcome",
        "received_at",
        "first_agent_reply_at",
        "initial_wait_seconds",
        "closed_at",
        "department",
    ),
    "fct_agent_replies": ("handover_id", "channel", "replied_at"),
    "kpi_daily": ("report_date", "channel"),
}


class SnapshotError(RuntimeError):
    """The serving snapshot cannot be read; the message says what to do."""


class SnapshotMissing(SnapshotError):
    """No snapshot has been published yet."""


class SnapshotOutdated(SnapshotError):
    """The snapshot lacks a table or column this module needs (an older version of the marts)."""

    def __init__(self, path: Path, missing: dict[str, list[str]]) -> None:
        self.path = path
        self.missing = missing
        details = "; ".join(
            f"table {table} is missing" if not columns else f"{table} lacks {', '.join(columns)}"
            for table, columns in missing.items()
        )
        super().__init__(
            f"the serving snapshot {path} comes from an older version of the marts ({details}): "
            "rebuild and publish it with `chat-analytics materialize --start D1 --end D2 --full-refresh`"
        )


@dataclass(frozen=True)
class SnapshotInfo:
    path: Path
    version: str | None
    published_at: datetime | None
    first_date: date | None  # the dates of the data (kpi_daily is dense over them)
    last_date: date | None
    channels: tuple[str, ...]  # every channel seen

    @property
    def has_data(self) -> bool:
        return self.first_date is not None


def _path_literal(path: Path) -> str:
    """A SQL string literal for a path (ATTACH takes no parameters); quotes in the path stay data."""
    text = str(path)
    if "\x00" in text:
        raise SnapshotError(f"the snapshot path {text!r} contains a NUL character")
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def open_snapshot(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the snapshot at `path`: the snapshot current when it opened, whole.

    A snapshot published while it is open does not change what it reads; the next connection sees it.
    The file is attached to a private in-memory database rather than opened with `duckdb.connect(path)`,
    which would hand back the instance another open connection of this process holds for that path,
    that is, the snapshot replaced since (the dashboard serves several sessions in one process).
    """
    if not path.exists():
        raise SnapshotMissing(
            f"no serving snapshot at {path} yet: run `make demo` for sample data, or "
            "`chat-analytics materialize --start D1 --end D2` on your landing zone "
            "(each successful run publishes one)"
        )
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        try:
            con.execute(f"attach {_path_literal(path)} as snapshot (read_only)")
        except duckdb.Error as exc:
            raise SnapshotError(f"the serving snapshot {path} cannot be opened ({exc})") from None
        con.execute("use snapshot")
        yield con
    finally:
        con.close()


def missing_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The tables and columns of REQUIRED_COLUMNS the snapshot lacks (a table: an empty list)."""
    rows = con.execute(
        """
        select table_name, column_name from information_schema.columns
        where table_schema = 'marts' and list_contains($tables, table_name)
        """,
        {"tables": list(REQUIRED_COLUMNS)},
    ).fetchall()
    present: dict[str, set[str]] = {}
    for table, column in rows:
        present.setdefault(table, set()).add(column)
    missing: dict[str, list[str]] = {}
    for table, columns in REQUIRED_COLUMNS.items():
        if table not in present:
            missing[table] = []
        elif lacking := [c for c in columns if c not in present[table]]:
            missing[table] = lacking
    return missing


def snapshot_info(con: duckdb.DuckDBPyConnection, path: Path) -> SnapshotInfo:
    """What the snapshot holds; SnapshotOutdated when it lacks a table or column the tab needs."""
    missing = missing_columns(con)
    if missing:
        raise SnapshotOutdated(path, missing)
    version = published_at = None
    has_meta = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'meta' and table_name = 'snapshot'"
    ).fetchone()
    if has_meta and has_meta[0]:
        row = con.execute("select version, published_at from meta.snapshot limit 1").fetchone()
        if row:
            version, published_at = row
    first, last, channels = con.execute(
        "select min(report_date), max(report_date), list(distinct channel order by channel) from marts.kpi_daily"
    ).fetchone()
    return SnapshotInfo(
        path=path,
        version=version,
        published_at=published_at,
        first_date=first,
        last_date=last,
        channels=tuple(channels or ()),
    )


def timezone_matches(con: duckdb.DuckDBPyConnection, timezone: str, sample_rows: int = 20_000) -> bool:
    """Whether the snapshot's local dates were computed in `timezone`, on a sample of conversations.

    A conversation's `report_date` is the local date of its start; in another zone some starts (those
    within the offsets' difference of midnight) fall on another date. A sample keeps this cheap.
    """
    (mismatches,) = con.execute(
        f"""
        select count(*) from (
            select report_date, started_at from marts.fct_conversations using sample {int(sample_rows)} rows
        )
        where report_date <> cast(timezone($tz, started_at) as date)
        """,
        {"tz": timezone},
    ).fetchone()
    return mismatches == 0
