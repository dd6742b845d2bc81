"""The query module behind `report` and the dashboard: exact for any period, channel set and hour range.

Checked three ways on the shared build's snapshot: against an independent Python computation from the
facts' rows (local dates and hours through zoneinfo), against the marts' additive counts, and against
itself (hour ranges that split the day add up; breakdowns add up to the headline).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from test_serving import Build, shared_build

from orchestration.conversations_tab import OUTCOMES, Tab, TabFilter, day_start, tab_for
from orchestration.serving_snapshot import (
    SnapshotMissing,
    SnapshotOutdated,
    missing_columns,
    open_snapshot,
    snapshot_info,
)

FILTERS = [
    TabFilter(date(2026, 3, 2), date(2026, 3, 4)),
    TabFilter(date(2026, 3, 3), date(2026, 3, 3)),
    TabFilter(date(2026, 3, 1), date(2026, 3, 9), ("web", "whatsapp")),
    TabFilter(date(2026, 3, 2), date(2026, 3, 4), hours=(9, 17)),
    TabFilter(date(2026, 3, 2), date(2026, 3, 3), ("messenger", "sms", "instagram"), (0, 8)),
    TabFilter(date(2026, 3, 4), date(2026, 3, 4), ("telegram",), (10, 11)),
    TabFilter(date(2025, 1, 1), date(2025, 1, 7)),
]
IDS = ["period", "one day", "channels", "hours", "channels+hours", "orphan channel", "no data"]


def tab_of(build: Build, flt: TabFilter) -> Tab:
    return tab_for(build.serving.serving_file, flt, build.settings.timezone)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return shared_build(tmp_path_factory)


@dataclass
class Facts:
    conversations: list[tuple]
    requests: list[tuple]
    replies: list[tuple]


@pytest.fixture(scope="module")
def facts(build: Build) -> Facts:
    con = duckdb.connect(str(build.serving.serving_file), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        return Facts(
            conversations=con.execute(
                "select customer_id, channel, support_type, is_engaged, chatbot_duration_seconds, started_at "
                "from marts.fct_conversations"
            ).fetchall(),
            requests=con.execute(
                "select handover_id, channel, outcome, department, initial_wait_seconds, requested_at, "
                "received_at, first_agent_reply_at, closed_at from marts.fct_handover_requests"
            ).fetchall(),
            replies=con.execute(
                "select handover_id, channel, replied_at from marts.fct_agent_replies"
            ).fetchall(),
        )
    finally:
        con.close()


def in_scope(instant: datetime | None, channel: str, flt: TabFilter, tz: ZoneInfo) -> bool:
    """The rule the README states: the local date and hour of the instant that dates the metric."""
    if instant is None:
        return False
    local = instant.astimezone(tz)
    low, high = flt.hour_range
    return (
        flt.first <= local.date() <= flt.last
        and low <= local.hour <= high
        and (not flt.channels or channel in flt.channels)
    )


def python_tab(facts: Facts, flt: TabFilter, timezone: str) -> dict[str, object]:
    tz = ZoneInfo(timezone)
    convs = [c for c in facts.conversations if in_scope(c[5], c[1], flt, tz)]
    engaged = [c for c in convs if c[3]]
    waits = [r[4] for r in facts.requests if in_scope(r[7], r[1], flt, tz) and r[4] is not None]
    requested = [r for r in facts.requests if in_scope(r[5], r[1], flt, tz)]
    return {
        "successful_transfers": sum(in_scope(r[6], r[1], flt, tz) for r in facts.requests),
        "total_conversations": len(convs),
        "answered_conversations": len({h for h, ch, at in facts.replies if in_scope(at, ch, flt, tz)}),
        "engaged_conversations": len(engaged),
        "closed_conversations": sum(in_scope(r[8], r[1], flt, tz) for r in facts.requests),
        "engaged_customers": len({c[0] for c in engaged}),
        "avg_initial_wait_seconds": sum(waits) / len(waits) if waits else None,
        "avg_chatbot_duration_seconds": sum(c[4] for c in engaged) / len(engaged) if engaged else None,
        "by_support_type": Counter(c[2] for c in convs),
        "closed_by_department": Counter(r[3] for r in facts.requests if in_scope(r[8], r[1], flt, tz)),
        "requests_by_outcome": Counter(r[2] for r in requested),
        "activity_engaged": Counter(
            (c[5].astimezone(tz).isoweekday(), c[5].astimezone(tz).hour) for c in engaged
        ),
        "activity_requests": Counter(
            (r[5].astimezone(tz).isoweekday(), r[5].astimezone(tz).hour) for r in requested
        ),
    }


def close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-6)


@pytest.mark.parametrize("flt", FILTERS, ids=IDS)
def test_the_tab_equals_an_independent_computation_from_the_facts(
    build: Build, facts: Facts, flt: TabFilter
) -> None:
    tab = tab_of(build, flt)
    expected = python_tab(facts, flt, build.settings.timezone)
    for key, value in tab.headline.items():
        assert close(value, expected[key]) if key.startswith("avg_") else value == expected[key], key
    assert Counter({r.key: r.total_conversations for r in tab.by_support_type}) == expected["by_support_type"]
    assert Counter({r.key: r.count for r in tab.closed_by_department}) == expected["closed_by_department"]
    assert {r.key: r.count for r in tab.requests_by_outcome if r.count} == dict(
        expected["requests_by_outcome"]
    )
    assert [r.key for r in tab.requests_by_outcome] == list(OUTCOMES)
    engaged = {(a.day_of_week, a.hour_of_day): a.engaged_conversations for a in tab.activity}
    requests = {(a.day_of_week, a.hour_of_day): a.handover_requests for a in tab.activity}
    assert {k: v for k, v in engaged.items() if v} == dict(expected["activity_engaged"])
    assert {k: v for k, v in requests.items() if v} == dict(expected["activity_requests"])
    low, high = flt.hour_range
    assert len(tab.activity) == 7 * (high - low + 1), "a dense grid, zeros included"


@pytest.mark.parametrize("flt", FILTERS, ids=IDS)
def test_breakdowns_add_up_to_the_headline(build: Build, flt: TabFilter) -> None:
    tab = tab_of(build, flt)
    total, engaged = tab.headline["total_conversations"], tab.headline["engaged_conversations"]
    for rows in (tab.by_channel, tab.by_support_type):
        assert sum(r.total_conversations for r in rows) == total
        assert sum(r.engaged_conversations for r in rows) == engaged
    assert sum(r.count for r in tab.closed_by_department) == tab.headline["closed_conversations"]
    assert sum(r.count for r in tab.requests_by_channel) == sum(r.count for r in tab.requests_by_outcome)
    assert sum(a.engaged_conversations for a in tab.activity) == engaged
    assert sum(a.handover_requests for a in tab.activity) == sum(r.count for r in tab.requests_by_outcome)
    assert sum(p.total_conversations for p in tab.trend) == total
    assert sum(p.engaged_conversations for p in tab.trend) == engaged
    assert len(tab.trend) == (flt.hour_range[1] - flt.hour_range[0] + 1 if flt.days == 1 else flt.days)
    assert {r.key for r in tab.by_channel} >= set(tab.channels), "every channel in scope, zeros included"
    assert tab.has_data == any(v for k, v in tab.headline.items() if not k.startswith("avg_")) or any(
        r.count for r in tab.requests_by_outcome
    )


def _mart_sum(build: Build, sql: str, flt: TabFilter) -> tuple:
    con = duckdb.connect(str(build.serving.serving_file), read_only=True)
    try:
        return con.execute(
            sql
            + " where report_date between $first and $last and (len($channels) = 0 or list_contains($channels, channel))",
            {"first": flt.first, "last": flt.last, "channels": list(flt.channels)},
        ).fetchone()
    finally:
        con.close()


@pytest.mark.parametrize(
    "flt", [f for f in FILTERS if f.hours is None], ids=lambda f: f"{f.first}..{f.last} {f.channels}"
)
def test_additive_counts_equal_the_marts(build: Build, flt: TabFilter) -> None:
    tab = tab_of(build, flt)
    kpi = _mart_sum(
        build,
        "select coalesce(sum(total_conversations), 0), coalesce(sum(engaged_conversations), 0), "
        "coalesce(sum(successful_transfers), 0), coalesce(sum(closed_conversations), 0), "
        "coalesce(sum(initial_wait_seconds_sum), 0), coalesce(sum(initial_wait_count), 0), "
        "coalesce(sum(chatbot_duration_seconds_sum), 0), coalesce(sum(answered_conversations), 0) "
        "from marts.kpi_daily",
        flt,
    )
    h = tab.headline
    assert (h["total_conversations"], h["engaged_conversations"], h["successful_transfers"]) == kpi[:3]
    assert h["closed_conversations"] == kpi[3]
    assert abs(tab.initial_wait_seconds_sum - kpi[4]) < 1e-6 and tab.initial_wait_count == kpi[5]
    assert abs(tab.chatbot_duration_seconds_sum - kpi[6]) < 1e-6
    assert h["answered_conversations"] <= kpi[7], "distinct over the period, at most the days' sum"
    (requests,) = _mart_sum(
        build, "select coalesce(sum(handover_requests), 0) from marts.transfers_by_outcome", flt
    )
    assert sum(r.count for r in tab.requests_by_outcome) == requests
    (closed,) = _mart_sum(
        build, "select coalesce(sum(closed_conversations), 0) from marts.closed_by_department", flt
    )
    assert sum(r.count for r in tab.closed_by_department) == closed
    (engaged,) = _mart_sum(
        build, "select coalesce(sum(engaged_conversations), 0) from marts.activity_by_weekday_hour", flt
    )
    assert sum(a.engaged_conversations for a in tab.activity) == engaged


def test_one_day_of_one_channel_equals_kpi_daily_distinct_counts(build: Build) -> None:
    con = duckdb.connect(str(build.serving.serving_file), read_only=True)
    try:
        rows = con.execute(
            "select report_date, channel, engaged_customers, answered_conversations from marts.kpi_daily "
            "where engaged_customers > 0 or answered_conversations > 0 order by all"
        ).fetchall()
    finally:
        con.close()
    assert rows
    for day, channel, customers, answered in rows:
        tab = tab_of(build, TabFilter(day, day, (channel,)))
        assert (tab.headline["engaged_customers"], tab.headline["answered_conversations"]) == (
            customers,
            answered,
        )


def test_distinct_customers_are_counted_once_over_the_period(build: Build) -> None:
    days = [tab_of(build, TabFilter(d, d)) for d in (date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4))]
    period = tab_of(build, TabFilter(date(2026, 3, 2), date(2026, 3, 4)))
    assert period.headline["engaged_customers"] <= sum(t.headline["engaged_customers"] for t in days)
    assert period.headline["engaged_conversations"] == sum(t.headline["engaged_conversations"] for t in days)


def test_hour_ranges_that_split_the_day_add_up(build: Build) -> None:
    whole = tab_of(build, TabFilter(date(2026, 3, 2), date(2026, 3, 4)))
    parts = [
        tab_of(build, TabFilter(date(2026, 3, 2), date(2026, 3, 4), hours=h))
        for h in ((0, 8), (9, 17), (18, 23))
    ]
    for key in (
        "successful_transfers",
        "total_conversations",
        "engaged_conversations",
        "closed_conversations",
    ):
        assert whole.headline[key] == sum(p.headline[key] for p in parts), key
    assert abs(whole.initial_wait_seconds_sum - sum(p.initial_wait_seconds_sum for p in parts)) < 1e-6
    assert whole.initial_wait_count == sum(p.initial_wait_count for p in parts)
    assert whole.headline["engaged_customers"] <= sum(p.headline["engaged_customers"] for p in parts)


def test_the_filter_is_validated_and_normalized() -> None:
    assert TabFilter(date(2026, 3, 1), date(2026, 3, 1), (" Web", "web", "SMS")).channels == ("sms", "web")
    assert TabFilter(date(2026, 3, 1), date(2026, 3, 1), hours=(0, 23)).hours is None
    with pytest.raises(ValueError, match="after its end"):
        TabFilter(date(2026, 3, 2), date(2026, 3, 1))
    with pytest.raises(ValueError, match="within 0-23"):
        TabFilter(date(2026, 3, 1), date(2026, 3, 1), hours=(5, 24))
    with pytest.raises(ValueError, match="within 0-23"):
        TabFilter(date(2026, 3, 1), date(2026, 3, 1), hours=(9, 8))
    assert TabFilter(date(2026, 3, 1), date(2026, 3, 7)).dates()[-1] == date(2026, 3, 1) + timedelta(days=6)


def test_snapshot_problems_are_named(build: Build, tmp_path: Path) -> None:
    with pytest.raises(SnapshotMissing, match="make demo"):
        tab_for(tmp_path / "none.duckdb", TabFilter(date(2026, 3, 1), date(2026, 3, 1)), "UTC")
    snapshot = tmp_path / "old.duckdb"
    shutil.copyfile(build.serving.serving_file, snapshot)
    snapshot.chmod(0o644)
    con = duckdb.connect(str(snapshot))
    con.execute("alter table marts.fct_conversations drop column support_type")
    con.execute("alter table marts.fct_agent_replies rename column replied_at to reply_at")
    con.execute("drop table marts.kpi_daily")
    assert missing_columns(con) == {
        "fct_conversations": ["support_type"],
        "fct_agent_replies": ["replied_at"],
        "kpi_daily": [],
    }
    con.close()
    with pytest.raises(
        SnapshotOutdated, match="fct_conversations lacks support_type; fct_agent_replies lacks"
    ):
        tab_for(snapshot, TabFilter(date(2026, 3, 1), date(2026, 3, 1)), "UTC")


def test_snapshot_info(build: Build) -> None:
    with open_snapshot(build.serving.serving_file) as con:
        info = snapshot_info(con, build.serving.serving_file)
    assert info.has_data and info.first_date == date(2026, 3, 2) and info.version
    assert "telegram" in info.channels and list(info.channels) == sorted(info.channels)


def test_a_connection_opened_after_a_publication_sees_it_while_an_older_one_is_open(
    build: Build, tmp_path: Path
) -> None:
    """Sessions of one dashboard process overlap: the next one must not get the replaced snapshot."""
    snapshot = tmp_path / "serving" / "chat_analytics.duckdb"
    snapshot.parent.mkdir()
    shutil.copyfile(build.serving.serving_file, snapshot)
    newer = tmp_path / "newer.duckdb"
    shutil.copyfile(build.serving.serving_file, newer)
    newer.chmod(0o644)
    con = duckdb.connect(str(newer))
    con.execute("update meta.snapshot set version = 'the next one'")
    con.close()
    with open_snapshot(snapshot) as before:
        old = snapshot_info(before, snapshot).version
        os.replace(newer, snapshot)  # what a publication does
        with open_snapshot(snapshot) as after:
            assert snapshot_info(after, snapshot).version == "the next one"
        assert snapshot_info(before, snapshot).version == old != "the next one"


@pytest.mark.parametrize(
    "timezone",
    ["Europe/Paris", "America/Santiago", "America/Havana", "Asia/Kolkata", "Pacific/Kiritimati", "UTC"],
)
def test_a_period_is_exactly_the_instants_between_two_day_starts(timezone: str) -> None:
    """The period's two UTC bounds select exactly the instants whose local date lies in it, across DST
    changes, including zones whose changes skip or repeat midnight (Santiago, Havana)."""
    tz = ZoneInfo(timezone)
    first, last = date(2026, 1, 1), date(2026, 12, 31)
    instant = datetime(2025, 12, 30, tzinfo=ZoneInfo("UTC"))
    for _ in range(4 * 24 * 368):
        local_day = instant.astimezone(tz).date()
        for day in (local_day, local_day - timedelta(days=1), local_day + timedelta(days=1)):
            inside = day_start(day, timezone) <= instant < day_start(day + timedelta(days=1), timezone)
            assert inside == (day == local_day), (timezone, instant, day)
        assert (first <= local_day <= last) == (
            day_start(first, timezone) <= instant < day_start(last + timedelta(days=1), timezone)
        )
        instant += timedelta(minutes=15)
