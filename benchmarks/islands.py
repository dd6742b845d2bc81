"""Micro-benchmark (issue 13): how `int_events_sessionized` names each event's stretch, three ways.

    .venv/bin/python -m benchmarks.islands --rows 10000000

The model marks the event that starts a stretch (`starts_stretch`) and then gives every event the
`event_id` of the latest start in its thread. Ways to do that last step on DuckDB, timed on the same
synthetic table (threads of ten events, one start in five, every thread's first event a start):
  last_value  `last_value(case when starts then event_id end ignore nulls)` over the running frame:
              what the model does (one sort of the thread);
  max_struct  a running `max` of `(occurred_at, event_id)` among the starts (also one sort);
  islands     the textbook islands form: a running sum of the start flags numbers the stretches, then
              `first_value(event_id)` per (thread, number): a second sort.
Each way's result is checked equal to the first's before its time is printed.
"""

from __future__ import annotations

import argparse
import time

import duckdb

THREAD_WINDOW = (
    "window thread_so_far as (partition by customer_id, channel order by occurred_at, event_id "
    "rows between unbounded preceding and current row)"
)

WAYS = {
    "last_value": f"""
        select event_id, last_value(case when starts then event_id end ignore nulls) over thread_so_far as stretch_id
        from events {THREAD_WINDOW}""",
    "max_struct": f"""
        select event_id, (max(case when starts then struct_pack(at := occurred_at, id := event_id) end)
            over thread_so_far).id as stretch_id
        from events {THREAD_WINDOW}""",
    "islands": f"""
        select event_id, first_value(event_id) over (
            partition by customer_id, channel, stretch_number order by occurred_at, event_id) as stretch_id
        from (
            select *, sum(case when starts then 1 else 0 end) over thread_so_far as stretch_number
            from events {THREAD_WINDOW})""",
}


def make_events(con: duckdb.DuckDBPyConnection, rows: int) -> None:
    threads = max(1, rows // 10)
    con.execute(
        f"""
        create table events as
        select
            'c' || (i % {threads}) as customer_id,
            'web' as channel,
            md5(i::varchar) as event_id,
            timestamp '2026-01-01' + to_seconds(cast((i // {threads}) * 60 + (hash(i) % 60) as bigint)) as occurred_at,
            (i // {threads}) = 0 or random() < 0.2 as starts
        from range({rows}) as r(i)
        """
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.islands", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (default %(default)s)")
    args = parser.parse_args(argv)
    con = duckdb.connect()
    con.execute(f"set threads = {args.threads}")
    make_events(con, args.rows)
    print(f"{args.rows:,} events, DuckDB {duckdb.__version__}, {args.threads} threads")
    for name, sql in WAYS.items():
        started = time.perf_counter()
        con.execute(f"create or replace table result_{name} as {sql}")
        seconds = time.perf_counter() - started
        (differing,) = con.execute(
            f"select count(*) from (select * from result_{name} except select * from result_last_value)"
        ).fetchone() or (None,)
        print(f"  {name:<11} {seconds:6.1f} s   rows differing from last_value: {differing}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
