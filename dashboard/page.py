"""The Conversations tab as a Streamlit page, top to bottom as the help article describes it.

Each run of the script opens the published serving snapshot read-only, reads the filters (first from
the URL, then from the widgets), asks `orchestration.conversations_tab` for the numbers and draws them.
Nothing is cached across runs, so a refresh shows the newest snapshot, and a snapshot replaced while
the page is open only changes what the next run reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import duckdb
import streamlit as st

from dashboard import charts
from dashboard.url_state import (
    ACTIVITY_VIEWS,
    ALL_HOURS,
    CONVERSATION_VIEWS,
    Note,
    ViewState,
    parse,
    to_params,
)
from orchestration.config import ConfigError, Settings
from orchestration.conversations_tab import HEADLINE, Tab, TabFilter, compute_tab, last_days, today_in
from orchestration.labels import (
    LANGUAGES,
    Language,
    channel_label,
    format_metric,
    language,
    metric_label,
    metric_note,
    outcome_label,
    outcome_note,
    text,
)
from orchestration.serving import ServingConfig
from orchestration.serving_snapshot import (
    SnapshotError,
    SnapshotInfo,
    SnapshotMissing,
    SnapshotOutdated,
    open_snapshot,
    snapshot_info,
    timezone_matches,
)

TILES_PER_ROW = 4
_INIT = "_view_initialized"
_NOTES = "_url_notes"
_EXPLICIT = "_explicit_period"
_TZ_CHECKS = "_timezone_checks"


def today(settings: Settings) -> date:
    """Today in the reporting zone (the default period ends today); tests replace it."""
    return today_in(settings.timezone)


def render() -> None:
    st.set_page_config(page_title="Conversations", page_icon=":material/forum:", layout="wide")
    lang = language(st.session_state.get("lang") or st.query_params.get("lang"))
    try:
        settings = Settings.from_env()
        serving = ServingConfig(serving_dir=settings.serving_path)
    except ConfigError as exc:
        st.title(text("page_title", lang))
        st.error(text("bad_configuration", lang, error=exc))
        return
    path = serving.serving_file
    try:
        with open_snapshot(path) as con:
            info = snapshot_info(con, path)
            _render_snapshot(con, info, settings)
    except SnapshotMissing:
        st.title(text("page_title", lang))
        st.info(text("no_snapshot", lang, path=path), icon=":material/hourglass_empty:")
    except SnapshotOutdated as exc:
        st.title(text("page_title", lang))
        details = "; ".join(
            text("missing_columns", lang, table=table, columns=", ".join(columns))
            if columns
            else text("missing_table", lang, table=table)
            for table, columns in exc.missing.items()
        )
        st.error(text("outdated_snapshot", lang, path=path, details=details))
    except (SnapshotError, duckdb.Error) as exc:
        st.title(text("page_title", lang))
        st.error(text("bad_snapshot", lang, error=exc))


# ---------------------------------------------------------------------------------------------------
# Filters: the URL, then the widgets
# ---------------------------------------------------------------------------------------------------


def _initialize(info: SnapshotInfo, default_period: tuple[date, date]) -> None:
    """On a session's first run, the widgets start from the URL."""
    if st.session_state.get(_INIT):
        return
    params = {key: st.query_params.get_all(key) for key in st.query_params}
    state, notes = parse(params, known_channels=info.channels, default_period=default_period)
    st.session_state.update(
        {
            "lang": state.lang,
            "start": state.start,
            "end": state.end,
            "channels": list(state.channels),
            "hours": state.hours,
            "conversations": state.conversations,
            "activity": state.activity,
            _EXPLICIT: state.explicit_period,
            _NOTES: notes,
            _INIT: True,
        }
    )


def _mark_period_chosen() -> None:
    st.session_state[_EXPLICIT] = True


def _set_period(start: date, end: date) -> Callable[[], None]:
    def set_period() -> None:
        st.session_state.update({"start": start, "end": end, _EXPLICIT: True})

    return set_period


def _filters(info: SnapshotInfo) -> ViewState:
    lang: Language = language(st.session_state.get("lang"))
    title, switch = st.columns([5, 1], vertical_alignment="bottom")
    with switch:
        st.segmented_control(
            text("language", lang),
            LANGUAGES,
            key="lang",
            required=True,
            format_func=str.upper,
            label_visibility="collapsed",
        )
    lang = language(st.session_state.get("lang"))
    with title:
        st.title(text("page_title", lang))
    # Channels of a newer snapshot may differ: keep only the ones it has.
    st.session_state["channels"] = [c for c in st.session_state.get("channels", []) if c in info.channels]
    start_col, end_col, channels_col, hours_col = st.columns([1, 1, 2, 2])
    help_ = text("filters_help", lang)
    start_col.date_input(
        text("from", lang), key="start", on_change=_mark_period_chosen, format="YYYY-MM-DD", help=help_
    )
    end_col.date_input(
        text("to", lang), key="end", on_change=_mark_period_chosen, format="YYYY-MM-DD", help=help_
    )
    channels_col.multiselect(
        text("channels", lang),
        list(info.channels),
        key="channels",
        format_func=lambda c: channel_label(c, lang),
        placeholder=text("channels_placeholder", lang),
    )
    hours_col.slider(text("hours", lang), min_value=0, max_value=23, key="hours", help=help_)
    start, end = st.session_state["start"], st.session_state["end"]
    if start > end:
        start, end = end, start
    return ViewState(
        start=start,
        end=end,
        channels=tuple(sorted(st.session_state["channels"])),
        hours=tuple(st.session_state["hours"]),  # type: ignore[arg-type]
        lang=lang,
        conversations=st.session_state.get("conversations", CONVERSATION_VIEWS[0]),
        activity=st.session_state.get("activity", ACTIVITY_VIEWS[0]),
        explicit_period=bool(st.session_state.get(_EXPLICIT)),
    )


def _show_notes(notes: list[Note], lang: Language) -> None:
    for note in notes:
        st.warning(text(note.key, lang, **note.fields), icon=":material/link_off:")


# ---------------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------------


def _render_snapshot(con: duckdb.DuckDBPyConnection, info: SnapshotInfo, settings: Settings) -> None:
    default_period = last_days(today(settings))
    _initialize(info, default_period)
    state = _filters(info)
    lang = state.lang
    st.query_params.from_dict(to_params(state, info.channels))
    st.caption(text("intro", lang, minutes=settings.inactivity_minutes))
    _show_notes(st.session_state.get(_NOTES, []), lang)
    if not info.has_data:
        st.info(text("empty_snapshot", lang))
        return
    _check_timezone(con, info, settings.timezone, lang)
    flt = TabFilter(first=state.start, last=state.end, channels=state.channels, hours=state.hour_filter)
    tab = compute_tab(con, flt, settings.timezone, info.channels)
    if not tab.has_data:
        _explain_empty(info, state, default_period, lang)
    _tiles(tab, lang)
    _conversations(tab, state, lang)
    _handover_requests(tab, state, lang)
    _activity(tab, state, lang)
    _trend(tab, state, lang)
    st.divider()
    st.caption(
        text(
            "snapshot_caption",
            lang,
            version=info.version or "-",
            published_at=info.published_at.strftime("%Y-%m-%d %H:%M") if info.published_at else "-",
            first=info.first_date,
            last=info.last_date,
        )
    )


def _check_timezone(
    con: duckdb.DuckDBPyConnection, info: SnapshotInfo, timezone: str, lang: Language
) -> None:
    checks: dict[tuple[str | None, str], bool] = st.session_state.setdefault(_TZ_CHECKS, {})
    key = (info.version, timezone)
    if key not in checks:
        checks[key] = timezone_matches(con, timezone)
    if not checks[key]:
        st.warning(text("timezone_mismatch", lang, timezone=timezone), icon=":material/schedule:")


def _explain_empty(
    info: SnapshotInfo, state: ViewState, default_period: tuple[date, date], lang: Language
) -> None:
    assert info.first_date is not None and info.last_date is not None
    is_default = not state.explicit_period and (state.start, state.end) == default_period
    if is_default and not state.channels and state.hours == ALL_HOURS:
        start, end = last_days(info.last_date, (default_period[1] - default_period[0]).days + 1)
        st.info(
            text(
                "default_period_empty",
                lang,
                days=(default_period[1] - default_period[0]).days + 1,
                start=default_period[0],
                end=default_period[1],
                first=info.first_date,
                last=info.last_date,
            ),
            icon=":material/event_busy:",
        )
        st.button(
            text("show_last_days", lang, days=(end - start).days + 1, start=start, end=end),
            on_click=_set_period(start, end),
            type="primary",
        )
    else:
        st.info(
            text("empty_period", lang, first=info.first_date, last=info.last_date),
            icon=":material/event_busy:",
        )


def _tiles(tab: Tab, lang: Language) -> None:
    for row_start in range(0, len(HEADLINE), TILES_PER_ROW):
        columns = st.columns(TILES_PER_ROW)
        for column, key in zip(columns, HEADLINE[row_start : row_start + TILES_PER_ROW], strict=True):
            column.metric(
                metric_label(key, lang),
                format_metric(key, tab.headline[key], lang),
                help=metric_note(key, lang),
                border=True,
            )


def _chart_title(title: str, help: str) -> None:
    st.markdown(f"#### {title}", help=help)


def _data(data: charts.ChartData, state: ViewState, lang: Language, *, wide: bool = False) -> None:
    """The chart's numbers as a table, and its CSV."""
    with st.expander(text("data", lang)):
        if wide:
            st.dataframe(data.table)
        else:
            st.table(data.table, hide_index=True)
        st.download_button(
            text("download_csv", lang),
            data=data.csv_bytes(),
            file_name=f"{data.name}_{state.start}_{state.end}.csv",
            mime="text/csv",
            key=f"download_{data.name}",
            on_click="ignore",
            icon=":material/download:",
        )


def _conversations(tab: Tab, state: ViewState, lang: Language) -> None:
    st.radio(
        text("conversations_switch", lang),
        CONVERSATION_VIEWS,
        key="conversations",
        horizontal=True,
        format_func=lambda v: text("all_conversations" if v == "all" else "engaged_only", lang),
    )
    measure = metric_label(
        "total_conversations" if state.conversations == "all" else "engaged_conversations", lang
    )
    channels, support_types, departments = st.columns(3)
    with channels:
        _chart_title(text("by_channel", lang), help=text("by_channel_note", lang))
        data = charts.by_channel(tab, lang)
        st.altair_chart(charts.bar_chart(data, text("channel", lang), measure), width="stretch")
        _data(data, state, lang)
    with support_types:
        _chart_title(text("by_support_type", lang), help=text("by_support_type_note", lang))
        data = charts.by_support_type(tab, lang)
        _bars_or_nothing(data, text("support_type", lang), measure, lang)
        _data(data, state, lang)
    with departments:
        _chart_title(text("closed_by_department", lang), help=text("closed_by_department_note", lang))
        data = charts.closed_by_department(tab, lang)
        _bars_or_nothing(data, text("department", lang), metric_label("closed_conversations", lang), lang)
        _data(data, state, lang)


def _bars_or_nothing(data: charts.ChartData, label_column: str, value_column: str, lang: Language) -> None:
    """A bar chart of an open dimension (rows only where a count is not zero), or a note when empty."""
    if data.csv.empty:
        st.caption(text("nothing", lang))
    else:
        st.altair_chart(charts.bar_chart(data, label_column, value_column), width="stretch")


def _handover_requests(tab: Tab, state: ViewState, lang: Language) -> None:
    st.subheader(text("handover_requests", lang))
    left, right = st.columns(2)
    requests = text("handover_requests", lang)
    with left:
        _chart_title(text("requests_by_channel_title", lang), help=text("requests_by_channel_note", lang))
        st.caption(text("requests_by_channel", lang))
        data = charts.requests_by_channel(tab, lang)
        st.altair_chart(charts.bar_chart(data, text("channel", lang), requests), width="stretch")
        _data(data, state, lang)
    with right:
        outcomes = " ".join(
            text("definition", lang, term=outcome_label(r.key, lang), definition=outcome_note(r.key, lang))
            for r in tab.requests_by_outcome
        )
        _chart_title(
            text("requests_by_outcome_title", lang),
            help=f"{text('requests_by_outcome_note', lang)} {outcomes}",
        )
        st.caption(text("requests_by_outcome", lang))
        data = charts.requests_by_outcome(tab, lang)
        st.altair_chart(
            charts.bar_chart(data, text("outcome", lang), requests, keep_order=True), width="stretch"
        )
        _data(data, state, lang)


def _activity(tab: Tab, state: ViewState, lang: Language) -> None:
    st.subheader(text("activity", lang), help=text("activity_note", lang))
    st.radio(
        text("activity_switch", lang),
        ACTIVITY_VIEWS,
        key="activity",
        horizontal=True,
        format_func=lambda v: text(
            "engaged_chatbot_conversations" if v == "engaged" else "handover_requests", lang
        ),
    )
    data = charts.activity(tab, lang, state.activity)
    st.altair_chart(charts.heatmap(data, lang, state.activity), width="stretch")
    _data(data, state, lang, wide=True)


def _trend(tab: Tab, state: ViewState, lang: Language) -> None:
    st.subheader(
        text("trend_hourly" if tab.hourly_trend else "trend_daily", lang), help=text("trend_note", lang)
    )
    data = charts.trend(tab, lang)
    st.altair_chart(charts.trend_chart(data, tab, lang), width="stretch")
    _data(data, state, lang)
