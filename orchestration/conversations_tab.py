"""The Conversations tab for one filter, computed from the published serving snapshot.

One module answers the tab for `chat-analytics report` and for the dashboard (`dashboard/`), so the
two always show the same numbers. It reads only the read-only serving snapshot
(`orchestration/serving_snapshot.py`), never the warehouse, so it never waits for a run and a run never
waits for it.

Exact for any period, channel set and hour range: every number comes from the facts
(`fct_conversations`, `fct_handover_requests`, `fct_agent_replies`), distinct customers and answered
requests are counted once over the whole period, and averages are sums over counts.

Each metric is dated by one instant, and the period and hour filters apply to the local date and hour
(reporting time zone, DST included) of that instant:

| metric | dated by |
|---|---|
| total and engaged conversations, engaged customers, chatbot duration, conversations by channel and support type, trend, engaged activity | `fct_conversations.started_at` |
| successful transfers | `fct_handover_requests.received_at` |
| conversations with reply (answered) | `fct_agent_replies.replied_at` (any qualifying reply in the scope) |
| closed conversations, closed by department | `fct_handover_requests.closed_at` |
| average initial wait | `fct_handover_requests.first_agent_reply_at` |
| handover requests by channel and by outcome, requests activity | `fct_handover_requests.requested_at` |

The channel filter applies to the row's channel (for handover measures, the request's channel).
The period becomes two UTC instants (the start of its first local day, the start of the day after its
last), so the date test costs no time zone conversion; the local hour is converted only when an hour
range is set, and for the weekday x hour and hourly breakdowns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import duckdb

from orchestration.serving_snapshot import open_snapshot, snapshot_info

DEFAULT_DAYS = 7
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


def day_start(day: date, timezone: str) -> datetime:
    """The first instant (UTC) of the local date `day`: its midnight, or, when a DST change skips
    midnight, the first local time that exists (zoneinfo reads a skipped time with the offset before
    the change, which lands exactly on the change)."""
    return datetime.combine(day, time(), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


# ---------------------------------------------------------------------------------------------------
# The tab
# ---------------------------------------------------------------------------------------------------


class ConversationCount(NamedTuple):
    key: str  # a channel or a support type
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


def _params(flt: TabFilter, timezone: str) -> dict[str, object]:
    hour_first, hour_last = flt.hour_range
    return {
        "tz": timezone,
        "start_at": day_start(flt.first, timezone),
        "end_at": day_start(flt.last + timedelta(days=1), timezone),
        "hour_first": hour_first,
        "hour_last": hour_last,
        "channels": list(flt.channels),
    }


def _scope(instant: str, flt: TabFilter) -> str:
    """The SQL condition "`instant` falls in the filter"; every value is a bound parameter.

    `instant` is a column name of this module, never user input.
    """
    clause = f"{instant} >= $start_at and {instant} < $end_at"
    if flt.hours is not None:
        clause += f" and hour(timezone($tz, {instant})) between $hour_first and $hour_last"
    if flt.channels:
        clause += " and list_contains($channels, channel)"
    return clause


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object]) -> list[tuple]:
    return con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).fetchall()


# The breakdowns of the conversations in scope, in one pass: grouping() tells the sets apart.
_CONVERSATION_SETS = {
    # grouping(channel, support_type, day_of_week, hour_of_day, local_date) -> set
    0b11111: "all",
    0b01111: "channel",
    0b10111: "support_type",
    0b11001: "weekday_hour",
    0b11110: "date",
    0b11101: "hour",
}


def _conversations(con: duckdb.DuckDBPyConnection, flt: TabFilter, params: dict[str, object]) -> dict:
    rows = _run(
        con,
        f"""
        with scoped as (
            select
                channel,
                support_type,
                is_engaged,
                chatbot_duration_seconds,
                timezone($tz, started_at) as local_at
            from marts.fct_conversations
            where {_scope("started_at", flt)}
        ),

        dated as (
            select
                *,
                isodow(local_at) as day_of_week,
                hour(local_at) as hour_of_day,
                cast(local_at as date) as local_date
            from scoped
        )

        select
            grouping(channel, support_type, day_of_week, hour_of_day, local_date) as grouping_set,
            channel,
            support_type,
            day_of_week,
            hour_of_day,
            local_date,
            count(*) as total,
            count(*) filter (where is_engaged) as engaged,
            coalesce(sum(chatbot_duration_seconds) filter (where is_engaged), 0) as engaged_duration
        from dated
        group by grouping sets (
            (), (channel), (support_type), (day_of_week, hour_of_day), (local_date), (hour_of_day)
        )
        """,
        params,
    )
    sets: dict[str, dict] = {name: {} for name in _CONVERSATION_SETS.values()}
    for grouping_set, channel, support_type, dow, hour, day, total, engaged, duration in rows:
        name = _CONVERSATION_SETS[grouping_set]
        key = {
            "all": None,
            "channel": channel,
            "support_type": support_type,
            "weekday_hour": (dow, hour),
            "date": day,
            "hour": hour,
        }[name]
        sets[name][key] = (total, engaged, duration)
    (customers,) = _run(
        con,
        f"""
        select count(*) from (
            select distinct customer_id from marts.fct_conversations
            where is_engaged and {_scope("started_at", flt)}
        )
        """,
        params,
    )[0]
    sets["engaged_customers"] = customers
    return sets


def _requests(con: duckdb.DuckDBPyConnection, flt: TabFilter, params: dict[str, object]) -> dict:
    """Handover requests by the local time of their request: by channel, outcome, weekday x hour."""
    rows = _run(
        con,
        f"""
        with scoped as (
            select channel, outcome, timezone($tz, requested_at) as local_at
            from marts.fct_handover_requests
            where {_scope("requested_at", flt)}
        )

        select
            grouping(channel, outcome, day_of_week, hour_of_day) as grouping_set,
            channel,
            outcome,
            day_of_week,
            hour_of_day,
            count(*) as requests
        from (select *, isodow(local_at) as day_of_week, hour(local_at) as hour_of_day from scoped)
        group by grouping sets ((channel), (outcome), (day_of_week, hour_of_day))
        """,
        params,
    )
    by = {"channel": {}, "outcome": {}, "weekday_hour": {}}
    for grouping_set, channel, outcome, dow, hour, requests in rows:
        if grouping_set == 0b0111:
            by["channel"][channel] = requests
        elif grouping_set == 0b1011:
            by["outcome"][outcome] = requests
        else:
            by["weekday_hour"][(dow, hour)] = requests
    return by


def _handover_headline(con: duckdb.DuckDBPyConnection, flt: TabFilter, params: dict[str, object]) -> tuple:
    received, closed, replied = (_scope(c, flt) for c in ("received_at", "closed_at", "first_agent_reply_at"))
    transfers, closed_count, wait_sum, wait_count = _run(
        con,
        f"""
        select
            count(*) filter (where {received}),
            count(*) filter (where {closed}),
            coalesce(sum(initial_wait_seconds) filter (where {replied}), 0),
            count(initial_wait_seconds) filter (where {replied})
        from marts.fct_handover_requests
        where ({received}) or ({closed}) or ({replied})
        """,
        params,
    )[0]
    (answered,) = _run(
        con,
        f"select count(distinct handover_id) from marts.fct_agent_replies where {_scope('replied_at', flt)}",
        params,
    )[0]
    departments = _run(
        con,
        f"""
        select department, count(*) from marts.fct_handover_requests
        where {closed}
        group by department
        order by count(*) desc, department
        """,
        params,
    )
    return transfers, closed_count, float(wait_sum), int(wait_count), answered, departments


def compute_tab(
    con: duckdb.DuckDBPyConnection, flt: TabFilter, timezone: str, channels_seen: tuple[str, ...]
) -> Tab:
    """The tab for `flt` from the snapshot behind `con`; `timezone` is the reporting zone and
    `channels_seen` the snapshot's channels (each in-scope channel gets a row, zeros included)."""
    params = _params(flt, timezone)
    conversations = _conversations(con, flt, params)
    requests = _requests(con, flt, params)
    transfers, closed, wait_sum, wait_count, answered, departments = _handover_headline(con, flt, params)
    total, engaged, duration_sum = conversations["all"].get(None, (0, 0, 0.0))
    in_scope = tuple(flt.channels or channels_seen)
    low, high = flt.hour_range

    def counts(name: str, key: object) -> tuple[int, int]:
        return conversations[name].get(key, (0, 0, 0.0))[:2]

    by_support_type = [
        ConversationCount(k, *counts("support_type", k)) for k in conversations["support_type"]
    ]
    return Tab(
        filter=flt,
        timezone=timezone,
        channels=in_scope,
        headline={
            "successful_transfers": transfers,
            "total_conversations": total,
            "answered_conversations": answered,
            "engaged_conversations": engaged,
            "closed_conversations": closed,
            "engaged_customers": conversations["engaged_customers"],
            "avg_initial_wait_seconds": wait_sum / wait_count if wait_count else None,
            "avg_chatbot_duration_seconds": duration_sum / engaged if engaged else None,
        },
        initial_wait_seconds_sum=wait_sum,
        initial_wait_count=wait_count,
        chatbot_duration_seconds_sum=float(duration_sum),
        by_channel=sorted(
            (ConversationCount(c, *counts("channel", c)) for c in {*in_scope, *conversations["channel"]}),
            key=lambda row: (-row.total_conversations, row.key),
        ),
        by_support_type=sorted(by_support_type, key=lambda row: (-row.total_conversations, row.key)),
        closed_by_department=[Count(department, n) for department, n in departments],
        requests_by_channel=sorted(
            (Count(c, requests["channel"].get(c, 0)) for c in {*in_scope, *requests["channel"]}),
            key=lambda row: (-row.count, row.key),
        ),
        requests_by_outcome=[
            *(Count(o, requests["outcome"].get(o, 0)) for o in OUTCOMES),
            *(Count(o, n) for o, n in sorted(requests["outcome"].items()) if o not in OUTCOMES),
        ],
        activity=[
            Activity(
                dow,
                hour,
                conversations["weekday_hour"].get((dow, hour), (0, 0, 0.0))[1],
                requests["weekday_hour"].get((dow, hour), 0),
            )
            for dow in WEEKDAYS
            for hour in range(low, high + 1)
        ],
        trend=[TrendPoint(flt.first, hour, *counts("hour", hour)) for hour in range(low, high + 1)]
        if flt.days == 1
        else [TrendPoint(day, None, *counts("date", day)) for day in flt.dates()],
    )


def tab_for(path: Path, flt: TabFilter, timezone: str) -> Tab:
    """Open the snapshot at `path`, check it, and compute the tab for `flt`."""
    with open_snapshot(path) as con:
        info = snapshot_info(con, path)
        return compute_tab(con, flt, timezone, info.channels)
