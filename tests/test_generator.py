"""The synthetic event generator: layout, determinism, realism, dirt, formats, configuration.

The malformed lines are checked with an independent reading of decisions.md R5 (`_quarantine_reason`),
and the conversations with an independent reading of SPEC §3 (`_sessionize`), so that the generated data
is known to exercise what the pipeline must handle.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow.parquet as pq
import pytest

from orchestration.generator import (
    _TEXTS,
    CHANNELS,
    EVENT_TYPES,
    FLOW_TYPES,
    MALFORMED_KINDS,
    P_REOPEN,
    SENDERS,
    SHAPE_RATES,
    SHAPES,
    GenerationSummary,
    GeneratorConfig,
    add_generate_arguments,
    config_from_args,
    generate,
)

START = date(2026, 3, 2)  # a Monday; America/New_York switches to summer time on 2026-03-08
REQUIRED = ("event_id", "occurred_at", "customer_id", "channel", "event_type")
CONTRACT_FIELDS = (
    *REQUIRED,
    "sender",
    "message_type",
    "handover_id",
    "agent_id",
    "department",
    "flow_type",
    "text",
    "properties",
)
HANDOVER_EVENTS = {t for t in EVENT_TYPES if t.startswith("handover_")} | {"conversation_closed"}
TS_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)


# ---------------------------------------------------------------------------------------------------
# Independent readings of the contract
# ---------------------------------------------------------------------------------------------------


def _parse_ts(value: str) -> datetime | None:
    """RFC 3339 with Z or ±HH:MM (decision R2), fractions truncated to microseconds (R3)."""
    m = TS_RE.match(value)
    if not m:
        return None
    y, mo, d, h, mi, s, frac, z, sign, oh, om = m.groups()
    try:
        local = datetime(
            int(y), int(mo), int(d), int(h), int(mi), int(s), int((frac or "0")[:6].ljust(6, "0"))
        )
    except ValueError:
        return None
    offset = timedelta(0) if z else (1 if sign == "+" else -1) * timedelta(hours=int(oh), minutes=int(om))
    return (local - offset).replace(tzinfo=UTC)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _record_reason(rec: dict, arrival: date) -> str | None:
    """R5 from `missing_field` on, for a decoded JSON object (or a Parquet row)."""
    for name in REQUIRED:
        if _blank(rec.get(name)):
            return f"missing_field:{name}"
    for name in CONTRACT_FIELDS:
        value = rec.get(name)
        if value is None:
            continue
        if (name == "properties" and not isinstance(value, dict)) or (
            name != "properties" and not isinstance(value, str)
        ):
            if name == "properties" and isinstance(value, str):  # Parquet: a JSON string
                try:
                    if isinstance(json.loads(value), dict):
                        continue
                except ValueError:
                    pass
            return f"invalid_type:{name}"
    ts = _parse_ts(rec["occurred_at"])
    if ts is None:
        return "invalid_timestamp"
    arrival_end = datetime(arrival.year, arrival.month, arrival.day, tzinfo=UTC) + timedelta(days=1)
    if ts < datetime(2000, 1, 1, tzinfo=UTC) or ts > arrival_end + timedelta(days=2):
        return "timestamp_out_of_range"
    if rec["event_type"] not in EVENT_TYPES:
        return "unknown_event_type"
    if rec["event_type"] == "message":
        if _blank(rec.get("sender")):
            return "missing_field:sender"
        if rec["sender"] not in SENDERS:
            return "invalid_sender"
    if rec["event_type"] in HANDOVER_EVENTS and _blank(rec.get("handover_id")):
        return "missing_handover_id"
    return None


def _line_reason(raw: bytes, arrival: date) -> tuple[str | None, dict | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8", None
    if not text.strip():
        return "empty_line", None
    try:
        rec = json.loads(text)
    except ValueError:
        return "invalid_json", None
    if not isinstance(rec, dict):
        return "invalid_json", None
    reason = _record_reason(rec, arrival)
    return reason, (rec if reason is None else None)


@dataclass
class Line:
    arrival: date
    file: str
    number: int  # 1-based
    raw: bytes
    reason: str | None
    rec: dict | None


def _read_landing(landing: Path) -> list[Line]:
    out: list[Line] = []
    for folder in sorted(p for p in landing.iterdir() if p.is_dir()):
        arrival = date.fromisoformat(folder.name)
        for f in sorted(folder.iterdir()):
            if f.name.endswith(".parquet"):
                rows = pq.read_table(f).to_pylist()
                for i, row in enumerate(rows, start=1):
                    reason = _record_reason(row, arrival)
                    if reason is None and row.get("properties") is not None:
                        row["properties"] = json.loads(row["properties"])
                    raw = json.dumps(row, sort_keys=True).encode()
                    out.append(Line(arrival, f.name, i, raw, reason, row if reason is None else None))
                continue
            data = f.read_bytes()
            if f.name.endswith(".gz"):
                data = gzip.decompress(data)
            assert data.endswith(b"\n"), f"{f} does not end with a newline"
            for i, raw in enumerate(data[:-1].split(b"\n"), start=1):
                reason, rec = _line_reason(raw, arrival)
                out.append(Line(arrival, f.name, i, raw, reason, rec))
    return out


def _first_copies(lines: list[Line]) -> dict[str, Line]:
    """SPEC §3 deduplication: earliest arrival date, then file name, then line."""
    best: dict[str, Line] = {}
    for line in lines:
        if line.rec is None:
            continue
        key = line.rec["event_id"]
        current = best.get(key)
        if current is None or (line.arrival, line.file, line.number) < (
            current.arrival,
            current.file,
            current.number,
        ):
            best[key] = line
    return best


@dataclass
class Conversation:
    """A stretch of a thread (SPEC §3, sessionization version 2); a conversation when it interacts."""

    thread: tuple[str, str]
    events: list[dict]
    why: str  # first, close, inactivity, timeout
    gap: timedelta | None  # silence before its opening event

    @property
    def interacts(self) -> bool:
        return any(_is_interaction(e) for e in self.events)


def _is_interaction(e: dict) -> bool:
    return (e["event_type"] == "message" and e.get("sender") == "customer") or e[
        "event_type"
    ] == "handover_requested"


def _stretches(
    events: list[dict], inactivity=timedelta(minutes=10), timeout=timedelta(hours=24)
) -> tuple[list[Conversation], Counter]:
    """SPEC §3 stretches, version 2. -> every stretch (in thread order), counts of notable moments."""
    notes: Counter = Counter()
    threads: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for e in events:
        threads[(e["customer_id"], e["channel"].strip().lower())].append(e)
    stretches: list[Conversation] = []
    for thread, evs in threads.items():
        evs.sort(key=lambda e: (e["_ts"], e["event_id"]))
        current: Conversation | None = None
        open_now: set[str] = set()  # handovers received and not closed (nor timed out)
        closed: set[str] = set()
        prev_ts = None
        after_close = False
        for e in evs:
            gap = e["_ts"] - prev_ts if prev_ts is not None else None
            why = None
            if gap is None:
                why = "first"
            elif after_close:
                why = "close"
            elif gap > timeout:
                why = "timeout"
            elif gap > inactivity:
                if open_now:
                    notes["long_gap_kept_by_open_handover"] += 1
                else:
                    why = "inactivity"
            if gap is not None and gap > timeout:
                open_now.clear()
            if why:
                current = Conversation(thread, [], why, gap)
                stretches.append(current)
            assert current is not None
            current.events.append(e)
            ho = e.get("handover_id")
            after_close = e["event_type"] == "conversation_closed"
            if e["event_type"] == "handover_received" and ho not in closed:
                open_now.add(ho)
            if after_close:
                open_now.discard(ho)
                closed.add(ho)
            prev_ts = e["_ts"]
    return stretches, notes


def _sessionize(events: list[dict]) -> tuple[list[Conversation], Counter]:
    """SPEC §3 conversations (version 2): the stretches that hold a customer interaction."""
    stretches, notes = _stretches(events)
    notes["stretch_without_interaction"] = sum(not s.interacts for s in stretches)
    return [s for s in stretches if s.interacts], notes


def _engaged(c: Conversation) -> bool:
    welcome = next((i for i, e in enumerate(c.events) if e.get("message_type") == "welcome"), None)
    after = c.events[(welcome if welcome is not None else 0) + 1 :]
    return any(
        _is_interaction(e) or (e.get("sender") == "agent" and e.get("message_type") != "internal_note")
        for e in after
    )


def _outcomes(events: list[dict]) -> Counter:
    """SPEC §3 outcome per handover request (M3: the earliest unsuccessful event wins)."""
    by_ho: dict[str, list[dict]] = defaultdict(list)
    for e in events:
        if e.get("handover_id"):
            by_ho[e["handover_id"]].append(e)
    result: Counter = Counter()
    names = {
        "handover_cancelled": "cancelled",
        "handover_disabled": "disabled",
        "handover_incomplete": "incomplete",
    }
    for evs in by_ho.values():
        if not any(e["event_type"] == "handover_requested" for e in evs):
            continue
        evs.sort(key=lambda e: (e["_ts"], e["event_id"]))
        if any(e["event_type"] == "handover_received" for e in evs):
            result["successful"] += 1
            continue
        terminal = [names[e["event_type"]] for e in evs if e["event_type"] in names]
        result[terminal[0] if terminal else "pending"] += 1
    return result


# ---------------------------------------------------------------------------------------------------
# Fixtures: a few small generations shared by the tests
# ---------------------------------------------------------------------------------------------------


@dataclass
class Run:
    config: GeneratorConfig
    summary: GenerationSummary
    lines: list[Line]
    events: list[dict]  # first copies, with `_ts` and `_arrival`


def _run(base: Path, name: str, **overrides) -> Run:
    params = dict(
        landing_dir=base / name,
        start=START,
        days=7,
        seed=7,
        conversations_per_day=500,
        timezone="America/New_York",
        malformed_rate=0.01,
    )
    params.update(overrides)
    config = GeneratorConfig(**params)
    summary = generate(config)
    lines = _read_landing(config.landing_dir)
    events = []
    for line in _first_copies(lines).values():
        e = dict(line.rec)
        e["_ts"] = _parse_ts(e["occurred_at"])
        e["_arrival"] = line.arrival
        events.append(e)
    return Run(config, summary, lines, events)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("landing")


@pytest.fixture(scope="module")
def run(base) -> Run:
    return _run(base, "main")


@pytest.fixture(scope="module")
def clean_run(base) -> Run:
    return _run(base, "clean", file_format="ndjson", malformed_rate=0.0, files_per_day=3, days=3)


@pytest.fixture(scope="module")
def conversations(run) -> tuple[list[Conversation], Counter]:
    return _sessionize(run.events)


# ---------------------------------------------------------------------------------------------------
# Layout, accounting and dirt
# ---------------------------------------------------------------------------------------------------


def test_layout_and_atomic_files(run):
    folders = sorted(p.name for p in run.config.landing_dir.iterdir())
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", f) for f in folders)
    files = sorted(run.config.landing_dir.glob("*/*"))
    assert files == sorted(run.summary.files)
    assert all(re.fullmatch(r"events-\d{3}\.ndjson\.gz", f.name) for f in files)  # no temporary file left
    assert max(len(list(p.iterdir())) for p in run.config.landing_dir.iterdir()) == run.config.files_per_day
    # local days of New York cross into the next UTC day; late events and redeliveries land later
    assert folders[0] == START.isoformat()
    assert date.fromisoformat(folders[-1]) > START + timedelta(days=run.config.days)


def test_summary_accounts_for_every_line(run):
    s = run.summary
    assert len(run.lines) == s.total_lines == sum(s.lines_by_arrival_date.values())
    by_date = Counter(line.arrival for line in run.lines)
    assert dict(by_date) == s.lines_by_arrival_date
    valid = [line for line in run.lines if line.reason is None]
    assert len(valid) == s.valid_lines == sum(s.events_by_arrival_date.values())
    assert len(run.events) == s.distinct_events
    assert len(valid) - len(run.events) == s.duplicate_lines
    assert s.malformed_lines == len(run.lines) - len(valid)
    assert s.handover_requests == sum(s.handover_outcomes.values())


def test_every_malformed_kind_is_quarantined_for_its_reason(run):
    s = run.summary
    assert set(s.malformed_by_kind) == set(MALFORMED_KINDS)
    found = Counter(line.reason for line in run.lines if line.reason is not None)
    assert dict(found) == s.quarantine_reasons
    reasons = set(found)
    for expected in (
        "invalid_utf8",
        "empty_line",
        "invalid_json",
        "invalid_timestamp",
        "timestamp_out_of_range",
        "unknown_event_type",
        "missing_field:sender",
        "invalid_sender",
        "missing_handover_id",
    ):
        assert expected in reasons
    assert {r for r in reasons if r.startswith("missing_field:")} >= {f"missing_field:{f}" for f in REQUIRED}
    assert len({r for r in reasons if r.startswith("invalid_type:")}) >= 5
    raw = {line.raw for line in run.lines if line.reason == "invalid_json"}
    assert any(r.startswith(b"[") for r in raw)  # valid JSON that is not an object
    assert any(
        line.reason == "invalid_timestamp" and re.search(rb'"occurred_at":"[0-9T:.-]+"', line.raw)
        for line in run.lines
    )  # a timestamp without offset
    # malformed lines sit between valid lines, never at a file's end (a blank last line is ambiguous)
    last = {}
    for line in run.lines:
        last[(line.arrival, line.file)] = line
    assert all(line.reason is None for line in last.values())


def test_duplicates_are_identical_lines_at_the_configured_rate(run):
    copies: dict[str, list[Line]] = defaultdict(list)
    for line in run.lines:
        if line.rec is not None:
            copies[line.rec["event_id"]].append(line)
    redelivered = [c for c in copies.values() if len(c) > 1]
    assert all(len({line.raw for line in c}) == 1 for c in redelivered)
    assert {c[0].arrival == c[1].arrival for c in redelivered} == {True, False}  # same folder and a later one
    rate = run.summary.duplicate_lines / run.summary.distinct_events
    assert rate == pytest.approx(run.config.duplicate_rate, abs=0.004)


def test_arrival_dates_on_time_and_late(run):
    delays = Counter((e["_arrival"] - e["_ts"].date()).days for e in run.events)
    assert min(delays) == 0
    assert set(delays) - {0} <= set(range(1, 6))
    assert len(set(delays) - {0}) == 5
    late_share = sum(n for d, n in delays.items() if d > 0) / len(run.events)
    assert late_share == pytest.approx(run.config.late_rate, abs=0.006)
    assert sum(n for d, n in delays.items() if d > 0) == run.summary.late_events


def test_rendering_dirt(run):
    raw_ts = [e["occurred_at"] for e in run.events]
    offsets = Counter(re.search(r"(Z|[+-]\d{2}:\d{2})$", t).group(1) for t in raw_ts)
    assert offsets["Z"] / len(raw_ts) > 0.9
    assert {"+02:00", "-05:00", "+05:30"} <= set(offsets)
    assert any(re.search(r"\.\d{9}(Z|[+-])", t) for t in raw_ts)
    spellings = Counter(e["channel"] for e in run.events)
    assert set(CHANNELS) <= set(spellings)
    odd = {c for c in spellings if c not in CHANNELS}
    assert odd and all(c.strip().lower() in CHANNELS for c in odd)
    extra = [e for e in run.events if set(e) - set(CONTRACT_FIELDS) - {"_ts", "_arrival"}]
    assert len(extra) / len(run.events) == pytest.approx(run.config.extra_field_rate, abs=0.005)
    assert any("properties" in e for e in run.events)
    assert any(isinstance(e.get("text"), str) and "\n" in e["text"] for e in run.events)


# ---------------------------------------------------------------------------------------------------
# Realism: what the dashboard will show
# ---------------------------------------------------------------------------------------------------


def test_channels_have_different_mixes(run, conversations):
    by_channel = Counter(e["channel"].strip().lower() for e in run.events)
    assert set(by_channel) == set(CHANNELS)
    shares = {c: n / len(run.events) for c, n in by_channel.items()}
    assert all(0.03 < s < 0.5 for s in shares.values())
    started = Counter(c.thread[1] for c in conversations[0])
    assert started.most_common(1)[0][0] == "web"
    welcomes = Counter(e["channel"].strip().lower() for e in run.events if e.get("message_type") == "welcome")
    assert welcomes["sms"] == 0
    assert all(welcomes[c] > 0 for c in CHANNELS if c != "sms")
    kinds = {
        c: Counter(
            e.get("message_type") or "text"
            for e in run.events
            if e.get("sender") == "customer" and e["channel"].strip().lower() == c
        )
        for c in CHANNELS
    }
    assert set(kinds["sms"]) == {"text"}
    assert kinds["web"]["quick_reply"] > 0 and kinds["messenger"]["postback"] > 0
    handover_share = {
        c: sum(
            1
            for e in run.events
            if e["event_type"] == "handover_requested" and e["channel"].strip().lower() == c
        )
        / by_channel[c]
        for c in CHANNELS
    }
    assert handover_share["whatsapp"] > handover_share["instagram"]


def test_conversations_and_engagement(run, conversations):
    convs, notes = conversations
    expected = run.config.conversations_per_day * run.config.days
    assert len(convs) == pytest.approx(expected, rel=0.15)
    assert len(convs) == pytest.approx(run.summary.simulated_conversations, rel=0.02)
    whys = Counter(c.why for c in convs)
    assert whys["first"] and whys["inactivity"] and whys["close"] and whys["timeout"]
    reopen_within_window = [
        c
        for c in convs
        if c.why == "close"
        and any(
            e["event_type"] == "conversation_closed"
            and c.events[0]["_ts"] - e["_ts"] <= timedelta(minutes=10)
            for e in run.events
            if (e["customer_id"], e["channel"].strip().lower()) == c.thread and e["_ts"] <= c.events[0]["_ts"]
        )
    ][:1]
    assert reopen_within_window
    assert notes["long_gap_kept_by_open_handover"] > 0
    assert notes["stretch_without_interaction"] > 0  # unanswered greetings, campaigns, goodbyes
    engaged = sum(_engaged(c) for c in convs) / len(convs)
    assert 0.4 < engaged < 0.9
    # customers who never answer the welcome message
    assert any(len(c.events) == 2 and c.events[1].get("message_type") == "welcome" for c in convs)
    # conversations opened by a direct handover request
    assert any(c.events[0]["event_type"] == "handover_requested" for c in convs)
    flows = Counter(e["flow_type"] for e in run.events if e.get("flow_type"))
    assert set(flows) == set(FLOW_TYPES)
    customers_days = defaultdict(set)
    customer_channels = defaultdict(set)
    for c in convs:
        customers_days[c.thread[0]].add(c.events[0]["_ts"].date())
        customer_channels[c.thread[0]].add(c.thread[1])
    assert (
        sum(len(d) > 1 for d in customers_days.values()) / len(customers_days) > 0.15
    )  # returning customers
    assert any(len(ch) > 1 for ch in customer_channels.values())


def test_handovers_have_every_outcome(run):
    outcomes = _outcomes(run.events)
    assert dict(outcomes) == run.summary.handover_outcomes
    assert all(outcomes[o] > 0 for o in ("successful", "cancelled", "disabled", "incomplete", "pending"))
    assert 0.4 < outcomes["successful"] / sum(outcomes.values()) < 0.8
    tz = ZoneInfo(run.config.timezone)
    by_ho: dict[str, list[dict]] = defaultdict(list)
    for e in run.events:
        if e.get("handover_id"):
            by_ho[e["handover_id"]].append(e)
    disabled = Counter()
    for evs in by_ho.values():
        req = next((e for e in evs if e["event_type"] == "handover_requested"), None)
        if req is None:
            continue
        local = req["_ts"].astimezone(tz)
        business = local.weekday() < 5 and 9 <= local.hour < 18
        disabled[(business, any(e["event_type"] == "handover_disabled" for e in evs))] += 1
    in_hours = disabled[(True, True)] / (disabled[(True, True)] + disabled[(True, False)])
    off_hours = disabled[(False, True)] / (disabled[(False, True)] + disabled[(False, False)])
    assert off_hours > 3 * in_hours


def test_agents_notes_waits_and_closes(run):
    by_ho: dict[str, list[dict]] = defaultdict(list)
    for e in run.events:
        if e.get("handover_id"):
            by_ho[e["handover_id"]].append(e)
    waits, left_open, dept_changed, dept_missing, notes_before_reply = [], 0, 0, 0, 0
    for evs in by_ho.values():
        evs.sort(key=lambda e: (e["_ts"], e["event_id"]))
        types = [e["event_type"] for e in evs]
        if "handover_received" not in types:
            continue
        received = evs[types.index("handover_received")]["_ts"]
        agent = [e for e in evs if e.get("sender") == "agent"]
        assert all(e.get("agent_id") for e in agent)
        replies = [e for e in agent if e.get("message_type") != "internal_note" and e["_ts"] >= received]
        if replies:
            waits.append((replies[0]["_ts"] - received).total_seconds())
            notes_before_reply += any(
                e.get("message_type") == "internal_note" and e["_ts"] < replies[0]["_ts"] for e in agent
            )
        if "conversation_closed" not in types:
            left_open += 1
            continue
        close = evs[types.index("conversation_closed")]
        assert close.get("agent_id")
        requested = next((e.get("department") for e in evs if e["event_type"] == "handover_requested"), None)
        dept_changed += bool(requested and close.get("department") and close["department"] != requested)
        dept_missing += close.get("department") is None
    assert len(waits) > 100
    over_window = sum(w > 600 for w in waits) / len(waits)
    assert 0.03 < over_window < 0.3  # a heavy tail: longer than the inactivity window
    assert sorted(waits)[len(waits) // 2] < 300
    assert left_open > 0 and dept_changed > 0 and dept_missing > 0 and notes_before_reply > 0
    assert any(e.get("message_type") == "internal_note" for e in run.events)


def test_daily_and_weekly_seasonality_in_the_business_zone(run, conversations):
    convs, _ = conversations
    tz = ZoneInfo(run.config.timezone)
    local = [c.events[0]["_ts"].astimezone(tz) for c in convs]
    hours = Counter(t.hour for t in local)
    assert sum(hours[h] for h in range(14, 18)) > 5 * sum(hours[h] for h in range(2, 6))
    days = Counter(t.date() for t in local if START <= t.date() < START + timedelta(days=7))
    weekday_mean = sum(n for d, n in days.items() if d.weekday() < 5) / 5
    weekend_mean = sum(n for d, n in days.items() if d.weekday() >= 5) / 2
    assert weekend_mean < 0.85 * weekday_mean


# ---------------------------------------------------------------------------------------------------
# Conversation shapes (SPEC §3, version 2), each in about its configured share
# ---------------------------------------------------------------------------------------------------

TEXTS = {role: set(values) for role, values in _TEXTS.items()}
GREETING_CHANNELS = {"web", "messenger", "apple_messages"}
#: the defaults at a larger volume, and every shape knob moved away from its default
SHAPED_RUNS: dict[str, dict] = {
    "defaults": dict(conversations_per_day=1500, days=7),
    "tuned": dict(
        conversations_per_day=600,
        days=8,
        welcome_first_rate=0.9,
        unanswered_welcome_rate=0.6,
        campaign_rate=0.3,
        campaign_unanswered_share=0.4,
        campaign_late_answer_share=0.3,
        goodbye_rate=0.9,
        goodbye_answer_share=0.6,
        left_open_rate=0.3,
        left_open_return_share=0.9,
        quick_return_rate=0.2,
        return_rate=0.3,
    ),
}


@dataclass
class Shaped:
    run: Run
    stretches: list[Conversation]
    following: dict[int, Conversation]  # id(stretch) -> the next stretch of its thread

    @property
    def config(self) -> GeneratorConfig:
        return self.run.config

    @property
    def shapes(self) -> dict[str, int]:
        return self.run.summary.shapes


@pytest.fixture(scope="module", params=list(SHAPED_RUNS))
def shaped(request, base) -> Shaped:
    run = _run(base, "shapes-" + request.param, **SHAPED_RUNS[request.param])
    stretches, _ = _stretches(run.events)
    following = {id(a): b for a, b in zip(stretches, stretches[1:], strict=False) if a.thread == b.thread}
    return Shaped(run, stretches, following)


def _near(count: int, total: int, share: float) -> None:
    """count / total is share, within four standard deviations of a binomial draw (and 1%)."""
    assert total > 0
    tolerance = 4 * math.sqrt(share * (1 - share) / total) + 0.01
    assert abs(count / total - share) <= tolerance, f"{count}/{total} = {count / total:.3f}, expected {share}"


def _is_campaign(e: dict) -> bool:
    return e["event_type"] == "message" and e.get("sender") == "bot" and e.get("flow_type") == "campaign"


def _first_interaction(s: Conversation) -> dict:
    return next(e for e in s.events if _is_interaction(e))


def test_welcome_first_openings_on_greeting_channels(shaped):
    cfg = shaped.config
    opened_by_welcome = [s for s in shaped.stretches if s.events[0].get("message_type") == "welcome"]
    assert {s.thread[1] for s in opened_by_welcome} == GREETING_CHANNELS  # never sms, whatsapp, instagram
    assert len(opened_by_welcome) == shaped.shapes["welcome_first"]
    # share of the visits that could open with the greeting (not a campaign, a handover button, a
    # late campaign answer or a return after a close)
    visits = [
        s
        for s in shaped.stretches
        if s.thread[1] in GREETING_CHANNELS
        and s.why != "close"
        and not _is_campaign(s.events[0])
        and s.events[0]["event_type"] != "handover_requested"
        and s.events[0].get("text") not in TEXTS["customer_campaign_reply"]
    ]
    _near(len(opened_by_welcome), len(visits), cfg.welcome_first_rate)
    # a greeting nobody answers is no conversation; an answer comes seconds later, in the conversation
    # the welcome opens
    unanswered = [s for s in opened_by_welcome if not s.interacts]
    assert all(len(s.events) == 1 for s in unanswered)
    assert len(unanswered) == shaped.shapes["unanswered_welcome"]
    _near(len(unanswered), len(opened_by_welcome), cfg.unanswered_welcome_rate)
    delays = sorted(
        (_first_interaction(s)["_ts"] - s.events[0]["_ts"]).total_seconds()
        for s in opened_by_welcome
        if s.interacts
    )
    assert delays[-1] <= 180 and delays[len(delays) // 2] < 15
    assert all(_engaged(s) for s in opened_by_welcome if s.interacts)


def test_campaign_messages_mostly_unanswered(shaped):
    cfg = shaped.config
    # every proactive campaign message opens a stretch (bot replies with flow campaign never do)
    proactive = [s for s in shaped.stretches if _is_campaign(s.events[0])]
    assert len(proactive) == shaped.shapes["campaign"]
    quick, late, unanswered = [], [], []
    for s in proactive:
        if s.interacts:
            quick.append((_first_interaction(s)["_ts"] - s.events[0]["_ts"]).total_seconds())
            continue
        nxt = shaped.following.get(id(s))
        answer = nxt.events[0] if nxt else None
        if (
            answer
            and answer.get("sender") == "customer"
            and answer["text"] in TEXTS["customer_campaign_reply"]
        ):
            late.append(nxt.gap.total_seconds())
        else:
            unanswered.append(s)
    assert len(unanswered) == shaped.shapes["campaign_unanswered"]
    assert len(late) == shaped.shapes["campaign_answered_late"]
    _near(len(unanswered), len(proactive), cfg.campaign_unanswered_share)
    _near(len(late), len(proactive), cfg.campaign_late_answer_share)
    assert max(quick) <= 600 and min(late) > 600  # within minutes (the campaign opens it) or later
    assert sorted(quick)[len(quick) // 2] < 180
    # broadcasts go to messaging contacts far more than to web visitors
    per_stretch = {
        c: sum(s.thread[1] == c for s in proactive) / sum(s.thread[1] == c for s in shaped.stretches)
        for c in ("web", "whatsapp")
    }
    assert per_stretch["whatsapp"] > 3 * per_stretch["web"]


def test_agent_goodbyes_after_the_close(shaped):
    cfg = shaped.config
    closes_after_reply, goodbyes = 0, []
    for s in shaped.stretches:
        close = s.events[-1]
        if close["event_type"] != "conversation_closed":
            continue
        ho = close["handover_id"]
        closes_after_reply += any(
            e.get("sender") == "agent"
            and e.get("message_type") != "internal_note"
            and e.get("handover_id") == ho
            for e in s.events
        )
        nxt = shaped.following.get(id(s))
        first = nxt.events[0] if nxt else None
        if first and first.get("sender") == "agent" and first.get("handover_id") == ho:
            assert nxt.why == "close" and nxt.gap <= timedelta(seconds=6)  # right after the close
            goodbyes.append(nxt)
    assert len(goodbyes) == shaped.shapes["goodbye"]
    _near(len(goodbyes), closes_after_reply, cfg.goodbye_rate)
    answered = [s for s in goodbyes if any(e.get("text") in TEXTS["customer_thanks"] for e in s.events)]
    assert len(answered) == shaped.shapes["goodbye_answered"]
    _near(len(answered), len(goodbyes), cfg.goodbye_answer_share)
    # the rest are no conversation, unless the customer reopens
    alone = [s for s in goodbyes if not s.interacts]
    _near(len(alone), len(goodbyes), (1 - cfg.goodbye_answer_share) * (1 - P_REOPEN))
    assert all(len(s.events) == 1 for s in alone)


def test_tickets_left_open_do_not_hold_later_conversations(shaped):
    cfg = shaped.config
    by_ho: dict[str, list[dict]] = defaultdict(list)
    for e in shaped.run.events:
        if e.get("handover_id"):
            by_ho[e["handover_id"]].append(e)
    received = {h for h, evs in by_ho.items() if any(e["event_type"] == "handover_received" for e in evs)}
    left_open = {h for h in received if not any(e["event_type"] == "conversation_closed" for e in by_ho[h])}
    assert len(left_open) == shaped.shapes["left_open"]
    _near(len(left_open), len(received), cfg.left_open_rate)
    replied = {h for h in left_open if any(e.get("sender") == "agent" for e in by_ho[h])}
    assert len(replied) > 0.85 * len(left_open)  # received, replied, never closed

    window_end = datetime.combine(START + timedelta(days=cfg.days), time(), ZoneInfo(cfg.timezone))
    tickets, nudges, early, early_back = 0, 0, 0, 0
    for s in shaped.stretches:
        if not {e.get("handover_id") for e in s.events} & left_open:
            continue
        tickets += 1
        # hours later the customer sometimes asks again: kept in the conversation by the open ticket
        nudges += any(
            b.get("text") in TEXTS["customer_waiting"] and b["_ts"] - a["_ts"] > timedelta(minutes=15)
            for a, b in zip(s.events, s.events[1:], strict=False)
        )
        # whatever comes next on the thread comes after the handover timeout, in a stretch of its own
        nxt = shaped.following.get(id(s))
        if nxt is not None:
            assert nxt.why == "timeout" and nxt.gap > timedelta(hours=24)
        if s.events[-1]["_ts"] < window_end - timedelta(days=4, hours=1):  # a return falls in the window
            early += 1
            early_back += nxt is not None and any(e.get("text") in TEXTS["customer_back"] for e in nxt.events)
    assert tickets == len(left_open)
    assert nudges >= shaped.shapes["left_open_nudge"] > 0
    # the customers who come back about it after the timeout: a new conversation
    returns = [s for s in shaped.stretches if any(e.get("text") in TEXTS["customer_back"] for e in s.events)]
    assert len(returns) == shaped.shapes["left_open_return"] > 0
    assert all(s.interacts and s.why == "timeout" for s in returns)
    _near(early_back, early, cfg.left_open_return_share)


def test_customers_come_back_after_minutes_and_days(shaped):
    cfg, shapes = shaped.config, shaped.shapes
    convs = [s for s in shaped.stretches if s.interacts]
    # within 10 minutes of silence: the same conversation (not after an agent's ticket)
    followups = [
        (s, i) for s in convs for i, e in enumerate(s.events) if e.get("text") in TEXTS["customer_followup"]
    ]
    assert len(followups) == shapes["quick_return"]
    gaps = [(s.events[i]["_ts"] - s.events[i - 1]["_ts"]).total_seconds() for s, i in followups]
    assert all(i > 0 for _, i in followups) and 60 <= min(gaps) and max(gaps) <= 600
    without_ticket = [
        s
        for s in convs
        if s.why != "close" and not any(e["event_type"] == "handover_received" for e in s.events)
    ]
    _near(len(followups), len(without_ticket), cfg.quick_return_rate)
    # after more than 10 minutes the same day: a new conversation (or an unanswered greeting)
    programs = (
        shaped.run.summary.simulated_conversations
        - shapes["goodbye_answered"]
        - shapes["reopen"]
        + shapes["unanswered_welcome"]
        + shapes["campaign_unanswered"]
    )
    _near(shapes["return"], programs - shapes["left_open"], cfg.return_rate)
    # each return opens a stretch 10.5 minutes to 6 hours after the visit (other visits add a few);
    # after a close that is what cut it
    same_day = [
        s
        for s in shaped.stretches
        if s.why in ("inactivity", "close") and timedelta(minutes=10) < s.gap <= timedelta(hours=6)
    ]
    assert shapes["return"] <= len(same_day) < 1.4 * shapes["return"]
    assert min(s.gap for s in same_day) < timedelta(minutes=11)
    assert sum(s.gap <= timedelta(minutes=20) for s in same_day) > 0.05 * len(same_day)
    # after days
    days_by_customer = defaultdict(set)
    for s in convs:
        days_by_customer[s.thread].add(s.events[0]["_ts"].date())
    assert sum(len(d) > 1 for d in days_by_customer.values()) / len(days_by_customer) > 0.1
    assert sum(s.why == "timeout" for s in convs) > 0.1 * len(convs)


# ---------------------------------------------------------------------------------------------------
# Clean output, formats, determinism
# ---------------------------------------------------------------------------------------------------


def test_no_malformed_line_when_the_rate_is_zero(clean_run):
    assert clean_run.summary.malformed_by_kind == {}
    assert clean_run.summary.quarantine_reasons == {}
    for line in clean_run.lines:
        rec = json.loads(line.raw)
        assert isinstance(rec, dict)
        assert all(isinstance(rec.get(k), str) and rec[k].strip() for k in REQUIRED)
        assert line.reason is None
    assert max(len(list(p.iterdir())) for p in clean_run.config.landing_dir.iterdir()) == 3


def test_gzip_output_is_readable_by_duckdb(base):
    r = _run(base, "gz_clean", malformed_rate=0.0, days=2, conversations_per_day=200)
    [(count, ids)] = duckdb.sql(
        f"select count(*), count(distinct event_id) "
        f"from read_json('{r.config.landing_dir}/*/*.ndjson.gz', format='newline_delimited')"
    ).fetchall()
    assert count == r.summary.valid_lines
    assert ids == r.summary.distinct_events


def test_parquet_output(base):
    r = _run(base, "parquet", file_format="parquet", days=3, conversations_per_day=300, malformed_rate=0.01)
    files = sorted(r.config.landing_dir.glob("*/*"))
    assert files and all(re.fullmatch(r"events-\d{3}\.parquet", f.name) for f in files)
    schema = pq.read_schema(files[0])
    assert set(CONTRACT_FIELDS) <= set(schema.names)
    assert all(str(schema.field(n).type) == "string" for n in schema.names)
    [(count,)] = duckdb.sql(
        f"select count(*) from read_parquet('{r.config.landing_dir}/*/*.parquet')"
    ).fetchall()
    assert count == r.summary.total_lines
    parquet_kinds = {k for k, formats in MALFORMED_KINDS.items() if "parquet" in formats}
    assert set(r.summary.malformed_by_kind) == parquet_kinds
    found = Counter(line.reason for line in r.lines if line.reason is not None)
    assert dict(found) == r.summary.quarantine_reasons
    assert _outcomes(r.events) == Counter(r.summary.handover_outcomes)


def _tree(landing: Path) -> dict[str, bytes]:
    return {str(p.relative_to(landing)): p.read_bytes() for p in sorted(landing.glob("*/*"))}


@pytest.mark.parametrize("file_format", ["ndjson.gz", "parquet"])
def test_deterministic_for_a_seed(tmp_path, file_format):
    common = dict(
        start=START, days=3, conversations_per_day=150, timezone="Europe/Paris", file_format=file_format
    )
    a = generate(GeneratorConfig(landing_dir=tmp_path / "a", seed=3, **common))
    b = generate(GeneratorConfig(landing_dir=tmp_path / "b", seed=3, **common))
    generate(GeneratorConfig(landing_dir=tmp_path / "c", seed=4, **common))
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert replace(a, landing_dir=Path(), files=()) == replace(
        b, landing_dir=Path(), files=()
    )  # time excluded
    assert [p.relative_to(tmp_path / "a") for p in a.files] == [
        p.relative_to(tmp_path / "b") for p in b.files
    ]
    tree_c = _tree(tmp_path / "c")
    assert tree_c != _tree(tmp_path / "a")
    assert all(tree_c.get(k) != v for k, v in _tree(tmp_path / "a").items())


def test_deterministic_with_every_shape(tmp_path):
    knobs = {k: v for k, v in SHAPED_RUNS["tuned"].items() if k in SHAPE_RATES}
    common = dict(start=START, days=4, conversations_per_day=200, timezone="Europe/Paris", **knobs)
    a = generate(GeneratorConfig(landing_dir=tmp_path / "a", **common))
    b = generate(GeneratorConfig(landing_dir=tmp_path / "b", **common))
    assert set(a.shapes) == set(SHAPES) and all(a.shapes.values())  # every shape is in the output
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert a.shapes == b.shapes
    # each knob changes the output
    c = generate(GeneratorConfig(landing_dir=tmp_path / "c", **{**common, "goodbye_rate": 0.2}))
    assert c.shapes["goodbye"] < a.shapes["goodbye"] / 2
    assert _tree(tmp_path / "c") != _tree(tmp_path / "a")


def test_runs_append_and_consecutive_windows_do_not_reuse_ids(tmp_path):
    landing = tmp_path / "landing"
    common = dict(landing_dir=landing, conversations_per_day=100, days=2, malformed_rate=0.0)
    first = generate(GeneratorConfig(start=START, **common))
    second = generate(GeneratorConfig(start=START + timedelta(days=2), **common))
    assert not set(first.files) & set(second.files)
    assert all(p.exists() for p in first.files + second.files)
    lines = _read_landing(landing)
    ids = Counter(line.rec["event_id"] for line in lines)
    assert len(ids) == first.distinct_events + second.distinct_events
    # the same customers come back in the second window
    customers = [
        {
            line.rec["customer_id"]
            for line in lines
            if line.file in {p.name for p in s.files} and line.arrival in s.lines_by_arrival_date
        }
        for s in (first, second)
    ]
    assert customers[0] & customers[1]


def test_events_of_the_day_cover_local_midnights(tmp_path):
    # Tokyo is 9 hours ahead: early-morning local events fall on the previous UTC date
    s = generate(
        GeneratorConfig(
            landing_dir=tmp_path,
            start=START,
            days=1,
            conversations_per_day=300,
            timezone="Asia/Tokyo",
            late_rate=0.0,
            duplicate_rate=0.0,
            malformed_rate=0.0,
        )
    )
    assert min(s.lines_by_arrival_date) == START - timedelta(days=1)
    assert max(s.lines_by_arrival_date) <= START + timedelta(days=1)


# ---------------------------------------------------------------------------------------------------
# Configuration and command line
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"days": 0}, "days"),
        ({"days": 2.5}, "days must be an integer"),
        ({"conversations_per_day": 0}, "conversations_per_day"),
        ({"seed": -1}, "seed"),
        ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"timezone": ""}, "timezone"),
        ({"file_format": "csv"}, "file_format must be one of"),
        ({"files_per_day": 0}, "files_per_day"),
        ({"duplicate_rate": -0.1}, "duplicate_rate"),
        ({"late_rate": 1.5}, "late_rate"),
        ({"malformed_rate": 0.9}, "malformed_rate"),
        ({"extra_field_rate": math.nan}, "extra_field_rate"),
        ({"duplicate_rate": True}, "duplicate_rate"),
        ({"start": datetime(2026, 3, 2, 12, 0)}, "start must be a date"),
        ({"start": "2026-13-01"}, "start must be a date"),
        ({"start": date(1999, 1, 1)}, "start must be between"),
        ({"landing_dir": 42}, "landing_dir"),
        ({"welcome_first_rate": 1.5}, "welcome_first_rate"),
        ({"campaign_rate": -0.01}, "campaign_rate"),
        ({"goodbye_answer_share": math.inf}, "goodbye_answer_share"),
        ({"return_rate": 0.95}, "return_rate"),
        ({"campaign_unanswered_share": 0.8, "campaign_late_answer_share": 0.3}, "must not exceed 1"),
    ],
)
def test_config_validation(tmp_path, overrides, message):
    params = dict(landing_dir=tmp_path, start=START, days=1)
    params.update(overrides)
    with pytest.raises(ValueError, match=message):
        GeneratorConfig(**params)


def test_config_accepts_strings_for_path_and_date(tmp_path):
    config = GeneratorConfig(landing_dir=str(tmp_path), start="2026-03-02", days=1)
    assert config.landing_dir == tmp_path and config.start == START


def test_command_line_arguments(tmp_path, monkeypatch):
    parser = argparse.ArgumentParser()
    add_generate_arguments(parser)
    monkeypatch.delenv("CHAT_ANALYTICS_TIMEZONE", raising=False)
    args = parser.parse_args(["--start", "2026-03-02", "--days", "3"])
    config = config_from_args(args, tmp_path / "default")
    assert config == GeneratorConfig(landing_dir=tmp_path / "default", start=START, days=3)
    args = parser.parse_args(
        [
            "--start",
            "2026-03-02",
            "--days",
            "3",
            "--seed",
            "9",
            "--conversations-per-day",
            "50",
            "--timezone",
            "Europe/Paris",
            "--format",
            "parquet",
            "--files-per-day",
            "4",
            "--duplicate-rate",
            "0.05",
            "--late-rate",
            "0",
            "--malformed-rate",
            "0.01",
            "--extra-field-rate",
            "0.2",
            "--landing-dir",
            str(tmp_path / "x"),
            "--welcome-first-rate",
            "0.8",
            "--campaign-unanswered-share",
            "0.5",
            "--return-rate",
            "0.2",
        ]
    )
    config = config_from_args(args, tmp_path / "default")
    assert config.landing_dir == tmp_path / "x"
    assert (config.seed, config.conversations_per_day, config.timezone, config.file_format) == (
        9,
        50,
        "Europe/Paris",
        "parquet",
    )
    assert (config.files_per_day, config.duplicate_rate, config.late_rate, config.malformed_rate) == (
        4,
        0.05,
        0,
        0.01,
    )
    assert config.extra_field_rate == 0.2
    assert (config.welcome_first_rate, config.campaign_unanswered_share, config.return_rate) == (
        0.8,
        0.5,
        0.2,
    )
    assert config.goodbye_rate == GeneratorConfig.goodbye_rate  # the others keep their defaults
    monkeypatch.setenv("CHAT_ANALYTICS_TIMEZONE", "Asia/Tokyo")
    assert config_from_args(
        parser.parse_args(["--start", "2026-03-02", "--days", "1"]), tmp_path
    ).timezone == ("Asia/Tokyo")
    with pytest.raises(SystemExit):
        parser.parse_args(["--start", "03/02/2026", "--days", "1"])
    with pytest.raises(SystemExit):
        parser.parse_args(["--days", "1"])
    with pytest.raises(ValueError, match="days"):
        config_from_args(parser.parse_args(["--start", "2026-03-02", "--days", "0"]), tmp_path)


def test_summary_is_printable(run):
    text = run.summary.describe()
    assert "distinct events" in text and "malformed" in text
    as_dict = run.summary.to_dict()
    json.dumps(as_dict)
    assert as_dict["total_lines"] == run.summary.total_lines
