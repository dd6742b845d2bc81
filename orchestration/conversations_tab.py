"""The Conversations tab for one filter, computed from the published serving snapshot.

One module answers the tab for `chat-analytics report` and for the dashboard (`dashboard/`), so the
two always show the same numbers. It reads only the read-only serving snapshot
(`data/serving/chat_analytics.duckdb`, see `orchestration/serving.py`), never the warehouse, so it
never waits for a run and a run never waits for it.

Exact for any period, channel set and hour range: every number comes from the facts
(`fct_conversations`, `fct_handover_requests`, `fct_agent_replies`), distinct customers and answered
requests are counted once over the whole period, and averages are sums over counts.

Each metric is dated by one instant, and the period and hour filters apply to the local date and hour
(reporting time zone) of that instant:

| metric | dated by |
|---|---|
| total and engaged conversations, engaged customers, chatbot duration, conversations by channel and support type, trend, engaged activity | `fct_conversations.started_at` |
| successful transfers | `fct_handover_requests.received_at` |
| conversations with reply (answered) | `fct_agent_replies.replied_at` (any qualifying reply in the scope) |
| closed conversations, closed by department | `fct_handover_requests.closed_at` |
| average initial wait | `fct_handover_requests.first_agent_reply_at` |
| handover requests by channel and by outcome, requests activity | `fct_handover_requests.requested_at` |

The channel filter applies to the row's channel (for handover measures, the request's channel).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import duckdb

DEFAULT_DAYS = 7
HOURS = tuple(range(24))
WEEKDAYS = tuple(range(1, 8))  # ISO: 1 = Monday ... 7 = Sunday
OUTCOMES = ("successful", "cancelled", "disabled", "incomplete", "pending")
# The headline tiles, in the help article's order.
HEADLINE = (
    "successful_transfers",
    "total_conversations",
    "answered_conversations",
    "engaged_conversations",
    "closed_conversations",
    "engaged_customers",
    "avg_initial_wait_seconds",
    "avg_chatbot_duration_seconds",
)
DURATIONS = frozenset({"avg_initial_wait_seconds", "avg_chatbot_duration_seconds"})

# What this module reads: the SPEC §4 columns of the facts (and the dates and channels of kpi_daily).
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


# ---------------------------------------------------------------------------------------------------
# The filter
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TabFilter:
    """A period of local dates, a set of channels (empty: all) and a range of local hours (None: all)."""

    first: date
    last: date
    channels: tuple[str, ...] = ()
    hours: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ValueError(f"the period starts {self.first}, after its end {self.last}")
        if self.hours is not None:
            low, high = self.hours
            if not (0 <= low <= high <= 23):
                raise ValueError(f"hours must lie within 0-23 and be ordered, got {low}-{high}")
            if (low, high) == (0, 23):
                object.__setattr__(self, "hours", None)
        normalized = tuple(sorted({c.strip().lower() for c in self.channels if c.strip()}))
        object.__setattr__(self, "channels", normalized)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def hour_range(self) -> tuple[int, int]:
        return self.hours or (0, 23)

    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.days)]


def today_in(timezone: str) -> date:
    """Today's date in the reporting time zone."""
    return datetime.now(UTC).astimezone(ZoneInfo(timezone)).date()


def last_days(last: date, days: int = DEFAULT_DAYS) -> tuple[date, date]:
    """The `days` local days ending `last` (the tab's default period ends today)."""
    return last - timedelta(days=days - 1), last


# ---------------------------------------------------------------------------------------------------
# The snapshot
# ---------------------------------------------------------------------------------------------------


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


def timezone_matches(con: duckdb.DuckDBPyConnection, timezone: str) -> bool:
    """Whether the snapshot's local dates were computed in `timezone` (the conversations' start dates)."""
    (mismatches,) = con.execute(
        """
        select count(*) from (
            select 1 from marts.fct_conversations
            where report_date <> cast(timezone($tz, started_at) as date)
            limit 1
        )
        """,
        {"tz": timezone},
    ).fetchone()
    return mismatches == 0


# ---------------------------------------------------------------------------------------------------
# The tab
# ---------------------------------------------------------------------------------------------------


class ConversationCount(NamedTuple):
    key: str  # a channel, a support type, or a date / hour for the trend
    total_conversations: int
    engaged_conversations: int


class Count(NamedTuple):
    key: str  # a department, a channel or an outcome
    count: int


class Activity(NamedTuple):
    day_of_week: int  # ISO, 1 = Monday
    hour_of_day: int
    engaged_conversations: int
    handover_requests: int


class TrendPoint(NamedTuple):
    day: date
    hour: int | None  # None: a whole day; 0-23 when the period is one day
    total_conversations: int
    engaged_conversations: int


@dataclass(frozen=True)
class Tab:
    """The Conversations tab for one filter."""

    filter: TabFilter
    timezone: str
    channels: tuple[str, ...]  # the channels in scope (the filter's, or every channel seen)
    headline: dict[str, int | float | None]
    initial_wait_seconds_sum: float
    initial_wait_count: int
    chatbot_duration_seconds_sum: float
    by_channel: list[ConversationCount] = field(default_factory=list)  # every channel in scope
    by_support_type: list[ConversationCount] = field(default_factory=list)  # non-zero ones
    closed_by_department: list[Count] = field(default_factory=list)  # non-zero ones
    requests_by_channel: list[Count] = field(default_factory=list)  # every channel in scope
    requests_by_outcome: list[Count] = field(default_factory=list)  # the five outcomes, in order
    activity: list[Activity] = field(default_factory=list)  # 7 weekdays x the hours in scope
    trend: list[TrendPoint] = field(default_factory=list)  # every day (or hour of the one day)

    @property
    def has_data(self) -> bool:
        """Anything at all happened in the scope (a conversation, a request, a reply, a close)."""
        counts = [v for k, v in self.headline.items() if k not in DURATIONS]
        return any(counts) or any(c.count for c in self.requests_by_outcome)

    @property
    def hourly_trend(self) -> bool:
        return self.filter.days == 1


def _bounds(flt: TabFilter) -> tuple[datetime, datetime]:
    """UTC instants surely around the period's local dates (offsets stay within a day).

    Only a pre-filter that lets DuckDB skip row groups; the exact test is on the local date.
    """
    low = datetime.combine(flt.first - timedelta(days=1), time(), tzinfo=UTC)
    high = datetime.combine(flt.last + timedelta(days=2), time(), tzinfo=UTC)
    return low, high


def _params(flt: TabFilter, timezone: str) -> dict[str, object]:
    low, high = _bounds(flt)
    hour_first, hour_last = flt.hour_range
    return {
        "tz": timezone,
        "first": flt.first,
        "last": flt.last,
        "low": low,
        "high": high,
        "hour_first": hour_first,
        "hour_last": hour_last,
        "channels": list(flt.channels),
    }


def _scope(instant: str, flt: TabFilter) -> str:
    """The SQL condition "`instant` falls in the filter"; every value is a bound parameter.

    `instant` is a column name of this module, never user input.
    """
    local = f"timezone($tz, {instant})"
    clause = f"{instant} >= $low and {instant} < $high and cast({local} as date) between $first and $last"
    if flt.hours is not None:
        clause += f" and hour({local}) between $hour_first and $hour_last"
    if flt.channels:
        clause += " and list_contains($channels, channel)"
    return clause


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> list[tuple]:
    return con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).fetchall()


def _scoped_tables(con: duckdb.DuckDBPyConnection, flt: TabFilter, params: dict[str, object]) -> None:
    """Temporary tables of the facts' rows in scope, with the local time that dates them.

    Temporary tables live in memory, so this works on the read-only snapshot; each fact is scanned once.
    """
    con.execute("drop table if exists temp.tab_conversations")
    con.execute("drop table if exists temp.tab_requests")
    started = _scope("started_at", flt)
    _run(
        con,
        f"""
        create temp table tab_conversations as
        select
            channel,
            support_type,
            customer_id,
            is_engaged,
            chatbot_duration_seconds,
            timezone($tz, started_at) as local_at
        from marts.fct_conversations
        where {started}
        """,
        params,
    )
    requested = _scope("requested_at", flt)
    _run(
        con,
        f"""
        create temp table tab_requests as
        select channel, outcome, timezone($tz, requested_at) as local_at
        from marts.fct_handover_requests
        where {requested}
        """,
        params,
    )


def compute_tab(
    con: duckdb.DuckDBPyConnection, flt: TabFilter, timezone: str, channels_seen: tuple[str, ...]
) -> Tab:
    """The tab for `flt` from the snapshot behind `con`; `timezone` is the reporting zone."""
    params = _params(flt, timezone)
    _scoped_tables(con, flt, params)
    conversations, engaged, customers, duration_sum = _run(
        con,
        """
        select
            count(*),
            count(*) filter (where is_engaged),
            count(distinct customer_id) filter (where is_engaged),
            coalesce(sum(chatbot_duration_seconds) filter (where is_engaged), 0)
        from temp.tab_conversations
        """,
        params,
    )[0]
    transfers, closed, wait_sum, wait_count = _run(
        con,
        f"""
        select
            count(*) filter (where {_scope("received_at", flt)}),
            count(*) filter (where {_scope("closed_at", flt)}),
            coalesce(sum(initial_wait_seconds) filter (where {_scope("first_agent_reply_at", flt)}), 0),
            count(initial_wait_seconds) filter (where {_scope("first_agent_reply_at", flt)})
        from marts.fct_handover_requests
        where ({_scope("received_at", flt)})
            or ({_scope("closed_at", flt)})
            or ({_scope("first_agent_reply_at", flt)})
        """,
        params,
    )[0]
    (answered,) = _run(
        con,
        f"select count(distinct handover_id) from marts.fct_agent_replies where {_scope('replied_at', flt)}",
        params,
    )[0]
    in_scope = flt.channels or channels_seen
    tab = Tab(
        filter=flt,
        timezone=timezone,
        channels=tuple(in_scope),
        headline={
            "successful_transfers": transfers,
            "total_conversations": conversations,
            "answered_conversations": answered,
            "engaged_conversations": engaged,
            "closed_conversations": closed,
            "engaged_customers": customers,
            "avg_initial_wait_seconds": wait_sum / wait_count if wait_count else None,
            "avg_chatbot_duration_seconds": duration_sum / engaged if engaged else None,
        },
        initial_wait_seconds_sum=float(wait_sum),
        initial_wait_count=int(wait_count),
        chatbot_duration_seconds_sum=float(duration_sum),
    )
    _breakdowns(con, tab, params)
    return tab


def _conversation_counts(con: duckdb.DuckDBPyConnection, column: str) -> dict[str, tuple[int, int]]:
    rows = con.execute(
        f"""
        select {column}, count(*), count(*) filter (where is_engaged)
        from temp.tab_conversations
        group by {column}
        """
    ).fetchall()
    return {key: (total, engaged) for key, total, engaged in rows}


def _breakdowns(con: duckdb.DuckDBPyConnection, tab: Tab, params: dict[str, object]) -> None:
    flt = tab.filter
    by_channel = _conversation_counts(con, "channel")
    tab.by_channel.extend(
        sorted(
            (ConversationCount(c, *by_channel.get(c, (0, 0))) for c in {*tab.channels, *by_channel}),
            key=lambda row: (-row.total_conversations, row.key),
        )
    )
    tab.by_support_type.extend(
        sorted(
            (
                ConversationCount(key, *counts)
                for key, counts in _conversation_counts(con, "support_type").items()
            ),
            key=lambda row: (-row.total_conversations, row.key),
        )
    )
    tab.closed_by_department.extend(
        Count(department, closed)
        for department, closed in _run(
            con,
            f"""
            select department, count(*) from marts.fct_handover_requests
            where {_scope("closed_at", flt)}
            group by department
            order by count(*) desc, department
            """,
            params,
        )
    )
    requests = dict(
        con.execute("select channel, count(*) from temp.tab_requests group by channel").fetchall()
    )
    tab.requests_by_channel.extend(
        sorted(
            (Count(c, requests.get(c, 0)) for c in {*tab.channels, *requests}),
            key=lambda row: (-row.count, row.key),
        )
    )
    outcomes = dict(
        con.execute("select outcome, count(*) from temp.tab_requests group by outcome").fetchall()
    )
    tab.requests_by_outcome.extend(Count(o, outcomes.get(o, 0)) for o in OUTCOMES)
    tab.requests_by_outcome.extend(Count(o, n) for o, n in sorted(outcomes.items()) if o not in OUTCOMES)
    engaged = {
        (dow, hour): n
        for dow, hour, n in con.execute(
            """
            select isodow(local_at), hour(local_at), count(*)
            from temp.tab_conversations where is_engaged group by all
            """
        ).fetchall()
    }
    asked = {
        (dow, hour): n
        for dow, hour, n in con.execute(
            "select isodow(local_at), hour(local_at), count(*) from temp.tab_requests group by all"
        ).fetchall()
    }
    low, high = flt.hour_range
    tab.activity.extend(
        Activity(dow, hour, engaged.get((dow, hour), 0), asked.get((dow, hour), 0))
        for dow in WEEKDAYS
        for hour in range(low, high + 1)
    )
    if tab.hourly_trend:
        by_hour = {
            hour: (total, n)
            for hour, total, n in con.execute(
                """
                select hour(local_at), count(*), count(*) filter (where is_engaged)
                from temp.tab_conversations group by all
                """
            ).fetchall()
        }
        tab.trend.extend(
            TrendPoint(flt.first, hour, *by_hour.get(hour, (0, 0))) for hour in range(low, high + 1)
        )
    else:
        by_day = {
            day: (total, n)
            for day, total, n in con.execute(
                """
                select cast(local_at as date), count(*), count(*) filter (where is_engaged)
                from temp.tab_conversations group by all
                """
            ).fetchall()
        }
        tab.trend.extend(TrendPoint(day, None, *by_day.get(day, (0, 0))) for day in flt.dates())


def tab_for(path: Path, flt: TabFilter, timezone: str) -> Tab:
    """Open the snapshot at `path`, check it, and compute the tab for `flt`."""
    with open_snapshot(path) as con:
        info = snapshot_info(con, path)
        return compute_tab(con, flt, timezone, info.channels)
