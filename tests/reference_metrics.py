"""Independent, plain-Python reference implementation of the metric definitions.

Written from ``SPEC.md`` §3 (definitions, conversations in their version 2) and §4 (marts),
the project's decision log for version 2, and the M* rows of
``docs/decisions.md`` only, without looking at the dbt models, so that end-to-end
tests can cross-check every mart against it.  It favours obvious correctness over
speed: one loop per thread for sessionization, one pass per handover id.

Entry point::

    compute_marts(events, *, timezone="UTC", inactivity_minutes=10, handover_timeout_hours=24)
        -> dict[str, list[dict]]

``events`` are deduplicated, normalised events (what the staging model holds), as
mappings with the keys ``event_id``, ``occurred_at`` (aware datetime), ``customer_id``,
``channel``, ``event_type``, ``sender``, ``message_type``, ``handover_id``, ``agent_id``,
``department`` and ``flow_type`` (missing optional keys are read as ``None``).

Choices where the written spec is open are marked ``AMBIGUITY`` below; see also
``AMBIGUITIES`` at the end of the module.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

UTC = dt.UTC

OUTCOMES = ("successful", "cancelled", "disabled", "incomplete", "pending")
TERMINAL_OUTCOME = {
    "handover_cancelled": "cancelled",
    "handover_disabled": "disabled",
    "handover_incomplete": "incomplete",
}
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

MART_COLUMNS: dict[str, tuple[str, ...]] = {
    "kpi_daily": (
        "report_date",
        "channel",
        "total_conversations",
        "engaged_conversations",
        "engaged_customers",
        "successful_transfers",
        "answered_conversations",
        "closed_conversations",
        "initial_wait_seconds_sum",
        "initial_wait_count",
        "avg_initial_wait_seconds",
        "chatbot_duration_seconds_sum",
        "avg_chatbot_duration_seconds",
    ),
    "transfers_by_outcome": ("report_date", "channel", "outcome", "handover_requests"),
    "activity_by_weekday_hour": (
        "report_date",
        "hour_of_day",
        "channel",
        "day_of_week",
        "day_name",
        "engaged_conversations",
        "handover_requests",
    ),
    "closed_by_department": ("report_date", "department", "channel", "closed_conversations"),
    "conversations_by_channel": (
        "report_date",
        "channel",
        "support_type",
        "total_conversations",
        "engaged_conversations",
    ),
    "fct_conversations": (
        "conversation_id",
        "customer_id",
        "channel",
        "started_at",
        "ended_at",
        "report_date",
        "is_engaged",
        "support_type",
        "chatbot_duration_seconds",
    ),
    "fct_handover_requests": (
        "handover_id",
        "conversation_id",
        "customer_id",
        "channel",
        "requested_at",
        "outcome",
        "received_at",
        "first_agent_reply_at",
        "initial_wait_seconds",
        "closed_at",
        "department",
    ),
}


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Event:
    event_id: str
    occurred_at: dt.datetime  # aware, UTC
    customer_id: str
    channel: str
    event_type: str
    sender: str | None
    message_type: str  # never None: missing / blank -> "text"
    handover_id: str | None
    agent_id: str | None
    department: str | None
    flow_type: str | None

    @property
    def order_key(self) -> tuple[dt.datetime, str]:
        """The spec's total order: occurred_at, ties broken by event_id."""
        return (self.occurred_at, self.event_id)

    @property
    def is_message(self) -> bool:
        return self.event_type == "message"

    @property
    def is_customer_interaction(self) -> bool:
        # SPEC §3: a message with sender customer (any message_type), or a handover_requested.
        return (self.is_message and self.sender == "customer") or self.event_type == "handover_requested"

    @property
    def is_agent_visible_message(self) -> bool:
        # An agent message that is not an internal note.  Unknown message types behave
        # like text (R6), so only the exact value "internal_note" is excluded.
        return self.is_message and self.sender == "agent" and self.message_type != "internal_note"

    @property
    def is_welcome(self) -> bool:
        # AMBIGUITY: any message whose message_type is "welcome" (the contract calls it
        # "the bot's welcome message"; the sender is not checked).
        return self.is_message and self.message_type == "welcome"


def _blank_to_none(value):
    """M1: blank strings are null.  Non-string values are kept as they are."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip() == "":
        return None
    return value


def _normalise(raw: Mapping) -> Event:
    occurred_at = raw["occurred_at"]
    if not isinstance(occurred_at, dt.datetime):
        raise TypeError(f"occurred_at must be a datetime, got {type(occurred_at).__name__}")
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise ValueError(f"occurred_at must be timezone-aware (event {raw.get('event_id')!r})")
    message_type = _blank_to_none(raw.get("message_type"))
    return Event(
        event_id=str(raw["event_id"]),
        occurred_at=occurred_at.astimezone(UTC),
        customer_id=raw["customer_id"],
        # Staging already trims and lower-cases; doing it again is harmless.
        channel=str(raw["channel"]).strip().lower(),
        event_type=raw["event_type"],
        sender=_blank_to_none(raw.get("sender")),
        message_type="text" if message_type is None else message_type,
        handover_id=_blank_to_none(raw.get("handover_id")),
        agent_id=_blank_to_none(raw.get("agent_id")),
        department=_blank_to_none(raw.get("department")),
        flow_type=_blank_to_none(raw.get("flow_type")),
    )


class _LocalClock:
    """UTC instant -> local date / hour in the reporting zone (DST included)."""

    def __init__(self, timezone: str):
        self.zone = ZoneInfo(timezone)

    def local(self, instant: dt.datetime) -> dt.datetime:
        return instant.astimezone(self.zone)

    def date(self, instant: dt.datetime) -> dt.date:
        return self.local(instant).date()

    def hour(self, instant: dt.datetime) -> int:
        return self.local(instant).hour


# ------------------------------------------------------------------ sessionization


@dataclass
class Conversation:
    conversation_id: str
    customer_id: str
    channel: str
    events: list[Event] = field(default_factory=list)  # in thread order, opening event first


def split_into_stretches(
    thread: list[Event], inactivity: dt.timedelta, handover_timeout: dt.timedelta
) -> list[list[Event]]:
    """Cut one thread (already in thread order) into stretches (SPEC §3, version 2).

    A new stretch begins
    1. at the thread's first event;
    2. at the first event after a ``conversation_closed``;
    3. at an event more than ``inactivity`` after the previous event, when no handover
       of the thread is open at that moment;
    4. at an event more than ``handover_timeout`` after the previous event, whatever is
       open (and from then on nothing opened before it is open).
    """
    stretches: list[list[Event]] = []
    previous: Event | None = None
    # DECISION: open handovers are tracked per thread (this loop) and per handover_id.
    open_handovers: set[str] = set()
    # DECISION: handover ids with a conversation_closed seen so far in this thread.  It is
    # never reset, not even by a timeout cut: a handover_received after the handover's
    # first close (anywhere earlier in the thread) opens nothing.
    closed_handovers: set[str] = set()

    for event in thread:
        # AMBIGUITY: "the previous event" is the previous event of the thread, of any kind.
        if previous is None:
            starts = True  # rule 1
        else:
            gap = event.occurred_at - previous.occurred_at
            # AMBIGUITY: gaps are strict: exactly the timeout (or exactly 10:00) does not cut.
            timeout_cut = gap > handover_timeout  # rule 4
            if timeout_cut:
                # DECISION: after a timeout cut nothing opened before it is open.
                open_handovers.clear()
            # AMBIGUITY: any conversation_closed ends its stretch, whatever its handover_id,
            # even a handover that was never received (never open) or never requested.
            after_close = previous.event_type == "conversation_closed"  # rule 2
            # DECISION: "open at that moment" is decided by the events strictly before this
            # one (this event's own effect is applied below, after classification).  Any
            # event, a conversation_closed included, more than the inactivity after the
            # previous one does not cut while some handover of the thread is open.
            idle_cut = gap > inactivity and not open_handovers  # rule 3
            starts = timeout_cut or after_close or idle_cut
        if starts:
            stretches.append([])
        stretches[-1].append(event)

        # State updates apply to the *following* events only.
        if event.handover_id is not None:
            if event.event_type == "handover_received":
                # DECISION: a reception opens its handover unless a close of that
                # handover came earlier in the thread; a reception again after a
                # timeout cut (and before the first close) opens it again.
                if event.handover_id not in closed_handovers:
                    open_handovers.add(event.handover_id)
            elif event.event_type == "conversation_closed":
                # The handover's first close ends its openness for good.
                open_handovers.discard(event.handover_id)
                closed_handovers.add(event.handover_id)
        previous = event

    return stretches


def sessionize_thread(
    thread: list[Event],
    inactivity: dt.timedelta,
    handover_timeout: dt.timedelta = dt.timedelta(hours=24),
) -> list[Conversation]:
    """Split one thread (already in thread order) into conversations (SPEC §3, version 2).

    A stretch holding at least one customer interaction is a conversation, opened by the
    stretch's first event whatever it is.  DECISION: the events of a stretch without a
    customer interaction belong to no conversation (no conversation_id, no conversation
    metric); they still count for the date spine of the marts.
    """
    conversations: list[Conversation] = []
    for stretch in split_into_stretches(thread, inactivity, handover_timeout):
        if not any(e.is_customer_interaction for e in stretch):
            continue
        opening = stretch[0]
        conversations.append(
            Conversation(opening.event_id, opening.customer_id, opening.channel, list(stretch))
        )
    return conversations


def _conversation_row(conv: Conversation, clock: _LocalClock) -> dict:
    events = conv.events
    opening = events[0]
    started_at = opening.occurred_at
    ended_at = events[-1].occurred_at

    # engaged (DECISION M10 adapted): the welcome is the conversation's first message with
    # message_type 'welcome' (sender not checked); it may be the opening event itself.  A
    # customer interaction or an agent message that is not an internal note must come
    # strictly after it in thread order; without a welcome, strictly after the opening event.
    anchor = next((i for i, e in enumerate(events) if e.is_welcome), 0)
    is_engaged = any(e.is_customer_interaction or e.is_agent_visible_message for e in events[anchor + 1 :])

    support_type = "other"
    for e in events:
        if e.is_message and e.sender == "bot" and e.flow_type is not None:
            support_type = e.flow_type  # keep the last one (M9: as sent)

    # DECISION: chatbot duration runs to the first handover_received inside the conversation
    # (its own stretch), whether or not that reception opened anything, else to ended_at.
    first_received = next((e for e in events if e.event_type == "handover_received"), None)
    duration_end = first_received.occurred_at if first_received is not None else ended_at
    chatbot_duration_seconds = (duration_end - started_at).total_seconds()

    return {
        "conversation_id": conv.conversation_id,
        "customer_id": conv.customer_id,
        "channel": conv.channel,
        "started_at": started_at,
        "ended_at": ended_at,
        "report_date": clock.date(started_at),
        "is_engaged": is_engaged,
        "support_type": support_type,
        "chatbot_duration_seconds": chatbot_duration_seconds,
    }


# ---------------------------------------------------------------- handover requests


def _handover_rows(events: list[Event], conversation_of: dict[str, str]) -> tuple[list[dict], dict]:
    """fct_handover_requests rows, plus the local-free reply instants per handover id.

    ``events`` must be in global (occurred_at, event_id) order so that "first" is
    always the earliest in that order.  M4: everything is matched by handover_id only.
    """
    by_id: dict[str, dict[str, list[Event]]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        if e.handover_id is None:
            continue
        if e.event_type == "message":
            if e.is_agent_visible_message:
                by_id[e.handover_id]["agent_message"].append(e)
        else:
            by_id[e.handover_id][e.event_type].append(e)

    rows = []
    replies_of: dict[str, list[dt.datetime]] = {}
    for handover_id, group in by_id.items():
        requests = group.get("handover_requested", [])
        if not requests:
            continue  # orphans: no request (yet), not a handover request
        request = requests[0]

        receptions = group.get("handover_received", [])
        received_at = receptions[0].occurred_at if receptions else None

        if received_at is not None:
            outcome = "successful"  # reception has precedence
        else:
            terminals = sorted(
                (e for t in TERMINAL_OUTCOME for e in group.get(t, [])), key=lambda e: e.order_key
            )
            outcome = TERMINAL_OUTCOME[terminals[0].event_type] if terminals else "pending"  # M3

        # M5: no reception, no replies.  "at or after received_at" compares instants.
        replies = (
            [e.occurred_at for e in group.get("agent_message", []) if e.occurred_at >= received_at]
            if received_at is not None
            else []
        )
        replies_of[handover_id] = replies
        first_reply = min(replies) if replies else None
        initial_wait = (first_reply - received_at).total_seconds() if first_reply is not None else None

        closes = group.get("conversation_closed", [])
        close = closes[0] if closes else None
        department = (close.department if close is not None else None) or request.department or "unassigned"

        rows.append(
            {
                "handover_id": handover_id,
                "conversation_id": conversation_of[request.event_id],
                "customer_id": request.customer_id,
                "channel": request.channel,
                "requested_at": request.occurred_at,
                "outcome": outcome,
                "received_at": received_at,
                "first_agent_reply_at": first_reply,
                "initial_wait_seconds": initial_wait,
                "closed_at": close.occurred_at if close is not None else None,
                "department": department,
            }
        )
    rows.sort(key=lambda r: (r["requested_at"], r["handover_id"]))
    return rows, replies_of


# -------------------------------------------------------------------------- marts


def compute_marts(
    events: Iterable[Mapping],
    *,
    timezone: str = "UTC",
    inactivity_minutes: int = 10,
    handover_timeout_hours: float = 24,
) -> dict[str, list[dict]]:
    clock = _LocalClock(timezone)
    inactivity = dt.timedelta(minutes=inactivity_minutes)
    handover_timeout = dt.timedelta(hours=handover_timeout_hours)

    evs = [_normalise(e) for e in events]
    seen_ids: set[str] = set()
    for e in evs:
        if e.event_id in seen_ids:
            raise ValueError(f"duplicate event_id {e.event_id!r}: input must be deduplicated")
        seen_ids.add(e.event_id)
    evs.sort(key=lambda e: e.order_key)

    # ---- conversations
    threads: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in evs:  # already in order, so every thread is in thread order
        threads[(e.customer_id, e.channel)].append(e)
    conversations: list[Conversation] = []
    for thread in threads.values():
        conversations.extend(sessionize_thread(thread, inactivity, handover_timeout))
    # Events outside every conversation have no entry here.  DECISION: a request's
    # conversation_id is the conversation of its first handover_requested event, a customer
    # interaction, hence always in a conversation.
    conversation_of = {e.event_id: c.conversation_id for c in conversations for e in c.events}
    fct_conversations = sorted(
        (_conversation_row(c, clock) for c in conversations),
        key=lambda r: (r["started_at"], r["conversation_id"]),
    )

    # ---- handover requests
    fct_handover_requests, replies_of = _handover_rows(evs, conversation_of)

    marts = {
        "fct_conversations": fct_conversations,
        "fct_handover_requests": fct_handover_requests,
    }
    if not evs:
        for name in (
            "kpi_daily",
            "transfers_by_outcome",
            "activity_by_weekday_hour",
            "closed_by_department",
            "conversations_by_channel",
        ):
            marts[name] = []
        return marts

    # ---- spine (M8): every local date from the first to the last event, every channel seen
    first_date = min(clock.date(e.occurred_at) for e in evs)
    last_date = max(clock.date(e.occurred_at) for e in evs)
    dates = [first_date + dt.timedelta(days=i) for i in range((last_date - first_date).days + 1)]
    channels = sorted({e.channel for e in evs})

    # ---- kpi_daily
    kpi: dict[tuple[dt.date, str], dict] = {
        (d, c): {
            "total": 0,
            "engaged": 0,
            "engaged_customers": set(),
            "successful": 0,
            "answered": 0,
            "closed": 0,
            "wait_sum": 0.0,
            "wait_count": 0,
            "duration_sum": 0.0,
        }
        for d in dates
        for c in channels
    }
    for conv in fct_conversations:
        cell = kpi[(conv["report_date"], conv["channel"])]
        cell["total"] += 1
        if conv["is_engaged"]:
            cell["engaged"] += 1
            cell["engaged_customers"].add(conv["customer_id"])
            cell["duration_sum"] += conv["chatbot_duration_seconds"]
    for req in fct_handover_requests:
        channel = req["channel"]
        if req["received_at"] is not None:
            kpi[(clock.date(req["received_at"]), channel)]["successful"] += 1
        if req["closed_at"] is not None:
            kpi[(clock.date(req["closed_at"]), channel)]["closed"] += 1
        # M6: once per local day with at least one qualifying reply.
        for day in {clock.date(t) for t in replies_of[req["handover_id"]]}:
            kpi[(day, channel)]["answered"] += 1
        if req["initial_wait_seconds"] is not None:
            cell = kpi[(clock.date(req["first_agent_reply_at"]), channel)]
            cell["wait_sum"] += req["initial_wait_seconds"]
            cell["wait_count"] += 1

    kpi_daily = []
    for d in dates:
        for c in channels:
            cell = kpi[(d, c)]
            kpi_daily.append(
                {
                    "report_date": d,
                    "channel": c,
                    "total_conversations": cell["total"],
                    "engaged_conversations": cell["engaged"],
                    "engaged_customers": len(cell["engaged_customers"]),
                    "successful_transfers": cell["successful"],
                    "answered_conversations": cell["answered"],
                    "closed_conversations": cell["closed"],
                    "initial_wait_seconds_sum": cell["wait_sum"],
                    "initial_wait_count": cell["wait_count"],
                    "avg_initial_wait_seconds": (
                        cell["wait_sum"] / cell["wait_count"] if cell["wait_count"] else None
                    ),
                    "chatbot_duration_seconds_sum": cell["duration_sum"],
                    "avg_chatbot_duration_seconds": (
                        cell["duration_sum"] / cell["engaged"] if cell["engaged"] else None
                    ),
                }
            )

    # ---- transfers_by_outcome
    outcome_counts: dict[tuple, int] = defaultdict(int)
    for req in fct_handover_requests:
        outcome_counts[(clock.date(req["requested_at"]), req["channel"], req["outcome"])] += 1
    transfers_by_outcome = [
        {"report_date": d, "channel": c, "outcome": o, "handover_requests": outcome_counts[(d, c, o)]}
        for d in dates
        for c in channels
        for o in OUTCOMES
    ]

    # ---- activity_by_weekday_hour
    engaged_by_hour: dict[tuple, int] = defaultdict(int)
    for conv in fct_conversations:
        if conv["is_engaged"]:
            local = clock.local(conv["started_at"])
            engaged_by_hour[(local.date(), local.hour, conv["channel"])] += 1
    requests_by_hour: dict[tuple, int] = defaultdict(int)
    for req in fct_handover_requests:
        local = clock.local(req["requested_at"])
        requests_by_hour[(local.date(), local.hour, req["channel"])] += 1
    activity = [
        {
            "report_date": d,
            "hour_of_day": h,
            "channel": c,
            "day_of_week": d.isoweekday(),
            "day_name": DAY_NAMES[d.isoweekday() - 1],
            "engaged_conversations": engaged_by_hour[(d, h, c)],
            "handover_requests": requests_by_hour[(d, h, c)],
        }
        for d in dates
        for h in range(24)
        for c in channels
    ]

    # ---- closed_by_department (only non-zero rows)
    closed_counts: dict[tuple, int] = defaultdict(int)
    for req in fct_handover_requests:
        if req["closed_at"] is not None:
            closed_counts[(clock.date(req["closed_at"]), req["department"], req["channel"])] += 1
    closed_by_department = [
        {"report_date": d, "department": dep, "channel": c, "closed_conversations": n}
        for (d, dep, c), n in sorted(closed_counts.items())
    ]

    # ---- conversations_by_channel (only non-zero rows)
    by_support: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for conv in fct_conversations:
        cell = by_support[(conv["report_date"], conv["channel"], conv["support_type"])]
        cell[0] += 1
        cell[1] += 1 if conv["is_engaged"] else 0
    conversations_by_channel = [
        {
            "report_date": d,
            "channel": c,
            "support_type": s,
            "total_conversations": total,
            "engaged_conversations": engaged,
        }
        for (d, c, s), (total, engaged) in sorted(by_support.items())
    ]

    marts.update(
        kpi_daily=kpi_daily,
        transfers_by_outcome=transfers_by_outcome,
        activity_by_weekday_hour=activity,
        closed_by_department=closed_by_department,
        conversations_by_channel=conversations_by_channel,
    )
    return marts


AMBIGUITIES = """
Places where SPEC §3/§4 (conversations in version 2, plus decisions.md and the project's
version-2 decision log) leave room, and what this reference does:

1. Thread and order: a thread is (customer_id, channel), ordered by (occurred_at, event_id).
   "The previous event" (rules 3 and 4) is the previous event of the thread, of any kind.
2. Rule 2 (a close ends its stretch): any conversation_closed of the thread, whatever its
   handover_id, even a handover never received (never open) or never requested; the next
   event of the thread, of any kind, begins a new stretch.
3. Open handovers are tracked per thread and per handover_id (receptions and closes in
   another thread do not count).  Whether one is open "at that moment" of an event is
   decided by the events strictly before it in thread order, never by the event itself.
4. A handover_received of h opens h unless a conversation_closed of h came earlier in the
   thread (h's first close over the whole thread, even before a timeout cut); h stays open
   until its first close or the next timeout cut, whichever comes first.  After a timeout
   cut nothing opened before it is open; a reception of h again after the cut (and before
   h's first close) opens h again.
5. Gaps are strict: exactly conversation_inactivity_minutes does not cut (rule 3), exactly
   handover_timeout_hours with a handover open does not cut, one more microsecond does
   (rule 4).  An event more than the inactivity after the previous one, a
   conversation_closed included, does not cut while some handover of the thread is open.
6. A stretch without a customer interaction is no conversation: its events have no
   conversation_id and count in no conversation metric, but their dates still extend the
   date spine of the marts (M8).
7. "Welcome message": the conversation's first message with message_type 'welcome',
   whatever its sender; it may be the opening event itself (M10 adapted).
8. "After" for engagement is strict, in thread order (occurred_at, event_id); an event
   tied in time with the welcome but with a smaller event_id is before it.  Without a
   welcome, engaging events must come strictly after the opening event.
9. Agent replies: "at or after received_at" compares instants (occurred_at >= received_at),
   so a reply at the very instant of reception counts whatever the event_ids.
10. received_at / closed_at / the request: the earliest such event by (occurred_at, event_id).
11. Chatbot duration uses the first handover_received among the conversation's own events
   (its stretch), whether or not that reception opened anything and whatever its
   handover_id, not the reception of the requests made in it.
12. A request's conversation_id is the conversation of its first handover_requested event
   (a customer interaction, hence always in a conversation).
13. successful_transfers / closed_conversations / answered / initial wait are counted on
   handover requests only (rows of fct_handover_requests), under the request's channel;
   orphan receptions/closes with no request are not counted anywhere.  Everything about
   handover requests is unchanged from version 1.
14. department for a request that is not closed: the request's department, else 'unassigned'
   (closed_by_department only uses closed requests anyway).
15. A conversation can span midnight; it is counted on the local date of started_at.
"""
