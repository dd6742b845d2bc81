"""`chat-analytics report`: the tab's numbers for a period, computed exactly from the facts.

Distinct customers and answered requests are counted over the whole period, not summed from
days, so a customer engaged on two days counts once, like the platform's tab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from orchestration.config import Settings
from orchestration.warehouse import open_warehouse


@dataclass
class Report:
    first: date
    last: date
    timezone: str
    channels: list[str]
    hours: tuple[int, int] | None
    headline: dict[str, float | int | None]
    by_channel: list[tuple] = field(default_factory=list)
    by_support_type: list[tuple] = field(default_factory=list)
    by_outcome: list[tuple] = field(default_factory=list)
    by_department: list[tuple] = field(default_factory=list)
    busiest: list[tuple] = field(default_factory=list)


def _in_period(instant: str, params: dict) -> str:
    """A filter on the local date (and hour) of `instant`; values are bound parameters, never pasted."""
    local = f"timezone($tz, {instant})"
    clause = f"{instant} is not null and cast({local} as date) between $first and $last"
    if params["hour_first"] is not None:
        clause += f" and hour({local}) between $hour_first and $hour_last"
    if params["channels"]:
        clause += " and list_contains($channels, channel)"
    return clause


def _query(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> list[tuple]:
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    return con.execute(sql, used).fetchall()


def build_report(
    settings: Settings,
    *,
    first: date,
    last: date,
    channels: list[str] | None = None,
    hours: tuple[int, int] | None = None,
) -> Report:
    wanted = sorted({c.strip().lower() for c in channels or []})
    params = {
        "tz": settings.timezone,
        "first": first,
        "last": last,
        "channels": wanted,
        "hour_first": hours[0] if hours else None,
        "hour_last": hours[1] if hours else None,
    }
    started = _in_period("started_at", params)
    with open_warehouse(settings.warehouse, read_only=True) as con:
        (conversations, engaged, customers, duration_avg) = _query(
            con,
            f"""
            select count(*), count(*) filter (where is_engaged),
                count(distinct customer_id) filter (where is_engaged),
                avg(chatbot_duration_seconds) filter (where is_engaged)
            from marts.fct_conversations where {started}
            """,
            params,
        )[0]
        (transfers,) = _query(
            con,
            f"select count(*) from marts.fct_handover_requests where {_in_period('received_at', params)}",
            params,
        )[0]
        (answered,) = _query(
            con,
            f"select count(distinct handover_id) from marts.fct_agent_replies where {_in_period('replied_at', params)}",
            params,
        )[0]
        (closed,) = _query(
            con,
            f"select count(*) from marts.fct_handover_requests where {_in_period('closed_at', params)}",
            params,
        )[0]
        (wait_avg,) = _query(
            con,
            "select avg(initial_wait_seconds) from marts.fct_handover_requests "
            f"where {_in_period('first_agent_reply_at', params)}",
            params,
        )[0]
        report = Report(
            first=first,
            last=last,
            timezone=settings.timezone,
            channels=wanted,
            hours=hours,
            headline={
                "Successful transfers": transfers,
                "Total conversations": conversations,
                "Conversations with reply": answered,
                "Engaged conversations": engaged,
                "Closed conversations": closed,
                "Engaged customers": customers,
                "Average initial wait (s)": wait_avg,
                "Average chatbot duration (s)": duration_avg,
            },
        )
        report.by_channel = _query(
            con,
            f"""
            select channel, count(*), count(*) filter (where is_engaged)
            from marts.fct_conversations where {started} group by channel order by 2 desc, 1
            """,
            params,
        )
        report.by_support_type = _query(
            con,
            f"""
            select support_type, count(*), count(*) filter (where is_engaged)
            from marts.fct_conversations where {started} group by support_type order by 2 desc, 1
            """,
            params,
        )
        report.by_outcome = _query(
            con,
            f"""
            select outcome, count(*) from marts.fct_handover_requests
            where {_in_period("requested_at", params)} group by outcome order by 2 desc, 1
            """,
            params,
        )
        report.by_department = _query(
            con,
            f"""
            select department, count(*) from marts.fct_handover_requests
            where {_in_period("closed_at", params)} group by department order by 2 desc, 1
            """,
            params,
        )
        report.busiest = _query(
            con,
            f"""
            with activity as (
                select timezone($tz, started_at) as local_at, 1 as engaged, 0 as requests
                from marts.fct_conversations where is_engaged and {started}
                union all
                select timezone($tz, requested_at), 0, 1
                from marts.fct_handover_requests where {_in_period("requested_at", params)}
            )
            select dayname(local_at), hour(local_at), sum(engaged), sum(requests)
            from activity group by all order by sum(engaged) + sum(requests) desc, 1, 2 limit 5
            """,
            params,
        )
    return report


def _number(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.1f}" if isinstance(value, float) else f"{value:,}"


def _table(title: str, header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    lines = [f"\n{title}", "  " + "  ".join(f"{h:>16}" for h in header)]
    lines += [
        "  " + "  ".join(f"{_number(v) if not isinstance(v, str) else v:>16}" for v in row) for row in rows
    ]
    return lines if rows else [*lines, "  (nothing in this period)"]


def format_report(report: Report) -> str:
    scope = f"{report.first} .. {report.last} ({report.timezone})"
    scope += f", channels: {', '.join(report.channels) if report.channels else 'all'}"
    scope += f", hours: {report.hours[0]}-{report.hours[1]}" if report.hours else ", all hours"
    lines = [f"Conversations tab: {scope}", ""]
    lines += [f"  {name:<30}{_number(value):>12}" for name, value in report.headline.items()]
    lines += _table("Conversations by channel", ("channel", "total", "engaged"), report.by_channel)
    lines += _table(
        "Conversations by support type", ("support type", "total", "engaged"), report.by_support_type
    )
    lines += _table("Handover requests by outcome", ("outcome", "requests"), report.by_outcome)
    lines += _table("Closed conversations by department", ("department", "closed"), report.by_department)
    lines += _table(
        "Busiest weekday x hour", ("weekday", "hour", "engaged convs", "handover reqs"), report.busiest
    )
    return "\n".join(lines)
