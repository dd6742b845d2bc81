"""The dashboard's charts: their data (a table to show, a CSV to download) and their Altair specs.

A chart's CSV holds the query module's values as they are (channel codes, ISO dates, raw counts) under
stable column names, whatever the page's language; the table beside it shows the page's labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import pandas as pd

from orchestration.conversations_tab import Tab
from orchestration.labels import (
    Language,
    channel_label,
    department_label,
    metric_label,
    outcome_label,
    support_type_label,
    text,
    weekday_label,
)

BAR_HEIGHT = 26  # pixels per bar (and its gap) of a horizontal bar chart


@dataclass(frozen=True)
class ChartData:
    name: str  # the CSV file's stem
    csv: pd.DataFrame  # raw values, stable column names
    table: pd.DataFrame  # the page's labels

    def csv_bytes(self) -> bytes:
        return self.csv.to_csv(index=False).encode()


def _frame(rows: list[dict[str, object]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


def by_channel(tab: Tab, lang: Language) -> ChartData:
    csv = _frame(
        [
            {
                "channel": r.key,
                "total_conversations": r.total_conversations,
                "engaged_conversations": r.engaged_conversations,
            }
            for r in tab.by_channel
        ],
        ["channel", "total_conversations", "engaged_conversations"],
    )
    table = pd.DataFrame(
        {
            text("channel", lang): [channel_label(c, lang) for c in csv["channel"]],
            metric_label("total_conversations", lang): csv["total_conversations"],
            metric_label("engaged_conversations", lang): csv["engaged_conversations"],
        }
    )
    return ChartData("conversations_by_channel", csv, table)


def by_support_type(tab: Tab, lang: Language) -> ChartData:
    csv = _frame(
        [
            {
                "support_type": r.key,
                "total_conversations": r.total_conversations,
                "engaged_conversations": r.engaged_conversations,
            }
            for r in tab.by_support_type
        ],
        ["support_type", "total_conversations", "engaged_conversations"],
    )
    table = pd.DataFrame(
        {
            text("support_type", lang): [support_type_label(s, lang) for s in csv["support_type"]],
            metric_label("total_conversations", lang): csv["total_conversations"],
            metric_label("engaged_conversations", lang): csv["engaged_conversations"],
        }
    )
    return ChartData("conversations_by_support_type", csv, table)


def closed_by_department(tab: Tab, lang: Language) -> ChartData:
    csv = _frame(
        [{"department": r.key, "closed_conversations": r.count} for r in tab.closed_by_department],
        ["department", "closed_conversations"],
    )
    table = pd.DataFrame(
        {
            text("department", lang): [department_label(d, lang) for d in csv["department"]],
            metric_label("closed_conversations", lang): csv["closed_conversations"],
        }
    )
    return ChartData("closed_by_department", csv, table)


def requests_by_channel(tab: Tab, lang: Language) -> ChartData:
    csv = _frame(
        [{"channel": r.key, "handover_requests": r.count} for r in tab.requests_by_channel],
        ["channel", "handover_requests"],
    )
    table = pd.DataFrame(
        {
            text("channel", lang): [channel_label(c, lang) for c in csv["channel"]],
            text("handover_requests", lang): csv["handover_requests"],
        }
    )
    return ChartData("handover_requests_by_channel", csv, table)


def requests_by_outcome(tab: Tab, lang: Language) -> ChartData:
    csv = _frame(
        [{"outcome": r.key, "handover_requests": r.count} for r in tab.requests_by_outcome],
        ["outcome", "handover_requests"],
    )
    table = pd.DataFrame(
        {
            text("outcome", lang): [outcome_label(o, lang) for o in csv["outcome"]],
            text("handover_requests", lang): csv["handover_requests"],
        }
    )
    return ChartData("handover_requests_by_outcome", csv, table)


def activity(tab: Tab, lang: Language, view: str) -> ChartData:
    """Weekday x hour; `view` ('engaged' or 'requests') picks the column the table shows."""
    csv = _frame(
        [
            {
                "day_of_week": a.day_of_week,
                "day_name": weekday_label(a.day_of_week, "en"),
                "hour_of_day": a.hour_of_day,
                "engaged_conversations": a.engaged_conversations,
                "handover_requests": a.handover_requests,
            }
            for a in tab.activity
        ],
        ["day_of_week", "day_name", "hour_of_day", "engaged_conversations", "handover_requests"],
    )
    column = "engaged_conversations" if view == "engaged" else "handover_requests"
    table = csv.pivot(index="day_of_week", columns="hour_of_day", values=column)
    table.index = [weekday_label(d, lang) for d in table.index]
    table.index.name = text("weekday", lang)
    table.columns = [str(h) for h in table.columns]
    return ChartData("activity_by_weekday_hour", csv, table)


def trend(tab: Tab, lang: Language) -> ChartData:
    rows = [
        {
            "report_date": p.day.isoformat(),
            **({"hour_of_day": p.hour} if tab.hourly_trend else {}),
            "total_conversations": p.total_conversations,
            "engaged_conversations": p.engaged_conversations,
        }
        for p in tab.trend
    ]
    columns = [
        "report_date",
        *(["hour_of_day"] if tab.hourly_trend else []),
        "total_conversations",
        "engaged_conversations",
    ]
    csv = _frame(rows, columns)
    first = text("hour", lang) if tab.hourly_trend else text("date", lang)
    table = pd.DataFrame(
        {
            first: csv["hour_of_day"] if tab.hourly_trend else csv["report_date"],
            metric_label("total_conversations", lang): csv["total_conversations"],
            metric_label("engaged_conversations", lang): csv["engaged_conversations"],
        }
    )
    return ChartData(
        "conversations_trend_hourly" if tab.hourly_trend else "conversations_trend_daily", csv, table
    )


# ---------------------------------------------------------------------------------------------------
# Altair specs
# ---------------------------------------------------------------------------------------------------


def bar_chart(
    data: ChartData, label_column: str, value_column: str, *, keep_order: bool = False
) -> alt.LayerChart:
    """Horizontal bars of `value_column` by `label_column` of the chart's table, each with its value."""
    frame = data.table[[label_column, value_column]]
    order = list(frame[label_column]) if keep_order else "-x"
    # Room after the longest bar for its value.
    upper = max(int(frame[value_column].max()) if len(frame) else 0, 1) * 1.15
    base = alt.Chart(frame).encode(
        x=alt.X(
            f"{value_column}:Q",
            title=value_column,
            axis=alt.Axis(tickMinStep=1, format=",d"),
            scale=alt.Scale(domain=[0, upper], nice=False),
        ),
        y=alt.Y(f"{label_column}:N", title=None, sort=order, axis=alt.Axis(labelOverlap=False)),
        tooltip=[alt.Tooltip(f"{label_column}:N"), alt.Tooltip(f"{value_column}:Q", format=",")],
    )
    bars = base.mark_bar()
    values = base.mark_text(align="left", dx=4).encode(text=alt.Text(f"{value_column}:Q", format=",d"))
    return (bars + values).properties(height=alt.Step(BAR_HEIGHT))


def heatmap(data: ChartData, lang: Language, view: str) -> alt.Chart:
    column = "engaged_conversations" if view == "engaged" else "handover_requests"
    title = (
        text("engaged_chatbot_conversations", lang) if view == "engaged" else text("handover_requests", lang)
    )
    frame = pd.DataFrame(
        {
            "weekday": [weekday_label(d, lang) for d in data.csv["day_of_week"]],
            "hour": data.csv["hour_of_day"],
            "value": data.csv[column],
        }
    )
    return (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X("hour:O", title=text("hour", lang), axis=alt.Axis(labelAngle=0)),
            y=alt.Y("weekday:N", title=None, sort=[weekday_label(d, lang) for d in range(1, 8)]),
            color=alt.Color("value:Q", title=None, scale=alt.Scale(scheme="blues")),
            tooltip=[
                alt.Tooltip("weekday:N", title=text("weekday", lang)),
                alt.Tooltip("hour:O", title=text("hour", lang)),
                alt.Tooltip("value:Q", title=title, format=","),
            ],
        )
        .properties(height=260)
    )


def trend_chart(data: ChartData, tab: Tab, lang: Language) -> alt.Chart:
    total, engaged = metric_label("total_conversations", lang), metric_label("engaged_conversations", lang)
    series = text("series", lang)
    x_column = "hour_of_day" if tab.hourly_trend else "report_date"
    frame = data.csv.rename(columns={"total_conversations": total, "engaged_conversations": engaged})
    long = frame.melt(id_vars=[x_column], value_vars=[total, engaged], var_name=series, value_name="value")
    x = (
        alt.X(f"{x_column}:O", title=text("hour", lang), axis=alt.Axis(labelAngle=0))
        if tab.hourly_trend
        # Dates as ordinals: a temporal axis would shift them by the browser's offset from UTC.
        else alt.X(f"{x_column}:O", title=text("date", lang), axis=alt.Axis(labelAngle=-45))
    )
    return (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=text("conversations", lang)),
            color=alt.Color(f"{series}:N", sort=[total, engaged]),
            tooltip=[
                alt.Tooltip(f"{x_column}:N"),
                alt.Tooltip(f"{series}:N"),
                alt.Tooltip("value:Q", format=","),
            ],
        )
        .properties(height=280)
    )
