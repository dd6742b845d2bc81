"""Opening the DuckDB warehouse, with a clear message when another process holds its lock."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from orchestration.raw_schema import RAW_SCHEMA_DDL


class WarehouseLockedError(RuntimeError):
    """Another process is writing the warehouse file."""


def _is_lock_error(exc: duckdb.Error) -> bool:
    return "lock" in str(exc).lower()


def _holder(exc: duckdb.Error) -> str:
    match = re.search(r"PID (\d+)", str(exc))
    return f" (held by process {match.group(1)})" if match else ""


def connect(
    path: Path,
    *,
    read_only: bool = False,
    lock_timeout_seconds: float = 0.0,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; wait up to `lock_timeout_seconds` for another writer to finish."""
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise FileNotFoundError(
            f"the warehouse {path} does not exist yet: run `chat-analytics materialize` first"
        )
    deadline = time.monotonic() + lock_timeout_seconds
    delay = 0.1
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            con.execute("set TimeZone = 'UTC'")
            return con
        except duckdb.Error as exc:
            if not _is_lock_error(exc):
                raise
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"the warehouse {path} is locked by another process{_holder(exc)}: "
                    "wait for that run to finish (or stop it) and try again"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


@contextmanager
def open_warehouse(
    path: Path, *, read_only: bool = False, lock_timeout_seconds: float = 0.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, read_only=read_only, lock_timeout_seconds=lock_timeout_seconds)
    try:
        yield con
    finally:
        con.close()


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    for statement in RAW_SCHEMA_DDL:
        con.execute(statement)
