"""Hand-written checks of the plain-Python reference metrics, one rule per test.

Every expected value below is worked out by hand from SPEC §3/§4 (conversations in their
version 2), docs/decisions.md and the project's version-2 decision log.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_metrics import MART_COLUMNS, OUTCOMES, compute_marts  # noqa: E402

UTC = dt.UTC
DAY = "2026-03-02"  # a Monday


def at(t: str, day: str = DAY) -> dt.datetime:
    """'HH:MM[:SS[.ffffff]]' on `day`, or a full ISO instant with an offset."""
    if "T" in t:
        return dt.datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(UTC)
    return dt.datetime.fromisoformat(f"{day}T{t}+00:00")


def ev(event_id, t, event_type="message", *, customer="c1", channel="web", sender=None, **kw):
    if event_type == "message" and sender is None:
        sender = "customer"
    return {
        "event_id": event_id,
        "occurred_at": at(t) if isinstance(t, str) else t,
        "customer_id": customer,
        "channel": channel,
        "event_type": event_type,
        "sender": sender,
        "message_type": kw.get("message_type"),
        "handover_id": kw.get("handover_id"),
        "agent_id": kw.get("agent_id"),
        "department": kw.get("department"),
        "flow_type": kw.get("flow_type"),
    }


def cust(eid, t, **kw):
    return ev(eid, t, "message", sender="customer", **kw)


def bot(eid, t, **kw):
    return ev(eid, t, "message", sender="bot", **kw)


def agent(eid, t, **kw):
    return ev(eid, t, "message", sender="agent", **kw)


def welcome(eid, t, **kw):
    return ev(eid, t, "message", sender="bot", message_type="welcome", **kw)


def hand(kind, eid, t, hid, **kw):
    return ev(eid, t, f"handover_{kind}", handover_id=hid, **kw)


def close(eid, t, hid, **kw):
    return ev(eid, t, "conversation_closed", handover_id=hid, **kw)


def convs(events, **kw):
    return compute_marts(events, **kw)["fct_conversations"]


def conv_ids(events, **kw):
    return [c["conversation_id"] for c in convs(events, **kw)]


def by_id(rows, key):
    return {r[key]: r for r in rows}


def requests(events, **kw):
    return by_id(compute_marts(events, **kw)["fct_handover_requests"], "handover_id")


def kpi(events, date=DAY, channel="web", **kw):
    d = dt.date.fromisoformat(date)
    rows = [
        r
        for r in compute_marts(events, **kw)["kpi_daily"]
        if r["report_date"] == d and r["channel"] == channel
    ]
    assert len(rows) == 1
    return rows[0]


# ----------------------------------------------------------------- sessionization


def test_inactivity_boundary_exactly_ten_minutes_does_not_split():
    events = [cust("a", "10:00:00"), cust("b", "10:10:00"), cust("c", "10:20:00.001")]
    assert conv_ids(events) == ["a", "c"]
    fct = by_id(convs(events), "conversation_id")
    assert fct["a"]["ended_at"] == at("10:10:00")
    assert fct["c"]["started_at"] == at("10:20:00.001")


def test_inactivity_gap_is_measured_from_previous_event_of_any_kind():
    # bot message at 10:09 keeps the thread alive; gap to 10:19 is 10:00 exactly.
    events = [cust("a", "10:00"), bot("b", "10:09"), cust("c", "10:19")]
    assert conv_ids(events) == ["a"]
    # Unknown/other events (an orphan outcome here) count as activity too.
    events = [cust("a", "10:00"), hand("cancelled", "b", "10:09", "hx"), cust("c", "10:19")]
    assert conv_ids(events) == ["a"]
    events = [cust("a", "10:00"), hand("cancelled", "b", "10:09", "hx"), cust("c", "10:19:00.000001")]
    assert conv_ids(events) == ["a", "c"]


def test_inactivity_minutes_parameter():
    events = [cust("a", "10:00"), cust("b", "10:06")]
    assert conv_ids(events) == ["a"]
    assert conv_ids(events, inactivity_minutes=5) == ["a", "b"]


def test_reopen_after_close_starts_new_conversation():
    events = [
        cust("a", "10:00"),
        hand("requested", "b", "10:01", "h1"),
        hand("received", "c", "10:02", "h1"),
        agent("d", "10:03", handover_id="h1"),
        close("e", "10:04", "h1"),
        cust("f", "10:05"),  # 1 minute later, but a close lies between -> reopen
        cust("g", "10:06"),
    ]
    assert conv_ids(events) == ["a", "f"]


def test_close_tied_in_time_but_after_in_thread_order_is_not_between():
    # Same instant: event_id order puts the customer message "m" before the close "z".
    events = [
        cust("a", "10:00"),
        hand("requested", "b", "10:01", "h1"),
        hand("received", "c", "10:02", "h1"),
        cust("m", "10:04"),
        close("z", "10:04", "h1"),
    ]
    assert conv_ids(events) == ["a"]
    # ... while with the close first in thread order it is a reopen.
    events[-1] = close("l", "10:04", "h1")
    assert conv_ids(events) == ["a", "m"]


def test_close_of_any_handover_triggers_reopen():
    # The closed handover never belonged to this thread's requests.
    events = [cust("a", "10:00"), close("b", "10:01", "other"), cust("c", "10:02")]
    assert conv_ids(events) == ["a", "c"]


def test_open_handover_exempts_from_inactivity_split():
    events = [
        cust("a", "10:00"),
        hand("requested", "b", "10:01", "h1"),
        hand("received", "c", "10:02", "h1"),
        cust("d", "10:45"),  # 43 minutes of queue wait: still the same conversation
        agent("e", "11:30", handover_id="h1"),
        cust("f", "12:00"),
    ]
    assert conv_ids(events) == ["a"]
    assert convs(events)[0]["ended_at"] == at("12:00")


def test_requested_but_not_received_handover_is_not_open():
    events = [cust("a", "10:00"), hand("requested", "b", "10:01", "h1"), cust("c", "10:30")]
    assert conv_ids(events) == ["a", "c"]


def test_handover_is_no_longer_open_after_its_close():
    events = [
        cust("a", "10:00"),
        hand("requested", "b", "10:01", "h1"),
        hand("received", "c", "10:02", "h1"),
        close("d", "10:03", "h1"),
        cust("e", "10:04"),  # reopen (rule 2)
        cust("f", "10:30"),  # gap 26 min, h1 closed -> new conversation (rule 3)
    ]
    assert conv_ids(events) == ["a", "e", "f"]


def test_one_open_handover_among_several_is_enough():
    events = [
        cust("a", "10:00"),
        hand("requested", "b", "10:01", "h1"),
        hand("received", "c", "10:02", "h1"),
        hand("requested", "d", "10:03", "h2"),
        hand("received", "e", "10:04", "h2"),
        close("f", "10:05", "h1"),
        cust("g", "10:06"),  # reopen (close lies between)
        cust("h", "11:00"),  # h2 still open: no split
    ]
    assert conv_ids(events) == ["a", "g"]


def test_open_handover_is_tracked_per_thread():
    # h1 is received in the messenger thread; the web thread of the same customer splits.
    events = [
        cust("a", "10:00", channel="web"),
        hand("requested", "b", "10:01", "h1", channel="messenger"),
        hand("received", "c", "10:02", "h1", channel="messenger"),
        cust("d", "10:30", channel="web"),
        cust("e", "10:40", channel="messenger"),
    ]
    fct = convs(events)
    assert sorted((c["channel"], c["conversation_id"]) for c in fct) == [
        ("messenger", "b"),
        ("web", "a"),
        ("web", "d"),
    ]


def test_threads_are_per_customer_and_channel():
    events = [cust("a", "10:00", customer="c1"), cust("b", "10:01", customer="c2"), cust("c", "10:02")]
    fct = convs(events)
    assert [(c["conversation_id"], c["customer_id"]) for c in fct] == [("a", "c1"), ("b", "c2")]
    assert by_id(fct, "conversation_id")["a"]["ended_at"] == at("10:02")


def test_ties_are_broken_by_event_id():
    # Changed for v2.  v1 pinned "a conversation opens at its first customer interaction;
    # the events before it belong to no conversation" (it expected ["b"]).  v2: same
    # instant, "a" (welcome) precedes "b" (customer) in thread order, so the welcome is the
    # stretch's first event and opens the conversation the customer's answer engages.
    events = [cust("b", "10:00"), welcome("a", "10:00")]
    assert conv_ids(events) == ["a"]
    assert convs(events)[0]["is_engaged"] is True
    # Two customer messages at the same instant: the smaller id opens.
    events = [cust("y", "10:00"), cust("x", "10:00")]
    assert conv_ids(events) == ["x"]
    # Input order does not matter.
    assert conv_ids(list(reversed(events))) == ["x"]


def test_tie_with_inactivity_gap_uses_thread_order():
    # "p" and "q" at 10:30 after a 30-minute gap: "p" opens, "q" follows with gap 0.
    events = [cust("a", "10:00"), cust("q", "10:30"), cust("p", "10:30")]
    assert conv_ids(events) == ["a", "p"]


def test_events_before_first_interaction_belong_to_the_conversation_they_open():
    # Changed for v2 (was test_events_before_first_interaction_belong_to_no_conversation).
    # v1 pinned "the events before the thread's first customer interaction belong to no
    # conversation" (conversation "d" from 09:05, support_type other, not engaged, 60 s).
    # v2: the five events are one stretch (no gap over 10 minutes) holding a customer
    # interaction, so they are one conversation opened by its first event, "a".
    events = [
        bot("a", "09:00", flow_type="sales"),
        welcome("b", "09:00:01"),
        agent("c", "09:00:02"),
        cust("d", "09:05"),
        bot("e", "09:06"),
    ]
    fct = convs(events)
    assert len(fct) == 1
    c = fct[0]
    assert c["conversation_id"] == "a"
    assert c["started_at"] == at("09:00")
    assert c["ended_at"] == at("09:06")
    assert c["support_type"] == "sales"  # the opening bot message belongs to the conversation
    assert c["is_engaged"] is True  # the agent message and the customer come after the welcome
    assert c["chatbot_duration_seconds"] == 360.0


def test_handover_requested_is_a_customer_interaction_and_can_open():
    # Changed for v2.  v1 pinned "the opening event is the first customer interaction", so
    # the request "b" opened the conversation although the bot message "a" came 5 s before.
    # v2: "a" opens the stretch; the request makes it a conversation opened by "a".
    events = [bot("a", "10:00"), hand("requested", "b", "10:00:05", "h1")]
    assert conv_ids(events) == ["a"]
    assert requests(events)["h1"]["conversation_id"] == "a"
    # The request opens the conversation when it is the stretch's first event.
    events = [bot("a", "09:00"), hand("requested", "b", "10:00:05", "h1")]
    assert conv_ids(events) == ["b"]
    assert requests(events)["h1"]["conversation_id"] == "b"
    assert conv_ids([hand("requested", "b", "10:00", "h1")]) == ["b"]


def test_event_belongs_to_latest_conversation_started_at_or_before_it():
    events = [
        cust("a", "10:00"),
        bot("b", "10:01", flow_type="sales"),
        cust("c", "10:30"),
        bot("d", "10:31", flow_type="support"),
    ]
    fct = by_id(convs(events), "conversation_id")
    assert fct["a"]["ended_at"] == at("10:01")
    assert fct["a"]["support_type"] == "sales"
    assert fct["c"]["support_type"] == "support"


# ------------------------------------------------- sessionization, version 2 rules

D2, D3, D4, D5 = "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"


def _received_handover(t_request="10:01", t_received="10:02", hid="h1", day=D2):
    """A customer message at 10:00, then a request and its reception: h1 is open."""
    return [
        cust("a", at("10:00", day)),
        hand("requested", f"q-{hid}", at(t_request, day), hid),
        hand("received", f"r-{hid}", at(t_received, day), hid),
    ]


def test_v2_welcome_first_returning_customer_starts_new_conversation():
    # The welcome opens the conversation, one reply engages it.  Days later the bot sends a
    # new welcome and the customer answers it 3 s later: v1 measured the gap only up to the
    # answer (3 s) and glued it to the first conversation; v2 cuts at the welcome (rule 3).
    events = [
        welcome("w1", at("10:00:00", D2)),
        cust("c1", at("10:00:05", D2)),
        welcome("w2", at("09:00:00", D5)),
        cust("c2", at("09:00:03", D5)),
    ]
    fct = by_id(convs(events), "conversation_id")
    assert list(fct) == ["w1", "w2"]
    assert fct["w1"]["started_at"] == at("10:00:00", D2)
    assert fct["w1"]["ended_at"] == at("10:00:05", D2)
    assert fct["w1"]["is_engaged"] is True and fct["w1"]["chatbot_duration_seconds"] == 5.0
    assert fct["w2"]["report_date"] == dt.date(2026, 3, 5)
    assert fct["w2"]["is_engaged"] is True and fct["w2"]["chatbot_duration_seconds"] == 3.0
    assert kpi(events, D2)["avg_chatbot_duration_seconds"] == 5.0
    assert kpi(events, D5)["avg_chatbot_duration_seconds"] == 3.0
    assert kpi(events, D5)["total_conversations"] == 1


def test_v2_proactive_campaign_answered_opens_conversation_unanswered_is_none():
    events = [
        bot("p1", at("10:00", D2), flow_type="campaign"),
        cust("r1", at("10:04", D2)),  # answered 4 minutes later
        bot("p2", at("10:00", D3), flow_type="campaign"),  # unanswered
    ]
    fct = convs(events)
    assert [c["conversation_id"] for c in fct] == ["p1"]
    c = fct[0]
    assert c["support_type"] == "campaign"
    assert c["is_engaged"] is True  # no welcome: the answer comes after the opening event
    assert c["chatbot_duration_seconds"] == 240.0
    # The unanswered campaign is in no conversation but still extends the date spine.
    day3 = kpi(events, D3)
    assert day3["total_conversations"] == 0 and day3["engaged_conversations"] == 0
    assert compute_marts(events)["conversations_by_channel"] == [
        {
            "report_date": dt.date(2026, 3, 2),
            "channel": "web",
            "support_type": "campaign",
            "total_conversations": 1,
            "engaged_conversations": 1,
        }
    ]


def _closed_handover():
    return [
        cust("a", "10:00"),
        hand("requested", "q", "10:01", "h1"),
        hand("received", "r", "10:02", "h1"),
        agent("m", "10:03", handover_id="h1"),
        close("z", "10:04", "h1"),
        agent("g", "10:05", handover_id="h1"),  # the agent's goodbye after the close
    ]


def test_v2_rule2_agent_goodbye_after_close_without_answer_is_no_conversation():
    events = _closed_handover()
    fct = convs(events)
    assert [c["conversation_id"] for c in fct] == ["a"]
    assert fct[0]["ended_at"] == at("10:04")  # the close ends its stretch; "g" is outside
    assert fct[0]["chatbot_duration_seconds"] == 120.0
    assert kpi(events)["total_conversations"] == 1
    # The handover request is unchanged: "g" is still an agent message of h1.
    assert requests(events)["h1"]["first_agent_reply_at"] == at("10:03")


def test_v2_rule2_agent_goodbye_after_close_with_answer_opens_conversation():
    events = [*_closed_handover(), cust("y", "10:07")]
    fct = by_id(convs(events), "conversation_id")
    assert list(fct) == ["a", "g"]
    assert fct["g"]["started_at"] == at("10:05") and fct["g"]["ended_at"] == at("10:07")
    assert fct["g"]["is_engaged"] is True  # the customer answers after the opening event
    assert fct["g"]["chatbot_duration_seconds"] == 120.0
    assert requests(events)["h1"]["conversation_id"] == "a"


def test_v2_rule2_close_of_never_received_handover_ends_its_stretch():
    events = [
        cust("a", "10:00"),
        hand("requested", "q", "10:01", "h1"),
        close("z", "10:02", "h1"),  # h1 was never received, never open
        cust("c", "10:03"),
    ]
    assert conv_ids(events) == ["a", "c"]
    req = requests(events)["h1"]
    assert req["outcome"] == "pending" and req["closed_at"] == at("10:02")


def test_v2_rule3_close_after_long_gap_with_open_handover_does_not_cut():
    events = [*_received_handover(), close("z", "10:40", "h1"), cust("n", "10:41")]
    fct = by_id(convs(events), "conversation_id")
    assert list(fct) == ["a", "n"]
    assert fct["a"]["ended_at"] == at("10:40")  # the close is the conversation's last event


def test_v2_rule3_open_at_that_moment_excludes_the_event_itself():
    # The reception comes 29 minutes after the request while nothing is open: it cuts,
    # although it opens h1 itself; the customer then joins the stretch it opened.
    events = [
        cust("a", "10:00"),
        hand("requested", "q", "10:01", "h1"),
        hand("received", "r", "10:30", "h1"),
        cust("d", "10:31"),
        cust("e", "11:30"),  # h1 is open now: no cut
    ]
    fct = by_id(convs(events), "conversation_id")
    assert list(fct) == ["a", "r"]
    assert fct["r"]["chatbot_duration_seconds"] == 0.0  # its first reception opens it
    assert fct["r"]["ended_at"] == at("11:30")
    assert requests(events)["h1"]["conversation_id"] == "a"


def test_v2_rule3_bot_messages_before_answer_within_inactivity_belong_to_opened_conversation():
    events = [bot("b1", "10:00", flow_type="sales"), bot("b2", "10:05"), cust("c", "10:15")]
    fct = convs(events)  # 10:05 -> 10:15 is exactly 10:00: no cut
    assert [c["conversation_id"] for c in fct] == ["b1"]
    assert fct[0]["support_type"] == "sales"
    assert fct[0]["started_at"] == at("10:00")
    assert fct[0]["is_engaged"] is True
    assert fct[0]["chatbot_duration_seconds"] == 900.0


def test_v2_rule3_bot_messages_before_answer_after_inactivity_belong_to_no_conversation():
    events = [bot("b1", "10:00", flow_type="sales"), bot("b2", "10:05"), cust("c", "10:16")]
    fct = convs(events)  # 11 minutes after the last bot message: the customer opens
    assert [c["conversation_id"] for c in fct] == ["c"]
    assert fct[0]["support_type"] == "other"
    assert fct[0]["is_engaged"] is False  # nothing after the opening event
    assert fct[0]["chatbot_duration_seconds"] == 0.0


def test_v2_rule4_silence_of_exactly_timeout_with_open_handover_does_not_cut():
    events = [*_received_handover(), cust("x", at("10:02", D3))]  # exactly 24 h after "r-h1"
    fct = convs(events)
    assert [c["conversation_id"] for c in fct] == ["a"]
    assert fct[0]["ended_at"] == at("10:02", D3)


def test_v2_rule4_silence_of_a_millisecond_more_than_timeout_cuts():
    events = [*_received_handover(), cust("x", at("10:02:00.001", D3))]
    fct = by_id(convs(events), "conversation_id")
    assert list(fct) == ["a", "x"]
    assert fct["a"]["ended_at"] == at("10:02", D2)
    assert fct["a"]["chatbot_duration_seconds"] == 120.0
    assert fct["x"]["report_date"] == dt.date(2026, 3, 3)


def test_v2_rule4_ten_minute_rule_applies_again_after_timeout_cut():
    events = [
        *_received_handover(),
        cust("x", at("10:03", D3)),  # timeout cut: h1 is no longer open
        cust("y", at("10:14", D3)),  # 11 minutes, nothing open: rule 3 cuts again
    ]
    assert conv_ids(events) == ["a", "x", "y"]
    # Without the day of silence h1 would still be open and hold them together.
    events = [*_received_handover(), cust("x", at("10:03", D2)), cust("y", at("10:14", D2))]
    assert conv_ids(events) == ["a"]


def test_v2_reception_after_first_close_opens_nothing():
    events = [
        *_received_handover(),
        close("z", "10:03", "h1"),
        cust("d", "10:04"),  # rule 2
        hand("received", "r2", "10:05", "h1"),  # after h1's first close: opens nothing
        cust("e", "10:30"),  # 25 minutes, nothing open: rule 3 cuts
    ]
    assert conv_ids(events) == ["a", "d", "e"]
    # Even when the close comes before the thread's first reception of h1 (clocks of
    # other systems), the reception opens nothing.
    events = [
        cust("a", "10:00"),
        close("z", "10:01", "h1"),
        hand("received", "r", "10:02", "h1"),
        cust("b", "10:05"),
        cust("c", "10:30"),
    ]
    assert conv_ids(events) == ["a", "r", "c"]


def test_v2_reception_after_first_close_opens_nothing_even_across_timeout_cut():
    events = [
        *_received_handover(),
        close("z", at("10:03", D2), "h1"),
        cust("d", at("10:00", D4)),  # rule 2 (and rule 4)
        hand("received", "r2", at("10:01", D4), "h1"),  # h1 was closed before: opens nothing
        cust("e", at("10:30", D4)),
    ]
    assert conv_ids(events) == ["a", "d", "e"]


def test_v2_reception_again_after_timeout_cut_opens_again():
    events = [
        *_received_handover(),
        cust("x", at("11:00", D3)),  # timeout cut: h1 no longer open
        hand("received", "r2", at("11:01", D3), "h1"),  # not closed yet: opens h1 again
        cust("y", at("11:40", D3)),  # 39 minutes, h1 open: no cut
    ]
    fct = by_id(convs(events), "conversation_id")
    assert list(fct) == ["a", "x"]
    assert fct["x"]["ended_at"] == at("11:40", D3)
    assert fct["x"]["chatbot_duration_seconds"] == 60.0  # to its own first reception
    # The request keeps its first reception (unchanged from v1).
    assert requests(events)["h1"]["received_at"] == at("10:02", D2)
    # Without the second reception nothing is open after the cut.
    assert conv_ids([e for e in events if e["event_id"] != "r2"]) == ["a", "x", "y"]


def test_v2_handover_timeout_hours_parameter():
    events = [*_received_handover(), cust("x", "13:02")]  # 3 hours after the reception
    assert conv_ids(events) == ["a"]
    assert conv_ids(events, handover_timeout_hours=24) == ["a"]
    assert conv_ids(events, handover_timeout_hours=3) == ["a"]  # exactly: no cut
    assert conv_ids(events, handover_timeout_hours=2.5) == ["a", "x"]
    # rule 4 cuts whatever the inactivity (3 h is under 200 minutes)
    assert conv_ids(events, handover_timeout_hours=2.5, inactivity_minutes=200) == ["a", "x"]
    assert (
        kpi(events, timezone="UTC", inactivity_minutes=10, handover_timeout_hours=2.5)["total_conversations"]
        == 2
    )


def test_v2_late_event_changes_opening_event_and_conversation_id():
    events = [cust("a", "10:05"), cust("b", "10:06"), hand("requested", "q", "10:07", "h1")]
    assert conv_ids(events) == ["a"]
    assert requests(events)["h1"]["conversation_id"] == "a"
    # A welcome that occurred earlier arrives late: it becomes the opening event.
    late = [*events, welcome("w", "10:00")]
    fct = convs(late)
    assert [c["conversation_id"] for c in fct] == ["w"]
    assert fct[0]["started_at"] == at("10:00")
    assert fct[0]["chatbot_duration_seconds"] == 420.0
    assert requests(late)["h1"]["conversation_id"] == "w"
    # A late bot message in a 20-minute gap merges two conversations.
    events = [cust("a", "10:00"), cust("b", "10:20")]
    assert conv_ids(events) == ["a", "b"]
    assert conv_ids([*events, bot("m", "10:10")]) == ["a"]


def test_v2_stretch_without_customer_interaction_is_in_no_conversation_metric():
    events = [
        cust("a", "10:00"),
        welcome("w", "11:00"),  # greeting nobody answered
        agent("g", "11:01"),
        hand("received", "r", "11:02", "hx"),  # an orphan reception in that stretch
    ]
    marts = compute_marts(events)
    assert [c["conversation_id"] for c in marts["fct_conversations"]] == ["a"]
    assert marts["fct_conversations"][0]["ended_at"] == at("10:00")
    row = kpi(events)
    assert row["total_conversations"] == 1 and row["engaged_conversations"] == 0
    assert sum(r["engaged_conversations"] for r in marts["activity_by_weekday_hour"]) == 0


def test_v2_request_conversation_is_that_of_its_first_request_event():
    events = [
        cust("a", "10:00"),
        hand("requested", "q1", "10:01", "h1"),
        hand("requested", "q2", "10:30", "h1"),  # repeated request, 29 minutes later: new conversation
    ]
    assert conv_ids(events) == ["a", "q2"]
    assert requests(events)["h1"]["conversation_id"] == "a"


def test_v2_chatbot_duration_stops_at_first_reception_in_own_stretch():
    events = [
        welcome("w", "10:00"),
        cust("c", "10:00:05"),
        hand("requested", "q", "10:01", "h1"),
        hand("received", "r", "10:03", "h1"),
        agent("m", "10:04", handover_id="h1"),
    ]
    c = convs(events)[0]
    assert c["conversation_id"] == "w"
    assert c["chatbot_duration_seconds"] == 180.0  # from the opening welcome
    # A reception that opens nothing (h1 closed earlier) still stops the duration.
    events = [
        *_received_handover(),
        close("z", "10:03", "h1"),
        cust("d", "10:04"),
        hand("received", "r2", "10:05", "h1"),
        cust("e", "10:06"),
    ]
    fct = by_id(convs(events), "conversation_id")
    assert fct["d"]["chatbot_duration_seconds"] == 60.0


@pytest.mark.parametrize(
    "events, engaged",
    [
        # the welcome opens and the customer answers it
        ([welcome("w", "10:00"), cust("c", "10:00:03")], True),
        # the welcome opens; the customer's only interaction, a handover request, follows it
        ([welcome("w", "10:00"), bot("b", "10:00:01"), hand("requested", "q", "10:00:02", "h1")], True),
        # "Get started" opens, the welcome follows and the customer leaves
        ([cust("g", "10:00", message_type="postback"), welcome("w", "10:00:01")], False),
        # the welcome opens, an agent answers it
        ([welcome("w", "10:00"), cust("c", "10:00:03"), agent("m", "10:01")], True),
        # a customer message tied in time with the welcome but with a smaller event_id is
        # before it: the customer opens, the welcome follows, nothing comes after it
        ([welcome("w", "10:00"), cust("c", "10:00")], False),
        # the welcome opens, the customer answers, then only an internal note
        (
            [welcome("w", "10:00"), cust("c", "10:00:03"), agent("n", "10:01", message_type="internal_note")],
            True,
        ),
        # a campaign opens, a welcome follows, the customer answers the campaign only
        ([bot("p", "10:00", flow_type="campaign"), cust("c", "10:01"), welcome("w", "10:02")], False),
    ],
)
def test_v2_engagement_welcome_may_be_the_opening_event(events, engaged):
    fct = convs(events)
    assert len(fct) == 1
    assert fct[0]["is_engaged"] is engaged


# ---------------------------------------------------------------------- engaged


@pytest.mark.parametrize(
    "events, engaged",
    [
        # welcome then customer message
        ([cust("a", "10:00"), welcome("b", "10:00:01"), cust("c", "10:00:10")], True),
        # welcome then only bot messages
        ([cust("a", "10:00"), welcome("b", "10:00:01"), bot("c", "10:00:02")], False),
        # no welcome, a second customer message
        ([cust("a", "10:00"), bot("b", "10:00:01"), cust("c", "10:00:10")], True),
        # no welcome, only the opening message
        ([cust("a", "10:00"), bot("b", "10:00:01")], False),
        # welcome then an internal note only
        (
            [cust("a", "10:00"), welcome("b", "10:00:01"), agent("c", "10:01", message_type="internal_note")],
            False,
        ),
        # welcome then an agent message
        ([cust("a", "10:00"), welcome("b", "10:00:01"), agent("c", "10:01")], True),
        # no welcome, agent message after opening
        ([cust("a", "10:00"), agent("c", "10:01")], True),
        # a customer message before the welcome does not count once a welcome exists
        ([cust("a", "10:00"), cust("b", "10:00:01"), welcome("c", "10:00:02")], False),
        # welcome then a handover request
        ([cust("a", "10:00"), welcome("b", "10:00:01"), hand("requested", "c", "10:01", "h1")], True),
        # quick reply counts (any message_type)
        (
            [cust("a", "10:00"), welcome("b", "10:00:01"), cust("c", "10:01", message_type="quick_reply")],
            True,
        ),
        # the FIRST welcome is the anchor: interaction between two welcomes counts
        (
            [cust("a", "10:00"), welcome("b", "10:00:01"), cust("c", "10:00:05"), welcome("d", "10:00:06")],
            True,
        ),
        # same instant as the welcome but earlier event_id -> before it
        ([cust("a", "10:00"), welcome("m", "10:00:01"), cust("b", "10:00:01")], False),
        ([cust("a", "10:00"), welcome("m", "10:00:01"), cust("z", "10:00:01")], True),
        # unknown message type on an agent message behaves like text (R6)
        ([cust("a", "10:00"), welcome("b", "10:00:01"), agent("c", "10:01", message_type="carousel")], True),
    ],
)
def test_engaged_variants(events, engaged):
    fct = convs(events)
    assert len(fct) == 1
    assert fct[0]["is_engaged"] is engaged


def test_engaged_customers_are_distinct_per_day_and_channel():
    events = [
        cust("a", "10:00", customer="c1"),
        cust("b", "10:01", customer="c1"),
        cust("c", "11:00", customer="c1"),  # new conversation, same customer
        cust("d", "11:01", customer="c1"),
        cust("e", "12:00", customer="c2"),  # not engaged
    ]
    row = kpi(events)
    assert row["total_conversations"] == 3
    assert row["engaged_conversations"] == 2
    assert row["engaged_customers"] == 1


def test_unknown_message_type_behaves_like_text():
    events = [cust("a", "10:00", message_type="sticker"), cust("b", "10:00:30", message_type="  ")]
    fct = convs(events)
    assert [c["conversation_id"] for c in fct] == ["a"]
    assert fct[0]["is_engaged"] is True


# ------------------------------------------------------------------ support type


def test_support_type_is_last_bot_flow_type():
    events = [
        cust("a", "10:00"),
        bot("b", "10:01", flow_type="sales"),
        bot("c", "10:02", flow_type="support"),
        bot("d", "10:03"),  # no flow type
        bot("e", "10:04", flow_type="   "),  # blank -> null (M1)
        cust("f", "10:05", flow_type="campaign"),  # not a bot message
        agent("g", "10:06", flow_type="transfer"),  # not a bot message
    ]
    assert convs(events)[0]["support_type"] == "support"


def test_support_type_defaults_to_other_and_is_kept_as_sent():
    assert convs([cust("a", "10:00"), bot("b", "10:01")])[0]["support_type"] == "other"
    assert convs([cust("a", "10:00"), bot("b", "10:01", flow_type="Sales")])[0]["support_type"] == "Sales"


def test_conversations_by_channel_only_non_zero_rows():
    events = [
        cust("a", "10:00"),
        bot("b", "10:01", flow_type="sales"),
        cust("c", "11:00"),
        cust("d", "11:01"),
        cust("e", "12:00", channel="sms"),
        cust("f", "12:00:01", channel="sms"),
        cust("x", at("13:00", "2026-03-03"), channel="whatsapp"),
    ]
    rows = compute_marts(events)["conversations_by_channel"]
    d1, d2 = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
    assert rows == [
        {
            "report_date": d1,
            "channel": "sms",
            "support_type": "other",
            "total_conversations": 1,
            "engaged_conversations": 1,
        },
        {
            "report_date": d1,
            "channel": "web",
            "support_type": "other",
            "total_conversations": 1,
            "engaged_conversations": 1,
        },
        {
            "report_date": d1,
            "channel": "web",
            "support_type": "sales",
            "total_conversations": 1,
            "engaged_conversations": 0,
        },
        {
            "report_date": d2,
            "channel": "whatsapp",
            "support_type": "other",
            "total_conversations": 1,
            "engaged_conversations": 0,
        },
    ]


# -------------------------------------------------------------- chatbot duration


def test_chatbot_duration_with_reception():
    events = [
        cust("a", "10:00:00.250"),
        welcome("b", "10:00:01"),
        hand("requested", "c", "10:01", "h1"),
        hand("received", "d", "10:02:30.750", "h1"),
        hand("received", "e", "10:03", "h1"),  # second reception ignored
        agent("f", "10:05", handover_id="h1"),
    ]
    c = convs(events)[0]
    assert c["chatbot_duration_seconds"] == pytest.approx(150.5)
    assert c["ended_at"] == at("10:05")
    row = kpi(events)
    assert row["chatbot_duration_seconds_sum"] == pytest.approx(150.5)
    assert row["avg_chatbot_duration_seconds"] == pytest.approx(150.5)


def test_chatbot_duration_without_reception_runs_to_last_event():
    events = [cust("a", "10:00"), welcome("b", "10:00:01"), cust("c", "10:02"), bot("d", "10:03:15.5")]
    c = convs(events)[0]
    assert c["chatbot_duration_seconds"] == pytest.approx(195.5)
    assert isinstance(c["chatbot_duration_seconds"], float)


def test_chatbot_duration_average_over_engaged_conversations_only():
    events = [
        cust("a", "10:00"),
        cust("b", "10:01"),  # engaged, 60 s
        cust("c", "11:00"),
        bot("d", "11:05"),  # not engaged, 300 s
        cust("e", "12:00"),
        cust("f", "12:03"),  # engaged, 180 s
    ]
    row = kpi(events)
    assert row["chatbot_duration_seconds_sum"] == pytest.approx(240.0)
    assert row["avg_chatbot_duration_seconds"] == pytest.approx(120.0)


# ------------------------------------------------------------ handover requests


def _request(hid="h1", t="10:01", **kw):
    return hand("requested", f"req-{hid}", t, hid, **kw)


@pytest.mark.parametrize(
    "extra, outcome",
    [
        ([], "pending"),
        ([hand("received", "r", "10:02", "h1")], "successful"),
        ([hand("cancelled", "x", "10:02", "h1")], "cancelled"),
        ([hand("disabled", "x", "10:02", "h1")], "disabled"),
        ([hand("incomplete", "x", "10:02", "h1")], "incomplete"),
        # reception has precedence even when a terminal event came first
        ([hand("cancelled", "x", "10:02", "h1"), hand("received", "r", "10:03", "h1")], "successful"),
        # M3: the earliest terminal event wins, no fixed precedence
        ([hand("cancelled", "x", "10:05", "h1"), hand("incomplete", "y", "10:03", "h1")], "incomplete"),
        ([hand("disabled", "x", "10:02", "h1"), hand("cancelled", "y", "10:03", "h1")], "disabled"),
        # same instant: event_id decides
        ([hand("cancelled", "t2", "10:03", "h1"), hand("disabled", "t1", "10:03", "h1")], "disabled"),
    ],
)
def test_outcomes_and_precedence(extra, outcome):
    events = [cust("a", "10:00"), _request(), *extra]
    reqs = requests(events)
    assert reqs["h1"]["outcome"] == outcome
    marts = compute_marts(events)
    counts = {r["outcome"]: r["handover_requests"] for r in marts["transfers_by_outcome"]}
    assert counts == {o: int(o == outcome) for o in OUTCOMES}


def test_handover_request_attributes_come_from_first_request():
    events = [
        cust("a", "10:00", customer="c1"),
        hand("requested", "r1", "10:01", "h1", customer="c1", department="sales"),
        hand("requested", "r2", "10:02", "h1", customer="c1", department="billing"),
    ]
    req = requests(events)["h1"]
    assert req["requested_at"] == at("10:01")
    assert req["conversation_id"] == "a"
    assert req["customer_id"] == "c1"
    assert req["channel"] == "web"
    assert req["department"] == "sales"
    assert req["outcome"] == "pending"
    assert req["received_at"] is None and req["closed_at"] is None
    act = compute_marts(events)["activity_by_weekday_hour"]
    assert [(r["hour_of_day"], r["handover_requests"]) for r in act if r["handover_requests"]] == [(10, 1)]


def test_initial_wait_and_first_reply():
    events = [
        cust("a", "10:00"),
        _request(),
        hand("received", "r", "10:02", "h1"),
        agent("m1", "10:04:30.5", handover_id="h1"),
        agent("m2", "10:06", handover_id="h1"),
    ]
    req = requests(events)["h1"]
    assert req["received_at"] == at("10:02")
    assert req["first_agent_reply_at"] == at("10:04:30.5")
    assert req["initial_wait_seconds"] == pytest.approx(150.5)
    row = kpi(events)
    assert row["successful_transfers"] == 1
    assert row["answered_conversations"] == 1
    assert row["initial_wait_count"] == 1
    assert row["initial_wait_seconds_sum"] == pytest.approx(150.5)
    assert row["avg_initial_wait_seconds"] == pytest.approx(150.5)


def test_agent_message_before_reception_is_ignored():
    events = [
        cust("a", "10:00"),
        _request(),
        agent("m0", "10:01:30", handover_id="h1"),  # before reception
        hand("received", "r", "10:02", "h1"),
        agent("m1", "10:02", handover_id="h1"),  # at the reception instant: counts
    ]
    req = requests(events)["h1"]
    assert req["first_agent_reply_at"] == at("10:02")
    assert req["initial_wait_seconds"] == 0.0


def test_agent_reply_at_reception_instant_counts_whatever_event_id():
    events = [
        cust("a", "10:00"),
        _request(),
        hand("received", "z", "10:02", "h1"),
        agent("b", "10:02", handover_id="h1"),  # smaller id than the reception, same instant
    ]
    assert requests(events)["h1"]["initial_wait_seconds"] == 0.0


def test_no_reception_means_no_replies():
    events = [cust("a", "10:00"), _request(), agent("m", "10:05", handover_id="h1")]
    req = requests(events)["h1"]
    assert req["first_agent_reply_at"] is None
    assert req["initial_wait_seconds"] is None
    row = kpi(events)
    assert row["answered_conversations"] == 0
    assert row["initial_wait_count"] == 0
    assert row["avg_initial_wait_seconds"] is None
    assert row["initial_wait_seconds_sum"] == 0.0


def test_internal_notes_are_not_replies():
    events = [
        cust("a", "10:00"),
        _request(),
        hand("received", "r", "10:02", "h1"),
        agent("n", "10:03", handover_id="h1", message_type="internal_note"),
        agent("m", "10:07", handover_id="h1"),
    ]
    assert requests(events)["h1"]["initial_wait_seconds"] == 300.0
    only_note = events[:-1]
    assert requests(only_note)["h1"]["first_agent_reply_at"] is None
    assert kpi(only_note)["answered_conversations"] == 0


def test_agent_messages_of_other_handovers_or_without_id_are_not_replies():
    events = [
        cust("a", "10:00"),
        _request(),
        hand("received", "r", "10:02", "h1"),
        agent("m1", "10:03"),  # no handover id
        agent("m2", "10:04", handover_id="h2"),
        bot("m3", "10:05", handover_id="h1"),  # not an agent
        agent("m4", "10:06", handover_id="h1"),
    ]
    assert requests(events)["h1"]["first_agent_reply_at"] == at("10:06")


def test_answered_on_two_days_counts_once_per_day():
    events = [
        cust("a", "23:50"),
        _request(t="23:51"),
        hand("received", "r", "23:52", "h1"),
        agent("m1", "23:55", handover_id="h1"),
        agent("m2", "23:58", handover_id="h1"),
        agent("m3", at("00:05", "2026-03-03"), handover_id="h1"),
    ]
    marts = compute_marts(events)
    rows = {r["report_date"]: r for r in marts["kpi_daily"]}
    d1, d2 = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
    assert rows[d1]["answered_conversations"] == 1
    assert rows[d2]["answered_conversations"] == 1
    # the initial wait belongs to the first reply's day only
    assert rows[d1]["initial_wait_count"] == 1 and rows[d1]["initial_wait_seconds_sum"] == 180.0
    assert rows[d2]["initial_wait_count"] == 0 and rows[d2]["avg_initial_wait_seconds"] is None


def test_department_fallback():
    events = [
        cust("a", "10:00", customer="c1"),
        hand("requested", "r1", "10:01", "h1", customer="c1", department="sales"),
        hand("received", "x1", "10:02", "h1", customer="c1"),
        close("y1", "10:03", "h1", customer="c1", department="billing"),  # close's dept wins
        cust("b", "10:00", customer="c2"),
        hand("requested", "r2", "10:01", "h2", customer="c2", department="sales"),
        hand("received", "x2", "10:02", "h2", customer="c2"),
        close("y2", "10:03", "h2", customer="c2", department=""),  # blank -> request's dept
        cust("c", "10:00", customer="c3"),
        hand("requested", "r3", "10:01", "h3", customer="c3", department=" "),
        hand("received", "x3", "10:02", "h3", customer="c3"),
        close("y3", "10:03", "h3", customer="c3"),  # nothing -> unassigned
        close("y4", "10:04", "h3", customer="c3", department="late"),  # second close ignored
        cust("d", "10:00", customer="c4"),
        hand("requested", "r4", "10:01", "h4", customer="c4", department="sales"),  # not closed
    ]
    reqs = requests(events)
    assert reqs["h1"]["department"] == "billing"
    assert reqs["h2"]["department"] == "sales"
    assert reqs["h3"]["department"] == "unassigned"
    assert reqs["h3"]["closed_at"] == at("10:03")
    assert reqs["h4"]["closed_at"] is None
    rows = compute_marts(events)["closed_by_department"]
    d = dt.date(2026, 3, 2)
    assert rows == [
        {"report_date": d, "department": "billing", "channel": "web", "closed_conversations": 1},
        {"report_date": d, "department": "sales", "channel": "web", "closed_conversations": 1},
        {"report_date": d, "department": "unassigned", "channel": "web", "closed_conversations": 1},
    ]
    assert kpi(events)["closed_conversations"] == 3


def test_orphan_events_join_their_late_request():
    # Reception, reply and close all occur BEFORE the request (other systems' clocks).
    events = [
        cust("a", "10:00"),
        hand("received", "r", "10:01", "h1"),
        agent("m", "10:02", handover_id="h1"),
        close("z", "10:03", "h1", department="support"),
        hand("requested", "q", "10:04", "h1"),
    ]
    req = requests(events)["h1"]
    assert req["outcome"] == "successful"
    assert req["received_at"] == at("10:01")
    assert req["first_agent_reply_at"] == at("10:02")
    assert req["initial_wait_seconds"] == 60.0
    assert req["closed_at"] == at("10:03")
    assert req["department"] == "support"
    # the close lies between the opening message and the request -> the request reopens
    assert req["conversation_id"] == "q"


def test_orphans_without_request_are_not_counted():
    events = [
        cust("a", "10:00"),
        hand("received", "r", "10:01", "h9"),
        agent("m", "10:02", handover_id="h9"),
        close("z", "10:03", "h9"),
        hand("cancelled", "x", "10:04", "h8"),
    ]
    marts = compute_marts(events)
    assert marts["fct_handover_requests"] == []
    row = kpi(events)
    assert row["successful_transfers"] == 0
    assert row["answered_conversations"] == 0
    assert row["closed_conversations"] == 0
    assert marts["closed_by_department"] == []
    assert sum(r["handover_requests"] for r in marts["transfers_by_outcome"]) == 0


def test_handover_events_in_another_thread_match_by_id():
    events = [
        cust("a", "10:00", customer="c1"),
        hand("requested", "q", "10:01", "h1", customer="c1", channel="web"),
        # the reception / reply are recorded under another channel (M4: id only)
        hand("received", "r", "10:02", "h1", customer="c1", channel="messenger"),
        agent("m", "10:03", handover_id="h1", customer="c1", channel="messenger"),
    ]
    req = requests(events)["h1"]
    assert req["channel"] == "web"
    assert req["outcome"] == "successful"
    assert kpi(events, channel="web")["successful_transfers"] == 1
    assert kpi(events, channel="messenger")["successful_transfers"] == 0


# ----------------------------------------------------------- time zones, dates


def test_midnight_crossing_counts_on_start_date():
    events = [
        cust("a", "23:58"),
        cust("b", at("00:03", "2026-03-03")),
        _request(t=at("00:04", "2026-03-03")),
        hand("received", "r", at("00:05", "2026-03-03"), "h1"),
    ]
    marts = compute_marts(events)
    rows = {r["report_date"]: r for r in marts["kpi_daily"]}
    d1, d2 = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
    assert rows[d1]["total_conversations"] == 1 and rows[d2]["total_conversations"] == 0
    assert rows[d1]["chatbot_duration_seconds_sum"] == 420.0
    assert rows[d1]["successful_transfers"] == 0 and rows[d2]["successful_transfers"] == 1
    tbo = {(r["report_date"], r["outcome"]): r["handover_requests"] for r in marts["transfers_by_outcome"]}
    assert tbo[(d2, "successful")] == 1 and tbo[(d1, "successful")] == 0


def test_local_dates_follow_reporting_timezone():
    # 03:30Z on 2 March is 22:30 on 1 March in Toronto (EST, UTC-5).
    events = [cust("a", "03:30"), cust("b", "03:31")]
    fct = convs(events, timezone="America/Toronto")
    assert fct[0]["report_date"] == dt.date(2026, 3, 1)
    assert fct[0]["started_at"] == at("03:30")
    assert fct[0]["started_at"].utcoffset() == dt.timedelta(0)
    act = compute_marts(events, timezone="America/Toronto")["activity_by_weekday_hour"]
    hit = [r for r in act if r["engaged_conversations"]]
    assert hit == [
        {
            "report_date": dt.date(2026, 3, 1),
            "hour_of_day": 22,
            "channel": "web",
            "day_of_week": 7,
            "day_name": "Sunday",
            "engaged_conversations": 1,
            "handover_requests": 0,
        }
    ]


def test_dst_spring_forward_in_toronto():
    # 2026-03-08: 02:00 EST -> 03:00 EDT, i.e. at 07:00Z.
    tz = "America/Toronto"
    events = [
        cust("a", at("2026-03-08T06:59:59Z")),  # 01:59:59 EST
        cust("b", at("2026-03-08T06:59:59.5Z")),
        cust("c", at("2026-03-08T07:30:00Z"), customer="c2"),  # 03:30 EDT
        cust("d", at("2026-03-08T07:30:01Z"), customer="c2"),
        hand("requested", "e", at("2026-03-09T03:59:00Z"), "h1", customer="c3"),  # 23:59 EDT on 8 March
        hand("requested", "f", at("2026-03-09T04:00:00Z"), "h2", customer="c4"),  # 00:00 EDT on 9 March
    ]
    marts = compute_marts(events, timezone=tz)
    act = {(r["report_date"], r["hour_of_day"]): r for r in marts["activity_by_weekday_hour"]}
    d8, d9 = dt.date(2026, 3, 8), dt.date(2026, 3, 9)
    assert act[(d8, 1)]["engaged_conversations"] == 1
    assert act[(d8, 2)]["engaged_conversations"] == 0  # the hour that does not exist
    assert act[(d8, 3)]["engaged_conversations"] == 1
    assert act[(d8, 23)]["handover_requests"] == 1
    assert act[(d9, 0)]["handover_requests"] == 1
    assert act[(d8, 0)]["day_name"] == "Sunday" and act[(d9, 0)]["day_of_week"] == 1
    assert len(marts["activity_by_weekday_hour"]) == 2 * 24  # 8 and 9 March, one channel
    # in UTC the same events fall on 8 and 9 March as well, but at other hours
    act_utc = {
        (r["report_date"], r["hour_of_day"]): r for r in compute_marts(events)["activity_by_weekday_hour"]
    }
    assert act_utc[(d8, 6)]["engaged_conversations"] == 1
    assert act_utc[(d9, 3)]["handover_requests"] == 1


def test_dst_fall_back_in_toronto():
    # 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00Z; 05:30Z and 06:30Z are both 01:30 local.
    tz = "America/Toronto"
    events = [
        hand("requested", "a", at("2026-11-01T05:30:00Z"), "h1", customer="c1"),
        hand("requested", "b", at("2026-11-01T06:30:00Z"), "h2", customer="c2"),
    ]
    marts = compute_marts(events, timezone=tz)
    act = {(r["report_date"], r["hour_of_day"]): r for r in marts["activity_by_weekday_hour"]}
    d = dt.date(2026, 11, 1)
    assert act[(d, 1)]["handover_requests"] == 2
    assert sum(r["handover_requests"] for r in marts["activity_by_weekday_hour"]) == 2
    # the inactivity gap is measured on instants (60 minutes), not on wall clock (0)
    events = [cust("x", at("2026-11-01T05:30:00Z")), cust("y", at("2026-11-01T06:30:00Z"))]
    assert conv_ids(events, timezone=tz) == ["x", "y"]


# ---------------------------------------------------------- density, nulls, shape


def test_density_and_null_averages():
    events = [
        bot("a", at("2026-03-01T12:00:00Z"), channel="sms"),  # outside any conversation, sets first date
        cust("b", "10:00"),  # 2 March web
        hand("cancelled", "c", at("2026-03-04T08:00:00Z"), "hx", channel="whatsapp"),  # orphan, last date
    ]
    marts = compute_marts(events)
    dates = [dt.date(2026, 3, d) for d in (1, 2, 3, 4)]
    channels = ["sms", "web", "whatsapp"]
    kd = marts["kpi_daily"]
    assert [(r["report_date"], r["channel"]) for r in kd] == [(d, c) for d in dates for c in channels]
    empty = next(r for r in kd if r["report_date"] == dates[2] and r["channel"] == "sms")
    assert empty == {
        "report_date": dates[2],
        "channel": "sms",
        "total_conversations": 0,
        "engaged_conversations": 0,
        "engaged_customers": 0,
        "successful_transfers": 0,
        "answered_conversations": 0,
        "closed_conversations": 0,
        "initial_wait_seconds_sum": 0.0,
        "initial_wait_count": 0,
        "avg_initial_wait_seconds": None,
        "chatbot_duration_seconds_sum": 0.0,
        "avg_chatbot_duration_seconds": None,
    }
    web2 = next(r for r in kd if r["report_date"] == dates[1] and r["channel"] == "web")
    assert web2["total_conversations"] == 1 and web2["engaged_conversations"] == 0
    assert web2["avg_chatbot_duration_seconds"] is None  # no engaged conversation
    assert len(marts["transfers_by_outcome"]) == 4 * 3 * 5
    assert len(marts["activity_by_weekday_hour"]) == 4 * 24 * 3
    assert all(r["handover_requests"] == 0 for r in marts["transfers_by_outcome"])
    assert marts["closed_by_department"] == []
    assert [r["day_of_week"] for r in marts["activity_by_weekday_hour"][::72]] == [7, 1, 2, 3]


def test_empty_input():
    marts = compute_marts([])
    assert set(marts) == set(MART_COLUMNS)
    assert all(rows == [] for rows in marts.values())


def test_every_mart_has_exactly_the_spec_columns():
    events = [
        cust("a", "10:00"),
        welcome("b", "10:00:01"),
        _request(t="10:01", department="sales"),
        hand("received", "r", "10:02", "h1"),
        agent("m", "10:03", handover_id="h1"),
        close("z", "10:04", "h1"),
        bot("f", "10:05", flow_type="support"),
    ]
    marts = compute_marts(events)
    assert set(marts) == set(MART_COLUMNS)
    for name, rows in marts.items():
        assert rows, name
        for row in rows:
            assert tuple(row) == MART_COLUMNS[name], name


def test_blank_optional_strings_are_null_and_channel_normalised():
    events = [
        {**cust("a", "10:00"), "channel": " Web "},
        {**_request(), "department": "", "handover_id": "h1"},
        {**hand("received", "r", "10:02", "h1"), "agent_id": ""},
        {**close("z", "10:03", "h1"), "department": "  "},
        {**agent("m", "10:04"), "handover_id": ""},
    ]
    marts = compute_marts(events)
    req = marts["fct_handover_requests"][0]
    assert req["department"] == "unassigned"
    assert req["first_agent_reply_at"] is None
    assert {r["channel"] for r in marts["kpi_daily"]} == {"web"}


def test_rejects_naive_datetimes_and_duplicates():
    with pytest.raises(ValueError):
        compute_marts([{**cust("a", "10:00"), "occurred_at": dt.datetime(2026, 3, 2, 10)}])
    with pytest.raises(ValueError):
        compute_marts([cust("a", "10:00"), cust("a", "10:01")])


def test_offset_instants_are_returned_in_utc():
    t = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    c = convs([cust("a", t)])[0]
    assert c["started_at"] == at("10:00")
    assert c["started_at"].utcoffset() == dt.timedelta(0)


def test_hundred_thousand_events_in_a_few_seconds():
    rng = random.Random(7)
    start = dt.datetime(2026, 3, 1, tzinfo=UTC)
    events = []
    n = 0
    for customer in range(5000):
        t = start + dt.timedelta(seconds=rng.randrange(7 * 86400))
        channel = rng.choice(["web", "sms", "whatsapp"])
        for _ in range(20):
            t += dt.timedelta(seconds=rng.choice([5, 30, 120, 700, 3600]))
            kind = rng.random()
            if kind < 0.5:
                e = cust(f"e{n:07d}", t, customer=f"c{customer}", channel=channel)
            elif kind < 0.8:
                e = bot(f"e{n:07d}", t, customer=f"c{customer}", channel=channel, flow_type="sales")
            else:
                hid = f"h{customer}-{rng.randrange(2)}"
                etype = rng.choice(["requested", "received", "cancelled"])
                e = hand(etype, f"e{n:07d}", t, hid, customer=f"c{customer}", channel=channel)
            events.append(e)
            n += 1
    assert len(events) == 100_000
    t0 = time.perf_counter()
    marts = compute_marts(events, timezone="America/Toronto")
    elapsed = time.perf_counter() - t0
    assert marts["fct_conversations"]
    assert sum(r["total_conversations"] for r in marts["kpi_daily"]) == len(marts["fct_conversations"])
    assert elapsed < 15, elapsed
