"""The dashboard's filters and switches as URL query parameters, both ways.

    ?start=2026-11-20&end=2026-11-26&channel=web&channel=sms&hours=9-17&lang=fr
     &conversations=engaged&activity=requests

Every parameter is optional; a missing one takes its default (the last 7 local days ending today, all
channels, all hours, English, all conversations, engaged activity). A value that cannot be used is
ignored and reported as a `Note`, which the page shows: a shared link never breaks the page.
Only the values that differ from the defaults are written back, so the default view's URL stays bare;
a period is written once it was chosen (in the URL or on the page), so a bookmark keeps its dates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from orchestration.labels import LANGUAGES, Language

CONVERSATION_VIEWS = ("all", "engaged")  # the by-channel / by-support-type switch
ACTIVITY_VIEWS = ("engaged", "requests")  # the heatmap's switch
ALL_HOURS = (0, 23)
_HOURS = re.compile(r"^\s*(\d{1,2})\s*(?:-\s*(\d{1,2})\s*)?$")


@dataclass(frozen=True)
class Note:
    """A URL value that was ignored: a `orchestration.labels` text key and its fields."""

    key: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ViewState:
    start: date
    end: date
    channels: tuple[str, ...] = ()  # empty: all channels
    hours: tuple[int, int] = ALL_HOURS
    lang: Language = "en"
    conversations: str = "all"
    activity: str = "engaged"
    explicit_period: bool = False  # the period was chosen, not the rolling default

    @property
    def hour_filter(self) -> tuple[int, int] | None:
        return None if self.hours == ALL_HOURS else self.hours


def _values(params: Mapping[str, str | Sequence[str]], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _last(params: Mapping[str, str | Sequence[str]], name: str) -> str | None:
    values = _values(params, name)
    return values[-1] if values else None


def parse_hours(value: str) -> tuple[int, int] | None:
    """'9-17' -> (9, 17), '9' -> (9, 9); None when it is not an ordered range within 0-23."""
    match = _HOURS.match(value)
    if not match:
        return None
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) is not None else low
    return (low, high) if 0 <= low <= high <= 23 else None


def _parse_date(value: str | None, name: str, notes: list[Note]) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        notes.append(Note("bad_date", {"name": name, "value": value}))
        return None


def _period(
    params: Mapping[str, str | Sequence[str]], default: tuple[date, date], notes: list[Note]
) -> tuple[date, date, bool]:
    start = _parse_date(_last(params, "start"), "start", notes)
    end = _parse_date(_last(params, "end"), "end", notes)
    span = timedelta(days=(default[1] - default[0]).days)
    if start and end and start > end:
        notes.append(Note("reversed_period", {"start": start.isoformat(), "end": end.isoformat()}))
        return default[0], default[1], False
    if start and end:
        return start, end, True
    if start:
        return start, start + span, True
    if end:
        return end - span, end, True
    return default[0], default[1], False


def _channels(
    params: Mapping[str, str | Sequence[str]], known: Sequence[str], notes: list[Note]
) -> tuple[str, ...]:
    wanted: list[str] = []
    for value in _values(params, "channel"):
        channel = value.strip().lower()
        if not channel:
            continue
        if channel in known:
            if channel not in wanted:
                wanted.append(channel)
        else:
            notes.append(Note("unknown_channel", {"value": value, "known": ", ".join(known) or "-"}))
    return tuple(sorted(wanted))


def _choice(
    params: Mapping[str, str | Sequence[str]], name: str, choices: Sequence[str], notes: list[Note]
) -> str:
    value = _last(params, name)
    if value is None or value.strip().lower() == choices[0]:
        return choices[0]
    if value.strip().lower() in choices:
        return value.strip().lower()
    notes.append(Note("bad_choice", {"name": name, "value": value, "choices": ", ".join(choices)}))
    return choices[0]


def parse(
    params: Mapping[str, str | Sequence[str]],
    *,
    known_channels: Sequence[str],
    default_period: tuple[date, date],
) -> tuple[ViewState, list[Note]]:
    """The view a URL asks for, and a note for every value of it that was ignored."""
    notes: list[Note] = []
    lang = _choice(params, "lang", LANGUAGES, notes)
    start, end, explicit = _period(params, default_period, notes)
    hours = ALL_HOURS
    if (raw_hours := _last(params, "hours")) is not None and raw_hours.strip():
        parsed = parse_hours(raw_hours)
        if parsed is None:
            notes.append(Note("bad_hours", {"value": raw_hours}))
        else:
            hours = parsed
    state = ViewState(
        start=start,
        end=end,
        channels=_channels(params, known_channels, notes),
        hours=hours,
        lang=lang,  # type: ignore[arg-type]
        conversations=_choice(params, "conversations", CONVERSATION_VIEWS, notes),
        activity=_choice(params, "activity", ACTIVITY_VIEWS, notes),
        explicit_period=explicit,
    )
    return state, notes


def to_params(state: ViewState, known_channels: Sequence[str] = ()) -> dict[str, str | list[str]]:
    """The query parameters of a view: only what differs from the defaults."""
    params: dict[str, str | list[str]] = {}
    if state.explicit_period:
        params["start"] = state.start.isoformat()
        params["end"] = state.end.isoformat()
    if state.channels and set(state.channels) != set(known_channels):
        params["channel"] = list(state.channels)
    if state.hours != ALL_HOURS:
        low, high = state.hours
        params["hours"] = f"{low}-{high}"
    if state.lang != "en":
        params["lang"] = state.lang
    if state.conversations != CONVERSATION_VIEWS[0]:
        params["conversations"] = state.conversations
    if state.activity != ACTIVITY_VIEWS[0]:
        params["activity"] = state.activity
    return params


def with_period(state: ViewState, start: date, end: date) -> ViewState:
    return replace(state, start=start, end=end, explicit_period=True)
