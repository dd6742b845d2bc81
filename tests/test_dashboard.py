"""The dashboard's logic under Streamlit's AppTest, on the small shared build of tests/test_serving.py.

Defaults, each filter and switch, the URL state both ways, the bad states (no snapshot, an empty
period, bad URL values, a snapshot missing a column, a snapshot replaced while the page is open), and
the tiles equal to the query module's numbers and to `chat-analytics report`'s output.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dashboard_helpers import (
    app,
    data_dates,
    expected_tiles,
    tab_of,
    tiles,
    use_build,
    writable_copy,
)
from streamlit.testing.v1 import AppTest
from test_serving import REPO_ROOT, Build, copy_build, shared_build

from dashboard import charts
from dashboard.url_state import ViewState, parse, to_params
from orchestration import labels
from orchestration.cli import main as cli_main
from orchestration.conversations_tab import HEADLINE, OUTCOMES, TabFilter
from orchestration.labels import metric_label

ARTICLE = REPO_ROOT.parent / "shared" / "seed" / "conversations-tab.fr.txt"


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return shared_build(tmp_path_factory)


@pytest.fixture(scope="module")
def dates(build: Build) -> tuple[date, date]:
    return data_dates(build)


@pytest.fixture
def today(build: Build, dates: tuple[date, date], monkeypatch: pytest.MonkeyPatch) -> date:
    """The app's "today" is the snapshot's last date, so the default period holds data."""
    use_build(monkeypatch, build)
    monkeypatch.setattr("dashboard.page.today", lambda settings: dates[1])
    return dates[1]


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.info]


def params(at: AppTest) -> dict[str, str | list[str]]:
    return dict(at.query_params)


# ---------------------------------------------------------------------------------------------------
# Defaults and the numbers
# ---------------------------------------------------------------------------------------------------


def test_the_default_view_is_the_last_seven_days_all_channels_all_hours(build: Build, today: date) -> None:
    at = run(app())
    first = today - timedelta(days=6)
    assert [d.value for d in at.date_input] == [first, today]
    assert at.multiselect[0].value == [] and at.multiselect[0].placeholder == "All channels"
    assert at.slider[0].value == (0, 23)
    assert [r.value for r in at.radio] == ["all", "engaged"]
    assert at.segmented_control[0].value == "en"
    assert params(at) == {}, "the default view keeps a bare URL"
    assert tiles(at) == expected_tiles(tab_of(build, TabFilter(first, today)))
    assert list(tiles(at)) == [metric_label(key, "en") for key in HEADLINE], "the article's order"
    assert not warnings(at) and not infos(at)


def test_every_tile_has_its_hover_note(today: date) -> None:
    at = run(app())
    assert [m.proto.help for m in at.metric] == [labels.metric_note(key, "en") for key in HEADLINE]


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2026-03-02", "end": "2026-03-04"},
        {"start": "2026-03-03", "end": "2026-03-03", "hours": "9-17"},
        {"start": "2026-03-01", "end": "2026-03-10", "channel": ["web", "messenger"]},
        {"start": "2026-03-02", "end": "2026-03-04", "channel": "whatsapp", "hours": "18-23"},
    ],
    ids=["period", "one day, hours", "channels", "channel and hours"],
)
def test_tiles_equal_the_query_module_and_the_report(
    build: Build, today: date, query: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    at = run(app(**query))
    first, last = date.fromisoformat(query["start"]), date.fromisoformat(query["end"])
    channels = [query["channel"]] if isinstance(query.get("channel"), str) else query.get("channel", [])
    hours = tuple(int(h) for h in query["hours"].split("-")) if "hours" in query else None
    flt = TabFilter(first, last, tuple(channels), hours)
    shown = tiles(at)
    assert shown == expected_tiles(tab_of(build, flt))
    argv = ["report", "--end", last.isoformat(), "--days", str((last - first).days + 1)]
    argv += [arg for channel in channels for arg in ("--channel", channel)]
    argv += ["--hours", query["hours"]] if "hours" in query else []
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    for label, value in shown.items():
        assert re.search(rf"^  {re.escape(label)} +{re.escape(value)}$", printed, re.M), (label, value)


def test_charts_and_downloads_follow_the_query_module(build: Build, today: date) -> None:
    at = run(app(start="2026-03-02", end="2026-03-04"))
    tab = tab_of(build, TabFilter(date(2026, 3, 2), date(2026, 3, 4)))
    assert len(at.get("vega_lite_chart")) == 7
    names = [
        "conversations_by_channel",
        "conversations_by_support_type",
        "closed_by_department",
        "handover_requests_by_channel",
        "handover_requests_by_outcome",
        "activity_by_weekday_hour",
        "conversations_trend_daily",
    ]
    assert [d.label for d in at.download_button] == ["Download CSV"] * len(names)
    assert [d.proto.url.endswith(".csv") for d in at.download_button] == [True] * len(names)
    by_channel = at.table[0].value
    assert list(by_channel.iloc[:, 1]) == [r.total_conversations for r in tab.by_channel]
    assert list(by_channel.iloc[:, 0]) == [labels.channel_label(r.key, "en") for r in tab.by_channel]
    outcomes = at.table[4].value
    assert list(outcomes.iloc[:, 0]) == [labels.outcome_label(o, "en") for o in OUTCOMES]
    assert list(outcomes.iloc[:, 1]) == [r.count for r in tab.requests_by_outcome]
    trend = at.table[5].value
    assert list(trend.iloc[:, 0]) == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert sum(trend.iloc[:, 1]) == tab.headline["total_conversations"]


def test_the_csv_files_hold_the_query_modules_values(build: Build) -> None:
    tab = tab_of(build, TabFilter(date(2026, 3, 2), date(2026, 3, 4), hours=(8, 20)))
    for lang in labels.LANGUAGES:
        csv = {
            data.name: pd.read_csv(pd.io.common.BytesIO(data.csv_bytes()))
            for data in (
                charts.by_channel(tab, lang),
                charts.by_support_type(tab, lang),
                charts.closed_by_department(tab, lang),
                charts.requests_by_channel(tab, lang),
                charts.requests_by_outcome(tab, lang),
                charts.activity(tab, lang, "engaged"),
                charts.trend(tab, lang),
            )
        }

        def rows(name: str, csv: dict[str, pd.DataFrame] = csv) -> list[tuple]:
            return [tuple(r) for r in csv[name].itertuples(index=False)]

        assert rows("conversations_by_channel") == [tuple(r) for r in tab.by_channel]
        assert rows("conversations_by_support_type") == [tuple(r) for r in tab.by_support_type]
        assert rows("closed_by_department") == [tuple(r) for r in tab.closed_by_department]
        assert rows("handover_requests_by_channel") == [tuple(r) for r in tab.requests_by_channel]
        assert rows("handover_requests_by_outcome") == [tuple(r) for r in tab.requests_by_outcome]
        activity = csv["activity_by_weekday_hour"]
        assert list(activity.columns) == [
            "day_of_week",
            "day_name",
            "hour_of_day",
            "engaged_conversations",
            "handover_requests",
        ]
        assert [
            (a.day_of_week, a.hour_of_day, a.engaged_conversations, a.handover_requests) for a in tab.activity
        ] == [
            tuple(r)
            for r in activity[
                ["day_of_week", "hour_of_day", "engaged_conversations", "handover_requests"]
            ].itertuples(index=False)
        ]
        assert set(activity["hour_of_day"]) == set(range(8, 21))
        assert rows("conversations_trend_daily") == [
            (p.day.isoformat(), p.total_conversations, p.engaged_conversations) for p in tab.trend
        ]


# ---------------------------------------------------------------------------------------------------
# Each filter and switch, and the URL
# ---------------------------------------------------------------------------------------------------


def test_the_period_filter(build: Build, today: date) -> None:
    at = run(app())
    at.date_input[0].set_value(date(2026, 3, 3))
    at.date_input[1].set_value(date(2026, 3, 3))
    run(at)
    assert params(at) == {"start": "2026-03-03", "end": "2026-03-03"}
    assert tiles(at) == expected_tiles(tab_of(build, TabFilter(date(2026, 3, 3), date(2026, 3, 3))))
    assert "Conversations per hour" in [s.value for s in at.subheader], "one day: by hour"
    assert list(at.table[5].value.iloc[:, 0]) == list(range(24))


def test_the_channel_filter(build: Build, today: date) -> None:
    at = run(app(start="2026-03-02", end="2026-03-04"))
    assert "telegram" in at.multiselect[0].options
    at.multiselect[0].set_value(["web", "sms"])
    run(at)
    assert params(at)["channel"] == ["sms", "web"]
    tab = tab_of(build, TabFilter(date(2026, 3, 2), date(2026, 3, 4), ("web", "sms")))
    assert tiles(at) == expected_tiles(tab)
    assert list(at.table[0].value.iloc[:, 0]) == [labels.channel_label(r.key, "en") for r in tab.by_channel]
    assert {r.key for r in tab.by_channel} == {"web", "sms"}


def test_the_hour_filter(build: Build, today: date) -> None:
    at = run(app(start="2026-03-02", end="2026-03-04"))
    at.slider[0].set_value((9, 17))
    run(at)
    assert params(at)["hours"] == "9-17"
    tab = tab_of(build, TabFilter(date(2026, 3, 2), date(2026, 3, 4), hours=(9, 17)))
    assert tiles(at) == expected_tiles(tab)
    assert list(at.dataframe[0].value.columns) == [str(h) for h in range(9, 18)], "the heatmap's hours"
    at.slider[0].set_value((0, 23))
    run(at)
    assert "hours" not in params(at)


def test_the_all_or_engaged_switch(today: date) -> None:
    at = run(app(start="2026-03-02", end="2026-03-04"))
    assert _bar_measure(at, 0) == _bar_measure(at, 1) == "Total conversations"
    at.radio[0].set_value("engaged")
    run(at)
    assert params(at)["conversations"] == "engaged"
    assert _bar_measure(at, 0) == _bar_measure(at, 1) == "Engaged conversations"


def test_the_activity_switch(build: Build, today: date) -> None:
    at = run(app(start="2026-03-02", end="2026-03-04"))
    tab = tab_of(build, TabFilter(date(2026, 3, 2), date(2026, 3, 4)))
    heatmap = at.dataframe[0].value
    assert int(heatmap.to_numpy().sum()) == tab.headline["engaged_conversations"]
    at.radio[1].set_value("requests")
    run(at)
    assert params(at)["activity"] == "requests"
    heatmap = at.dataframe[0].value
    assert int(heatmap.to_numpy().sum()) == sum(r.count for r in tab.requests_by_outcome)
    assert list(heatmap.index) == list(labels.WEEKDAYS["en"])


def _bar_measure(at: AppTest, index: int) -> str:
    spec = json.loads(at.get("vega_lite_chart")[index].proto.spec)
    return spec["layer"][0]["encoding"]["x"]["field"]


def test_a_url_opens_its_view_and_the_view_writes_its_url(build: Build, today: date) -> None:
    query = {
        "start": "2026-03-02",
        "end": "2026-03-03",
        "channel": ["web", "sms"],
        "hours": "9-17",
        "lang": "fr",
        "conversations": "engaged",
        "activity": "requests",
    }
    at = run(app(**query))
    assert [d.value for d in at.date_input] == [date(2026, 3, 2), date(2026, 3, 3)]
    assert at.multiselect[0].value == ["sms", "web"]
    assert at.slider[0].value == (9, 17)
    assert [r.value for r in at.radio] == ["engaged", "requests"]
    assert at.segmented_control[0].value == "fr"
    assert params(at) == {**query, "channel": ["sms", "web"]}
    tab = tab_of(build, TabFilter(date(2026, 3, 2), date(2026, 3, 3), ("web", "sms"), (9, 17)))
    assert tiles(at) == expected_tiles(tab, "fr")


def test_url_state_round_trips() -> None:
    known = ("sms", "web", "whatsapp")
    default = (date(2026, 11, 20), date(2026, 11, 26))
    state = ViewState(date(2026, 3, 1), date(2026, 3, 9), ("sms",), (8, 8), "fr", "engaged", "requests", True)
    parsed, notes = parse(to_params(state, known), known_channels=known, default_period=default)
    assert (parsed, notes) == (state, [])
    assert to_params(ViewState(*default), known) == {}
    assert parse({"start": "2026-03-01"}, known_channels=known, default_period=default)[0].end == date(
        2026, 3, 7
    )
    assert parse({"end": "2026-03-07"}, known_channels=known, default_period=default)[0].start == date(
        2026, 3, 1
    )
    assert parse({"hours": "7"}, known_channels=known, default_period=default)[0].hours == (7, 7)
    assert (
        to_params(parse({"channel": list(known)}, known_channels=known, default_period=default)[0], known)
        == {}
    )


def test_french_labels_are_the_articles(today: date) -> None:
    at = run(app(lang="fr", start="2026-03-02", end="2026-03-04"))
    assert list(tiles(at)) == [
        "Transferts réussis",
        "Conversations totales",
        "Conversations avec réponse",
        "Conversations engagées",
        "Conversations closes",
        "Clients engagés",
        "Temps d’attente initial moyen d’un client",
        "Durée moyenne des conversations dans le chatbot",
    ]
    assert at.date_input[0].label == "Du" and at.multiselect[0].label == "Canaux"
    assert [d.label for d in at.download_button][0] == "Télécharger le CSV"
    assert "Demandes de transfert" in [s.value for s in at.subheader]
    if not ARTICLE.exists():
        return  # a clone without ../shared: the wording is still checked above
    article = " ".join(ARTICLE.read_text(encoding="utf-8").split())
    for metric in at.metric:
        assert metric.label in article, metric.label
        assert metric.proto.help in article, metric.proto.help
    for outcome in ("successful", "cancelled", "disabled", "incomplete"):
        label, note = labels.OUTCOMES[outcome]["fr"]
        assert f"{label} : {note}" in article


def test_switching_the_language_keeps_the_filters(build: Build, today: date) -> None:
    at = run(app(start="2026-03-02", end="2026-03-04", hours="9-17"))
    at.segmented_control[0].set_value("fr")
    run(at)
    assert params(at) == {"start": "2026-03-02", "end": "2026-03-04", "hours": "9-17", "lang": "fr"}
    tab = tab_of(build, TabFilter(date(2026, 3, 2), date(2026, 3, 4), hours=(9, 17)))
    assert tiles(at) == expected_tiles(tab, "fr")


# ---------------------------------------------------------------------------------------------------
# Bad states
# ---------------------------------------------------------------------------------------------------


def test_without_a_snapshot_the_page_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("CHAT_ANALYTICS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CHAT_ANALYTICS_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
    at = run(app())
    (message,) = infos(at)
    assert (
        "No serving snapshot yet" in message
        and "make demo" in message
        and "chat-analytics materialize" in message
    )
    assert str(tmp_path / "serving" / "chat_analytics.duckdb") in message
    assert not at.metric


def test_a_bad_configuration_is_a_message(today: date, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_ANALYTICS_TIMEZONE", "Mars/Olympus")
    at = run(app())
    (message,) = [e.value for e in at.error]
    assert "unknown time zone 'Mars/Olympus'" in message


def test_the_default_period_without_data_offers_the_snapshots_last_days(
    build: Build, dates: tuple[date, date], monkeypatch: pytest.MonkeyPatch
) -> None:
    use_build(monkeypatch, build)
    monkeypatch.setattr("dashboard.page.today", lambda settings: date(2026, 12, 2))
    at = run(app())
    (message,) = infos(at)
    assert "no data in the last 7 days (2026-11-26 to 2026-12-02)" in message
    assert f"covers {dates[0]} to {dates[1]}" in message
    assert set(tiles(at).values()) == {"0", "–"}
    first = dates[1] - timedelta(days=6)
    (offer,) = at.button
    assert offer.label == f"Show its last 7 days ({first} to {dates[1]})"
    offer.click()
    run(at)
    assert not infos(at)
    assert params(at) == {"start": first.isoformat(), "end": dates[1].isoformat()}
    assert tiles(at) == expected_tiles(tab_of(build, TabFilter(first, dates[1])))


def test_a_period_without_data_shows_zeros_and_a_note(build: Build, today: date, dates) -> None:
    at = run(app(start="2025-01-01", end="2025-01-07"))
    (message,) = infos(at)
    assert message.startswith("Nothing happened in this selection") and f"{dates[0]} to {dates[1]}" in message
    assert list(tiles(at).values()) == ["0"] * 6 + ["–"] * 2
    assert not at.button, "a chosen period is not replaced"
    assert len(at.get("vega_lite_chart")) == 5, "the dense charts still draw, with zeros"


@pytest.mark.parametrize(
    ("query", "note"),
    [
        ({"start": "2026-13-01"}, "Ignored `start=2026-13-01` in the URL: not a date"),
        ({"end": "yesterday"}, "Ignored `end=yesterday` in the URL: not a date"),
        ({"start": "2026-03-04", "end": "2026-03-02"}, "the period starts after it ends"),
        ({"channel": "fax"}, "Ignored `channel=fax` in the URL: the snapshot has no such channel"),
        ({"hours": "25-3"}, "Ignored `hours=25-3` in the URL"),
        ({"hours": "17-9"}, "Ignored `hours=17-9` in the URL"),
        ({"hours": "morning"}, "Ignored `hours=morning` in the URL"),
        ({"lang": "de"}, "Ignored `lang=de` in the URL: use one of en, fr"),
        ({"conversations": "some"}, "Ignored `conversations=some` in the URL: use one of all, engaged"),
        ({"activity": "x';drop"}, "Ignored `activity=x';drop` in the URL"),
    ],
)
def test_bad_url_values_are_ignored_with_a_visible_note(
    build: Build, today: date, query: dict, note: str
) -> None:
    at = run(app(**query))
    (shown,) = warnings(at)
    assert note in shown
    assert tiles(at) == expected_tiles(tab_of(build, TabFilter(today - timedelta(days=6), today)))
    assert params(at) == {}, "the ignored values leave the URL"


def test_a_known_channel_survives_beside_an_unknown_one(build: Build, today: date) -> None:
    at = run(app(channel=["Web ", "fax"], start="2026-03-02", end="2026-03-04"))
    assert len(warnings(at)) == 1 and at.multiselect[0].value == ["web"]
    assert params(at)["channel"] == "web"
    assert tiles(at) == expected_tiles(tab_of(build, TabFilter(date(2026, 3, 2), date(2026, 3, 4), ("web",))))


@pytest.mark.parametrize(
    ("drop", "named"),
    [
        ("alter table marts.fct_conversations drop column is_engaged", "fct_conversations lacks is_engaged"),
        ("drop table marts.fct_agent_replies", "table fct_agent_replies is missing"),
    ],
)
def test_a_snapshot_missing_a_column_is_a_clear_message(
    build: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drop: str, named: str
) -> None:
    private = copy_build(build, tmp_path / "old marts")
    snapshot = private.serving.serving_file
    writable_copy(build.serving.serving_file, snapshot)
    con = duckdb.connect(str(snapshot))
    con.execute(drop)
    con.close()
    use_build(monkeypatch, private)
    at = run(app())
    (message,) = [e.value for e in at.error]
    assert "older version of the marts" in message and named in message and "--full-refresh" in message
    assert not at.metric


def test_a_snapshot_replaced_while_the_page_is_open(
    build: Build, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dates
) -> None:
    private = copy_build(build, tmp_path / "replaced")
    use_build(monkeypatch, private)
    monkeypatch.setattr("dashboard.page.today", lambda settings: dates[1])
    at = run(app(start="2026-03-02", end="2026-03-04", channel="telegram"))
    before = tiles(at)
    # The next publication has no telegram conversation and one web conversation less: renamed in.
    snapshot = private.serving.serving_file
    new = writable_copy(snapshot, tmp_path / "next.duckdb")
    con = duckdb.connect(str(new))
    con.execute("delete from marts.fct_conversations where channel = 'telegram'")
    con.execute("delete from marts.fct_handover_requests where channel = 'telegram'")
    con.execute("delete from marts.kpi_daily where channel = 'telegram'")
    con.close()
    os.replace(new, snapshot)
    run(at)
    assert tiles(at) != before
    assert at.multiselect[0].value == [] and "telegram" not in at.multiselect[0].options
    assert tiles(at) == expected_tiles(tab_of(private, TabFilter(date(2026, 3, 2), date(2026, 3, 4))))


def test_a_snapshot_of_another_time_zone_is_flagged(build: Build, today: date, monkeypatch) -> None:
    monkeypatch.setenv("CHAT_ANALYTICS_TIMEZONE", "Pacific/Kiritimati")
    at = run(app(start="2026-03-02", end="2026-03-04"))
    assert any("were not computed in Pacific/Kiritimati" in w for w in warnings(at))


def test_an_unreadable_snapshot_is_a_message(build: Build, tmp_path: Path, monkeypatch) -> None:
    private = copy_build(build, tmp_path / "broken")
    snapshot = private.serving.serving_file
    snapshot.chmod(0o644)
    snapshot.write_bytes(b"not a database")
    use_build(monkeypatch, private)
    at = run(app())
    (message,) = [e.value for e in at.error]
    assert message.startswith("The serving snapshot cannot be read")
