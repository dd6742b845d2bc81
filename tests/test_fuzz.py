"""Bad input, generated: arbitrary lines never crash the loader and every line is accounted for; arbitrary
configuration values are refused with a ConfigError or come out safe to hand to SQL and dbt.

The loader is driven directly (`load_partition`); one warehouse serves every example (each load
replaces its partition) and each example carries many lines, so the property runs in seconds.
"""

from __future__ import annotations

import gzip
import json
import re
import string
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import available_timezones

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from raw_engines import DUCKDB_RAW

from orchestration.config import (
    ENV_PSEUDONYMIZE,
    ENV_SERVING_DIR,
    ConfigError,
    Settings,
    parse_date,
    validate_cron,
    validate_handover_timeout,
    validate_inactivity,
    validate_share,
    validate_timezone,
)
from orchestration.raw_events import (
    EVENT_TYPES,
    HANDOVER_EVENT_TYPES,
    KNOWN_FIELDS,
    QUARANTINED_TEXT_LIMIT,
    SENDERS,
)

DAY = date(2026, 3, 8)
PATHS = {"CHAT_ANALYTICS_LANDING_DIR": "/tmp/l", "CHAT_ANALYTICS_WAREHOUSE": "/tmp/w.duckdb"}
REASON_KINDS = {  # decisions.md R5
    "invalid_utf8",
    "empty_line",
    "invalid_json",
    "missing_field",
    "invalid_type",
    "invalid_timestamp",
    "timestamp_out_of_range",
    "unknown_event_type",
    "invalid_sender",
    "missing_handover_id",
}
FAST = settings(
    max_examples=30,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

# ---------------------------------------------------------------------------------------------------
# Lines
# ---------------------------------------------------------------------------------------------------

ids = st.text(alphabet=string.ascii_letters + string.digits + "-_:.é€", min_size=1, max_size=24)
channels = st.one_of(
    st.sampled_from(
        ["web", "messenger", "instagram", "whatsapp", "sms", "apple_messages", " WhatsApp ", "SMS"]
    ),
    st.text(alphabet=string.ascii_letters + "_-ßø", min_size=1, max_size=12),  # unknown channels
)
any_text = st.text(max_size=200)  # control characters included; json.dumps escapes them


@st.composite
def instants(draw: st.DrawFn) -> str:
    """A valid RFC 3339 instant between 2000-01-01 and the arrival day + 2 days, with Z or an offset."""
    seconds = draw(
        st.integers(
            0, int((datetime(2026, 3, 10, tzinfo=UTC) - datetime(2000, 1, 1, tzinfo=UTC)).total_seconds()) - 1
        )
    )
    instant = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    offset = draw(st.sampled_from([0, 0, 60, -300, 330, 840, -720]))
    local = instant.astimezone(timezone(timedelta(minutes=offset)))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    text += draw(st.sampled_from(["", ".5", ".123", ".123456", ".123456789"]))
    if offset == 0 and draw(st.booleans()):
        return text + "Z"
    sign = "+" if offset >= 0 else "-"
    return text + f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"


@st.composite
def valid_events(draw: st.DrawFn) -> dict:
    event_type = draw(st.sampled_from(EVENT_TYPES))
    event = {
        "event_id": draw(ids),
        "occurred_at": draw(instants()),
        "customer_id": draw(ids),
        "channel": draw(channels),
        "event_type": event_type,
    }
    if event_type == "message":
        event["sender"] = draw(st.sampled_from(SENDERS))
        event["message_type"] = draw(st.sampled_from(["text", "welcome", "internal_note", "carousel", ""]))
    if event_type in HANDOVER_EVENT_TYPES or draw(st.booleans()):
        event["handover_id"] = draw(ids)
    for name in ("agent_id", "department", "flow_type", "text"):
        if draw(st.booleans()):
            event[name] = draw(any_text)
    if draw(st.booleans()):
        event["properties"] = draw(
            st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=20), max_size=3)
        )
    if draw(st.booleans()):
        event[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in KNOWN_FIELDS))] = draw(
            json_values
        )
    return event


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=15,
)
weird_instants = st.one_of(
    st.sampled_from(
        [
            "0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "1999-12-31T23:59:59.999999Z",
            "9999-12-31T23:59:59Z",
            "2099-01-01T00:00:00+00:00",
            "2026-03-08 10:00:00",
            "2026-02-30T10:00:00Z",
            "2026-03-08T10:00:00+99:99",
            "2026-03-08T24:00:00Z",
            "2026-03-08T10:00:60Z",
            "+275760-09-13T00:00:00Z",
            "now",
            "",
        ]
    ),
    any_text,
)


@st.composite
def mutated_events(draw: st.DrawFn) -> dict:
    """A valid event with one thing wrong: a missing field, a wrong type, a bad value."""
    event = draw(valid_events())
    field = draw(
        st.sampled_from(
            [
                "event_id",
                "occurred_at",
                "customer_id",
                "channel",
                "event_type",
                "sender",
                "handover_id",
                "properties",
                "text",
            ]
        )
    )
    how = draw(st.sampled_from(["drop", "null", "json", "blank", "value"]))
    if how == "drop":
        event.pop(field, None)
    elif how == "null":
        event[field] = None
    elif how == "json":
        event[field] = draw(json_values)
    elif how == "blank":
        event[field] = draw(st.sampled_from(["", "   ", "\t"]))
    elif field == "occurred_at":
        event[field] = draw(weird_instants)
    else:
        event[field] = draw(any_text)
    return event


def _dump(event: object, ascii_only: bool) -> str:
    return json.dumps(event, ensure_ascii=ascii_only)


no_newline_text = st.text(max_size=300).map(lambda s: s.replace("\n", " "))
garbage_lines = st.one_of(
    no_newline_text,  # mostly invalid JSON; control characters and CR included
    st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ")),  # invalid UTF-8, NUL bytes
    json_values.map(lambda v: json.dumps(v)),  # valid JSON, usually not an object
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),  # deep nesting
    st.integers(1, 3000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.just(""),
    st.just("   "),
)
huge_lines = st.tuples(st.integers(50_000, 400_000), st.sampled_from(["text", "event_id", "channel"])).map(
    lambda t: json.dumps(
        {
            "event_id": "huge",
            "occurred_at": "2026-03-08T10:00:00Z",
            "customer_id": "c",
            "channel": "web",
            "event_type": "message",
            "sender": "customer",
            t[1]: "x" * t[0],
        }
    )
)


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, set[int]]:
    """A file's bytes and the 1-based numbers of the lines that must be valid."""
    kinds = st.sampled_from(["valid", "valid", "mutated", "garbage"])
    lines: list[bytes] = []
    must_be_valid: set[int] = set()
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(kinds)
        if kind == "valid":
            event = draw(valid_events())
            lines.append(_dump(event, draw(st.booleans())).encode())
            must_be_valid.add(len(lines))
        elif kind == "mutated":
            lines.append(_dump(draw(mutated_events()), draw(st.booleans())).encode())
        else:
            line = draw(garbage_lines)
            lines.append(line if isinstance(line, bytes) else line.encode())
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(huge_lines).encode())
        must_be_valid = {n + 1 if n > at else n for n in must_be_valid}
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    body = ending.join(lines)
    if lines and draw(st.booleans()):
        body += ending  # the newline ending the last line makes no extra line
    return body, must_be_valid


def expected_lines(body: bytes) -> int:
    pieces = body.split(b"\n")
    return len(pieces) - (1 if pieces[-1] == b"" else 0)


@pytest.fixture(scope="module")
def engine():
    """The loader under test (tests/test_fuzz_spark.py overrides it with Spark's)."""
    return DUCKDB_RAW


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, engine) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "landing" / DAY.isoformat()).mkdir(parents=True)
    return root / "landing", engine.warehouse_in(root)


@FAST
@given(file=files(), gz=st.booleans())
def test_arbitrary_lines_are_valid_or_quarantined_with_a_reason(engine, workspace, file, gz) -> None:
    landing, warehouse = workspace
    body, must_be_valid = file
    folder = landing / DAY.isoformat()
    for old in folder.iterdir():
        old.unlink()
    (folder / ("fuzz.ndjson.gz" if gz else "fuzz.ndjson")).write_bytes(gzip.compress(body, 1) if gz else body)

    result = engine.load(warehouse, landing, DAY)

    lines = expected_lines(body)
    assert result.lines_read == lines
    assert result.valid_rows + result.quarantined_rows == lines
    valid = [
        n
        for (n,) in engine.rows(
            warehouse, "select _line_number from raw.chat_events where _arrival_date = ?", [DAY]
        )
    ]
    quarantined = engine.rows(
        warehouse,
        "select _line_number, reason, raw_line, length(raw_line) from raw.quarantined_events "
        "where _arrival_date = ?",
        [DAY],
    )
    assert len(valid) == result.valid_rows and len(quarantined) == result.quarantined_rows
    assert sorted(valid + [q[0] for q in quarantined]) == list(range(1, lines + 1)), "each line exactly once"
    for line_number, reason, raw_line, length in quarantined:
        assert reason and reason.split(":")[0] in REASON_KINDS, (line_number, reason)
        assert raw_line is not None and length <= QUARANTINED_TEXT_LIMIT
    assert must_be_valid <= set(valid), sorted(must_be_valid - set(valid))


def test_nothing_is_lost_across_many_files_of_one_partition(engine, tmp_path: Path) -> None:
    """Many small files at once, a blank line, CRLF, a missing final newline: every line is counted."""
    folder = tmp_path / "landing" / DAY.isoformat()
    folder.mkdir(parents=True)
    event = {
        "event_id": "e",
        "occurred_at": "2026-03-08T10:00:00Z",
        "customer_id": "c",
        "channel": "web",
        "event_type": "message",
        "sender": "customer",
    }
    total = 0
    for i in range(30):
        lines = [json.dumps({**event, "event_id": f"e{i}-{j}"}) for j in range(i)] + ["", "{bad"]
        (folder / f"part-{i:02d}.ndjson").write_text("\r\n".join(lines))
        total += len(lines)
    result = engine.load(engine.warehouse_in(tmp_path), tmp_path / "landing", DAY)
    assert (result.lines_read, result.quarantined_rows) == (total, 60)
    assert result.quarantine_reasons == {"empty_line": 30, "invalid_json": 30}


# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------

DBT_TIMEZONE_PATTERN = re.compile(
    r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"
)  # macro reporting_timezone()
hostile = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "UTC'; drop table raw.chat_events; --",
            "Europe/Paris' or '1'='1",
            "10; select 1",
            "1e3",
            "-5",
            "0",
            " 10 ",
            "nan",
            "inf",
            "../../etc/localtime",
            "2026-02-30",
            "2026-03-08' --",
            "",
        ]
    ),
)


@FAST
@given(value=hostile)
def test_configuration_values_are_refused_or_safe(value: str) -> None:
    try:
        zone = validate_timezone(value)
    except ConfigError as exc:
        assert "CHAT_ANALYTICS_TIMEZONE" in str(exc)
    else:
        assert zone in available_timezones() | {"UTC"} and DBT_TIMEZONE_PATTERN.match(zone)
    try:
        minutes = validate_inactivity(value)
    except ConfigError as exc:
        assert "CHAT_ANALYTICS_INACTIVITY_MINUTES" in str(exc)
    else:
        assert isinstance(minutes, int) and minutes > 0
    try:
        hours = validate_handover_timeout(value, 10)
    except ConfigError as exc:
        assert "CHAT_ANALYTICS_HANDOVER_TIMEOUT_HOURS" in str(exc)
    else:
        assert 10 * 60 < hours * 3600 <= 8784 * 3600
    try:
        share = validate_share(value)
    except ConfigError:
        pass
    else:
        assert 0.0 <= share <= 1.0
    try:
        day = parse_date(value, "CHAT_ANALYTICS_START_DATE")
    except ConfigError as exc:
        assert "YYYY-MM-DD" in str(exc)
    else:
        assert isinstance(day, date)
    try:
        settings_ = Settings.from_env({**PATHS, ENV_PSEUDONYMIZE: value})
    except ConfigError as exc:
        assert ENV_PSEUDONYMIZE in str(exc)
    else:
        assert settings_.pseudonymize_customers is False  # no key given: only "off" values pass
    try:
        cron = validate_cron(value)
    except ConfigError as exc:
        assert "CHAT_ANALYTICS_SCHEDULE_CRON" in str(exc)
    else:
        assert cron == value.strip()


@FAST
@given(value=st.text(min_size=1, max_size=40))
def test_paths_become_absolute_or_are_refused(value: str) -> None:
    """Quotes, spaces and semicolons in paths are data, never SQL: a path is made absolute or refused."""
    env = {
        "CHAT_ANALYTICS_WAREHOUSE": "/tmp/base/" + value,
        "CHAT_ANALYTICS_LANDING_DIR": "/tmp/base/l " + value,
    }
    try:
        settings_ = Settings.from_env(env)
    except ConfigError as exc:
        assert "\x00" in value or not value.strip() or "CHAT_ANALYTICS" in str(exc)
        return
    assert settings_.warehouse.is_absolute() and settings_.landing_dir.is_absolute()
    try:
        served = Settings.from_env({**env, ENV_SERVING_DIR: "/tmp/base/s " + value})
    except ConfigError as exc:
        assert ENV_SERVING_DIR in str(exc)
    else:
        assert served.serving_path.is_absolute()
