"""Runs `floor_kpi_daily.sql`: kpi_daily from the landing files with plain DuckDB, no framework.

    .venv/bin/python -m benchmarks.floor --landing-dir DIR [--timezone UTC] [--inactivity-minutes 10]
        [--handover-timeout-hours 24]
        [--out kpi_daily.parquet]

Statements run one by one in an in-memory database (spilling to --temp-dir); the time of each is printed.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import duckdb

SQL_PATH = Path(__file__).with_name("floor_kpi_daily.sql")


def statements(sql: str) -> list[str]:
    """Split on `;` at line ends (the script has no `;` inside literals at a line end)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*\n", body + "\n") if s.strip()]


def render(
    landing_dir: Path, timezone: str, inactivity_minutes: int, handover_timeout_seconds: int = 86400
) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-/]*", timezone):
        raise SystemExit(f"not a time zone name: {timezone!r}")
    glob = str(landing_dir.resolve() / "*" / "*.ndjson*").replace("'", "''")
    values = {
        "landing_glob": glob,
        "timezone": timezone,
        "inactivity_minutes": str(int(inactivity_minutes)),
        "handover_timeout_seconds": str(int(handover_timeout_seconds)),
    }
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], SQL_PATH.read_text())


def run(
    landing_dir: Path,
    timezone: str,
    inactivity_minutes: int,
    out: Path | None,
    temp_dir: Path | None,
    handover_timeout_hours: float = 24.0,
):
    con = duckdb.connect()
    if temp_dir is not None:
        temp_dir.mkdir(parents=True, exist_ok=True)
        con.execute(f"set temp_directory = '{str(temp_dir).replace(chr(39), chr(39) * 2)}'")
    started = time.perf_counter()
    timeout_seconds = round(handover_timeout_hours * 3600)
    for sql in statements(render(landing_dir, timezone, inactivity_minutes, timeout_seconds)):
        t = time.perf_counter()
        con.execute(sql)
        label = " ".join(sql.split())[:70]
        print(f"{time.perf_counter() - t:8.2f} s  {label}", flush=True)
    rows = con.execute("select count(*) from kpi_daily").fetchone()[0]
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"copy kpi_daily to '{str(out).replace(chr(39), chr(39) * 2)}' (format parquet)")
    print(f"floor: kpi_daily {rows} rows in {time.perf_counter() - started:.2f} s", flush=True)
    con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--landing-dir", type=Path, required=True)
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--inactivity-minutes", type=int, default=10)
    parser.add_argument("--handover-timeout-hours", type=float, default=24.0)
    parser.add_argument("--out", type=Path, help="write kpi_daily here (Parquet)")
    parser.add_argument("--temp-dir", type=Path, help="DuckDB spill directory")
    args = parser.parse_args(argv)
    run(
        args.landing_dir,
        args.timezone,
        args.inactivity_minutes,
        args.out,
        args.temp_dir,
        args.handover_timeout_hours,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
