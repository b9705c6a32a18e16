"""Trace query builtins: events, assert_eventually, assert_never, assert_before.

Two things every query also does (docs/event-sources.md, "When a source fails"):

* **Over a failed source it cannot pass.** A query is over an event source's events when it
  could match one of them: its ``type=`` matches the source's type (``wal``, ``poll``,
  ``topic``) or is absent, its ``service=`` matches the source's service or is absent, and
  every other filter key is a field that source's events carry. If such a source errored or
  lost its connection, ``events()`` and ``assert_never`` fail with the source's error, and so
  does ``assert_eventually`` when it found no event (one it found was observed, so it passes).
* **It counts as asserting on the exits it matches**: a service that exits by itself fails the
  test unless a query matched its ``service_exited`` event (runtime/exits.py).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from starlark import Dict, StarlarkList, to_value
from starlark.eval.values import truth

from faultbox.trace import query
from faultbox.trace.events import Event
from faultbox.trace.vocabulary import STANDARD_FILTER_KEYS, EventType

from ._builtin import builtin, type_name
from ._interp import HostValue, call_starlark, is_callable
from .context import require_session
from .errors import AssertionFailure, SpecError


class _FieldView(dict):
    """Attribute mapping of an event: unknown attributes read as ``""`` (never an error)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return ""


class EventValue(HostValue):
    """An event as specs see it: ``.seq .service .type .event_type .data .fields`` and fields."""

    _starlark_type = "event"
    __slots__ = ("event", "_fields")

    def __init__(self, event: Event) -> None:
        self.event = event
        self._fields: _FieldView | None = None

    def __repr__(self) -> str:
        return f"<event #{self.event.seq} {self.event.event_type} {self.event.service}>"

    @property
    def fields(self) -> dict[str, Any]:
        if self._fields is None:
            ev = self.event
            view = _FieldView(ev.fields)
            view.update(
                seq=ev.seq, service=ev.service, type=ev.type, event_type=ev.event_type,
                fields=to_value(dict(ev.fields)), data=_data(ev), timestamp_ns=ev.timestamp_ns,
            )  # fmt: skip
            self._fields = view
        return self._fields


def _data(ev: Event) -> Any:
    if ev.data is not None:
        try:
            return to_value(ev.data)
        except (TypeError, ValueError):
            return str(ev.data)
    raw = ev.fields.get("data")
    if raw is not None:
        try:
            return to_value(json.loads(raw))
        except (ValueError, TypeError):
            return raw
    return to_value(dict(ev.fields))


def query_filters(builtin_name: str, filters: dict[str, Any]) -> dict[str, str]:
    """Keyword filters of a query or monitor as strings (a bool or list is a SpecError)."""
    out = {}
    for key, value in filters.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise SpecError(
                f"{builtin_name}(): filter {key}= must be a string, got {type_name(value)}"
            )
        out[key] = str(value)
    return out


# A filter key that is almost a standard one (``decison=``) and that no recorded event has is a
# typo, not a field; an event type that is almost a known one is too.
STANDARD_KEYS = STANDARD_FILTER_KEYS
EVENT_TYPES: tuple[str, ...] = tuple(t.value for t in EventType)


def _check_filters(builtin_name: str, flt: dict[str, str], events: list[Event]) -> None:
    """Refuse misspelled filter keys and event types, which would make assert_never vacuous."""

    def known_field(key: str) -> bool:
        return any(key in ev.fields for ev in events)

    for key in flt:
        if key in STANDARD_KEYS or known_field(key):
            continue
        close = difflib.get_close_matches(key, STANDARD_KEYS, n=1, cutoff=0.75)
        if close:
            raise SpecError(
                f"{builtin_name}(): unknown filter {key}= (did you mean {close[0]}=?); "
                "no recorded event has this field"
            )
    kind = flt.get("type")
    is_pattern = kind is not None and any(c in kind for c in "*?[")
    if (
        kind
        and not is_pattern
        and kind not in EVENT_TYPES
        and all(ev.type != kind for ev in events)
    ):
        close = difflib.get_close_matches(kind, EVENT_TYPES, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpecError(f"{builtin_name}(): unknown event type {kind!r}{hint}")


def _where(builtin_name: str, fn: Any) -> Any:
    if fn is None:
        return None
    if not is_callable(fn):
        raise SpecError(f"{builtin_name}(): where= must be a function, got {type_name(fn)}")
    return lambda ev: truth(call_starlark(fn, EventValue(ev)))


def _covering_sources(session: Any, flt: dict[str, str]) -> list[Any]:
    """The session's event-source readers whose events the query could match."""
    return [
        r for r in getattr(session, "sources", ()) if getattr(r, "covers", None) and r.covers(flt)
    ]


def _refuse_failed_sources(builtin_name: str, session: Any, flt: dict[str, str]) -> None:
    for reader in _covering_sources(session, flt):
        text = reader.failure_text()
        if text:
            raise AssertionFailure(
                f"{builtin_name}: cannot be proven: {text}; what it would have recorded "
                "after that is not in the trace"
            )


def _source_note_lines(session: Any, flt: dict[str, str]) -> list[str]:
    """Failures and notes of the sources a failed query was over (``  note: …`` lines)."""
    lines = []
    for reader in _covering_sources(session, flt):
        text = reader.failure_text()
        if text:
            lines.append(f"  note: {text}")
        lines.extend(f"  note: {n}" for n in reader.notes())
    return lines


def _note_exits(session: Any, evs: list[Event], flt: dict[str, str], pred: Any) -> None:
    """The test asserted on the service exits this query matches (runtime/exits.py)."""
    exits = [e for e in evs if e.type == EventType.SERVICE_EXITED]
    watch = getattr(session, "exits", None)
    if exits and watch is not None:
        watch.acknowledge(query.select(exits, flt, pred))


def _session(builtin_name: str, trace_assertion: bool = True) -> Any:
    session = require_session(builtin_name)
    if trace_assertion:
        session.assertions += 1
        session.trace_assertions += 1
    return session


@builtin("events")
def events(where: Any = None, **filters: Any) -> Any:
    """The recorded events that match every filter (and ``where``), in order."""
    flt = query_filters("events", filters)
    pred = _where("events", where)
    session = _session("events", trace_assertion=False)
    evs = session.log.snapshot()
    _check_filters("events", flt, evs)
    _refuse_failed_sources("events", session, flt)
    _note_exits(session, evs, flt, pred)
    return StarlarkList([EventValue(e) for e in query.select(evs, flt, pred)])


@builtin("assert_eventually")
def assert_eventually(where: Any = None, **filters: Any) -> None:
    """Fail unless at least one recorded event matches."""
    flt = query_filters("assert_eventually", filters)
    pred = _where("assert_eventually", where)
    session = _session("assert_eventually")
    evs = session.log.snapshot()
    _check_filters("assert_eventually", flt, evs)
    _note_exits(session, evs, flt, pred)
    if query.first_match(evs, flt, pred) is None:
        _refuse_failed_sources("assert_eventually", session, flt)
        message = query.eventually_failure(flt, pred is not None, evs, where=pred)
        raise AssertionFailure("\n".join([message, *_source_note_lines(session, flt)]))


@builtin("assert_never")
def assert_never(where: Any = None, **filters: Any) -> None:
    """Fail if any recorded event matches."""
    flt = query_filters("assert_never", filters)
    pred = _where("assert_never", where)
    if not flt and pred is None:
        raise SpecError("assert_never(): give at least one filter or where=")
    session = _session("assert_never")
    evs = session.log.snapshot()
    _check_filters("assert_never", flt, evs)
    _note_exits(session, evs, flt, pred)
    hit = query.first_match(evs, flt, pred)
    if hit is not None:
        raise AssertionFailure(query.never_failure(hit, pred is not None))
    _refuse_failed_sources("assert_never", session, flt)


def _dict_filters(value: Any, arg: str) -> dict[str, str]:
    if not isinstance(value, Dict | dict):
        raise SpecError(f'assert_before(): {arg}= must be a dict like {{"syscall": "write"}}')
    return query_filters("assert_before", {str(k): v for k, v in value.items()})


@builtin("assert_before")
def assert_before(first: Any = None, then: Any = None) -> None:
    """Fail unless the first event matching ``first`` precedes the first matching ``then``."""
    if first is None or then is None:
        raise SpecError("assert_before(): first= and then= are both required")
    f1, f2 = _dict_filters(first, "first"), _dict_filters(then, "then")
    session = _session("assert_before")
    evs = session.log.snapshot()
    _check_filters("assert_before", f1, evs)
    _check_filters("assert_before", f2, evs)
    _note_exits(session, evs, f1, None)
    _note_exits(session, evs, f2, None)
    message = query.check_before(evs, f1, f2)
    if message is not None:
        notes = _source_note_lines(session, f1) + _source_note_lines(session, f2)
        raise AssertionFailure("\n".join([message, *dict.fromkeys(notes)]))
