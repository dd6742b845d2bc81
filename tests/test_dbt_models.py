"""The dbt project end to end: raw rows in a temporary DuckDB file, `dbt build` in-process.

One build per session (parse once, reuse the manifest); the tests then read the warehouse.
Every dbt unit test, data test and model must pass; the only tolerated warning is the
orphan report, which this data set triggers on purpose.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dbt_helpers import create_raw_tables, failures, insert_raw_events, raw_event, run_dbt

from orchestration.config import PROJECT_ROOT
from orchestration.raw_events import WHITESPACE_CODE_POINTS

# 2026-03-02 is a Monday. Reporting time zone: UTC (the default), inactivity: 10 minutes.
RAW_ROWS: list[dict[str, Any]] = [
    # customer c1 on web (spelled three ways)
    # conversation v2: the welcome a minute before the customer writes opens the conversation
    raw_event("w01", "2026-03-02T09:59:00Z", sender="bot", message_type="welcome"),
    raw_event("w02", "2026-03-02T10:00:00Z", channel=" Web ", text="hello, my name is ..."),
    raw_event("w03", "2026-03-02T10:00:05Z", sender="bot", flow_type="support"),
    raw_event("w04", "2026-03-02T10:01:00Z", channel="WEB"),
    # a non-UTC offset: 05:02 at -05:00 is 10:02 UTC
    raw_event(
        "w05",
        "2026-03-02T05:02:00-05:00",
        event_type="handover_requested",
        sender=None,
        handover_id="h1",
        department="sales",
    ),
    raw_event("w06", "2026-03-02T10:03:00Z", event_type="handover_received", sender=None, handover_id="h1"),
    raw_event("w07", "2026-03-02T10:04:00Z", sender="agent", message_type="internal_note", handover_id="h1"),
    raw_event("w08", "2026-03-02T10:05:30.500Z", sender="agent", handover_id="h1", agent_id="a1"),
    # a redelivered copy of w08, ranked second by the loader
    raw_event(
        "w08",
        "2026-03-02T10:05:30.500Z",
        sender="agent",
        handover_id="h1",
        agent_id="a1",
        _arrival_date="2026-03-03",
        _is_duplicate=True,
    ),
    # 24.5 minutes of silence, but handover h1 is open: same conversation
    raw_event("w09", "2026-03-02T10:30:00.000000999Z"),
    raw_event(
        "w10",
        "2026-03-02T10:31:00Z",
        event_type="conversation_closed",
        sender=None,
        handover_id="h1",
        department="billing",
    ),
    # reopen four minutes after the close: a new conversation
    raw_event("w11", "2026-03-02T10:35:00Z"),
    # customer c2 on messenger, next day: a cancelled request
    raw_event("m01", "2026-03-03T08:00:00Z", customer_id="c2", channel="messenger"),
    raw_event(
        "m02",
        "2026-03-03T08:00:01Z",
        customer_id="c2",
        channel="messenger",
        event_type="handover_requested",
        sender=None,
        handover_id="h2",
    ),
    raw_event(
        "m03",
        "2026-03-03T08:05:00Z",
        customer_id="c2",
        channel="messenger",
        event_type="handover_cancelled",
        sender=None,
        handover_id="h2",
    ),
    # an orphan: the request of h9 has not arrived
    raw_event(
        "o01",
        "2026-03-03T09:00:00Z",
        customer_id="c3",
        event_type="handover_received",
        sender=None,
        handover_id="h9",
    ),
]

TOLERATED_WARNINGS = {"test.chat_analytics.orphan_handover_events"}


@dataclass(frozen=True)
class BuiltWarehouse:
    path: Path
    result: Any
    manifest: Any

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            con.execute("set TimeZone = 'UTC'")
            return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltWarehouse]:
    tmp = tmp_path_factory.mktemp("dbt_build")
    warehouse = create_raw_tables(tmp / "warehouse.duckdb")
    insert_raw_events(warehouse, RAW_ROWS)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("CHAT_ANALYTICS_WAREHOUSE", str(warehouse))
        monkeypatch.delenv("CHAT_ANALYTICS_TIMEZONE", raising=False)
        monkeypatch.delenv("CHAT_ANALYTICS_INACTIVITY_MINUTES", raising=False)
        parsed = run_dbt(["parse"], warehouse=warehouse, tmp=tmp)
        assert parsed.success, failures(parsed)
        result = run_dbt(["build"], warehouse=warehouse, tmp=tmp, manifest=parsed.result)
    yield BuiltWarehouse(path=warehouse, result=result, manifest=parsed.result)


def _statuses(result: Any) -> dict[str, str]:
    return {r.node.unique_id: str(r.status) for r in result.result.results}


def test_build_passes_every_model_unit_test_and_data_test(built_warehouse: BuiltWarehouse) -> None:
    result = built_warehouse.result
    assert result.exception is None, failures(result)
    statuses = _statuses(result)
    not_passed = {
        node: status
        for node, status in statuses.items()
        if status not in {"success", "pass"} and node not in TOLERATED_WARNINGS
    }
    assert not not_passed, failures(result)
    assert result.success, failures(result)

    kinds = [r.node.resource_type for r in result.result.results]
    assert kinds.count("unit_test") >= 30
    assert kinds.count("model") == 23
    assert kinds.count("seed") == 4  # `dbt build` loads the reference data of seeds/
    assert kinds.count("test") >= 50


def test_orphan_event_is_reported_not_dropped(built_warehouse: BuiltWarehouse) -> None:
    assert _statuses(built_warehouse.result)["test.chat_analytics.orphan_handover_events"] == "warn"
    assert built_warehouse.query(
        "select event_id, handover_id from intermediate.int_handover_orphan_events"
    ) == [("o01", "h9")]


def test_staging_dedups_normalises_and_keeps_the_instant(built_warehouse: BuiltWarehouse) -> None:
    # 16 raw rows, one of them a redelivered copy
    assert built_warehouse.query("select count(*), count(distinct event_id) from raw.chat_events") == [
        (16, 15)
    ]
    assert built_warehouse.query(
        "select count(*), count(distinct event_id) from staging.stg_chat__events"
    ) == [(15, 15)]
    assert built_warehouse.query(
        "select channel, occurred_at from staging.stg_chat__events where event_id in ('w02', 'w05') order by 1, 2"
    ) == [
        ("web", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        ("web", datetime(2026, 3, 2, 10, 2, tzinfo=UTC)),
    ]
    # message text never leaves the raw layer
    assert built_warehouse.query(
        "select count(*) from information_schema.columns "
        "where table_schema in ('staging', 'intermediate', 'marts') and column_name = 'text'"
    ) == [(0,)]


def test_fct_conversations_spot_check(built_warehouse: BuiltWarehouse) -> None:
    rows = built_warehouse.query(
        "select conversation_id, channel, report_date, is_engaged, support_type, chatbot_duration_seconds "
        "from marts.fct_conversations order by conversation_id"
    )
    assert rows == [
        ("m01", "messenger", date(2026, 3, 3), True, "other", 300.0),
        ("w01", "web", date(2026, 3, 2), True, "support", 240.0),
        ("w11", "web", date(2026, 3, 2), False, "other", 0.0),
    ]


def test_fct_handover_requests_spot_check(built_warehouse: BuiltWarehouse) -> None:
    rows = built_warehouse.query(
        "select handover_id, conversation_id, channel, outcome, initial_wait_seconds, department "
        "from marts.fct_handover_requests order by handover_id"
    )
    assert rows == [
        ("h1", "w01", "web", "successful", 150.5, "billing"),
        ("h2", "m01", "messenger", "cancelled", None, "unassigned"),
    ]


def test_kpi_daily_spot_check(built_warehouse: BuiltWarehouse) -> None:
    rows = built_warehouse.query(
        "select report_date, channel, total_conversations, engaged_conversations, engaged_customers, "
        "successful_transfers, answered_conversations, closed_conversations, initial_wait_count, "
        "avg_initial_wait_seconds, avg_chatbot_duration_seconds "
        "from marts.kpi_daily order by report_date, channel"
    )
    assert rows == [
        (date(2026, 3, 2), "messenger", 0, 0, 0, 0, 0, 0, 0, None, None),
        (date(2026, 3, 2), "web", 2, 1, 1, 1, 1, 1, 1, 150.5, 240.0),
        (date(2026, 3, 3), "messenger", 1, 1, 1, 0, 0, 0, 0, None, 300.0),
        (date(2026, 3, 3), "web", 0, 0, 0, 0, 0, 0, 0, None, None),
    ]


def test_dense_and_sparse_marts(built_warehouse: BuiltWarehouse) -> None:
    q = built_warehouse.query
    # 2 dates x 2 channels x 5 outcomes; 2 dates x 24 hours x 2 channels
    assert q("select count(*), sum(handover_requests) from marts.transfers_by_outcome") == [(20, 2)]
    assert q(
        "select count(*), sum(engaged_conversations), sum(handover_requests) from marts.activity_by_weekday_hour"
    ) == [(96, 2, 2)]
    assert q(
        "select day_of_week, day_name, engaged_conversations, handover_requests from marts.activity_by_weekday_hour "
        "where report_date = date '2026-03-02' and hour_of_day in (9, 10) and channel = 'web' order by hour_of_day"
    ) == [(1, "Monday", 1, 0), (1, "Monday", 0, 1)]  # started at 09:59 by the welcome, requested at 10:02
    assert q("select * from marts.closed_by_department") == [(date(2026, 3, 2), "billing", "web", 1)]
    assert q("select * from marts.conversations_by_channel order by report_date, channel, support_type") == [
        (date(2026, 3, 2), "web", "other", 1, 0),
        (date(2026, 3, 2), "web", "support", 1, 1),
        (date(2026, 3, 3), "messenger", "other", 1, 1),
    ]


def test_settings_come_from_the_environment(built_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    """CHAT_ANALYTICS_TIMEZONE / _INACTIVITY_MINUTES reach the models, reusing the parsed manifest."""
    # same file name: dbt-duckdb names the database after the file's stem, and the manifest keeps it
    warehouse = tmp_path / built_warehouse.path.name
    shutil.copy(built_warehouse.path, warehouse)
    result = run_dbt(
        ["run", "--select", "+fct_conversations"],
        warehouse=warehouse,
        tmp=tmp_path,
        manifest=built_warehouse.manifest,
        env={"CHAT_ANALYTICS_TIMEZONE": "America/Toronto", "CHAT_ANALYTICS_INACTIVITY_MINUTES": "60"},
    )
    assert result.success, failures(result)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        rows = con.execute(
            "select conversation_id, report_date, start_hour_of_day from marts.fct_conversations "
            "order by conversation_id"
        ).fetchall()
    # 09:59 UTC is 04:59 in Toronto (EST); w11 still reopens after the close, whatever the inactivity
    assert rows == [
        ("m01", date(2026, 3, 3), 3),
        ("w01", date(2026, 3, 2), 4),
        ("w11", date(2026, 3, 2), 5),
    ]


def test_dbt_and_the_loader_agree_on_white_space() -> None:
    """Blank in the loader (quarantine) and blank or trimmed in staging are the same characters."""
    macro = (PROJECT_ROOT / "dbt_project" / "macros" / "whitespace.sql").read_text()
    listed = re.search(r"return\(\[([0-9, ]+)\]\)", macro)
    assert listed is not None
    assert tuple(int(code) for code in listed.group(1).split(",")) == WHITESPACE_CODE_POINTS
