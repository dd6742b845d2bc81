"""`chat-analytics report`: the tab's numbers for a period, printed in a terminal.

The numbers come from `orchestration.conversations_tab` (the dashboard's query module) on the published
serving snapshot, never the warehouse: the report and the dashboard agree, and neither waits for a run.
Distinct customers and answered requests are counted over the whole period, not summed from days.
"""

from __future__ import annotations

from datetime import date

from orchestration.config import Settings
from orchestration.conversations_tab import HEADLINE, Tab, TabFilter, tab_for
from orchestration.labels import (
    Language,
    channel_label,
    department_label,
    format_count,
    format_metric,
    metric_label,
    outcome_label,
    support_type_label,
    text,
    weekday_label,
)
from orchestration.serving import ServingConfig

BUSIEST = 5  # weekday x hour cells listed


def build_report(
    settings: Settings,
    *,
    first: date,
    last: date,
    channels: list[str] | None = None,
    hours: tuple[int, int] | None = None,
    serving: ServingConfig | None = None,
) -> Tab:
    """The tab for the local days `first`..`last`, read from the serving snapshot."""
    serving = serving or ServingConfig(serving_dir=settings.serving_path)
    flt = TabFilter(first=first, last=last, channels=tuple(channels or ()), hours=hours)
    return tab_for(serving.serving_file, flt, settings.timezone)


def _table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]], lang: Language) -> list[str]:
    """A titled table: the first column left-aligned, the numbers right-aligned."""
    if not rows:
        return [f"\n{title}", f"  ({text('nothing', lang)})"]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        cells = [
            f"{v:<{w}}" if i == 0 else f"{v:>{w}}" for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  " + "   ".join(cells)

    return [f"\n{title}", line(header), *(line(row) for row in rows)]


def format_report(tab: Tab, lang: Language = "en") -> str:
    flt = tab.filter
    scope = text(
        "scope",
        lang,
        first=flt.first,
        last=flt.last,
        timezone=tab.timezone,
        channels=", ".join(flt.channels) if flt.channels else text("all_channels", lang),
        hours=text("hour_range", lang, first=flt.hours[0], last=flt.hours[1])
        if flt.hours
        else text("all_hours", lang),
    )
    lines = [f"{text('page_title', lang)}: {scope}", ""]
    width = max(len(metric_label(key, lang)) for key in HEADLINE) + 2
    lines += [
        f"  {metric_label(key, lang):<{width}}{format_metric(key, tab.headline[key], lang):>12}"
        for key in HEADLINE
    ]
    count = lambda n: format_count(n, lang)  # noqa: E731
    total, engaged = metric_label("total_conversations", lang), metric_label("engaged_conversations", lang)
    # one table per channel: its conversations and its handover requests (make demo stays short)
    requests = {r.key: r.count for r in tab.requests_by_channel}
    lines += _table(
        text("by_channel", lang),
        (text("channel", lang), total, engaged, text("handover_requests", lang)),
        [
            (
                channel_label(r.key, lang),
                count(r.total_conversations),
                count(r.engaged_conversations),
                count(requests.get(r.key, 0)),
            )
            for r in tab.by_channel
            if r.total_conversations or requests.get(r.key)
        ],
        lang,
    )
    lines += _table(
        text("by_support_type", lang),
        (text("support_type", lang), total, engaged),
        [
            (support_type_label(r.key, lang), count(r.total_conversations), count(r.engaged_conversations))
            for r in tab.by_support_type
        ],
        lang,
    )
    lines += _table(
        text("requests_by_outcome_title", lang),
        (text("outcome", lang), text("requests", lang)),
        [(outcome_label(r.key, lang), count(r.count)) for r in tab.requests_by_outcome],
        lang,
    )
    lines += _table(
        text("closed_by_department", lang),
        (text("department", lang), metric_label("closed_conversations", lang)),
        [(department_label(r.key, lang), count(r.count)) for r in tab.closed_by_department],
        lang,
    )
    busiest = sorted(
        (a for a in tab.activity if a.engaged_conversations or a.handover_requests),
        key=lambda a: (-(a.engaged_conversations + a.handover_requests), a.day_of_week, a.hour_of_day),
    )[:BUSIEST]
    lines += _table(
        text("busiest", lang, n=BUSIEST),
        (
            text("weekday", lang),
            text("hour", lang),
            text("engaged_chatbot_conversations", lang),
            text("handover_requests", lang),
        ),
        [
            (
                weekday_label(a.day_of_week, lang),
                str(a.hour_of_day),
                count(a.engaged_conversations),
                count(a.handover_requests),
            )
            for a in busiest
        ],
        lang,
    )
    return "\n".join(lines)
