"""Event queries behind ``events()`` and ``assert_eventually/never/before``, and their messages.

Filter semantics (see docs/traces.md):

* ``service`` → ``ev.service``, ``type`` → ``ev.type``, ``event_type`` → ``ev.event_type``;
  every other key (``syscall``, ``path``, ``decision``, ``label``, ``op``, ``pid``, …) →
  ``ev.fields[key]``. A key the event does not carry never matches.
* A pattern containing ``*`` or ``?`` is a glob over the **whole** value, in the one glob
  dialect of op ``path=`` and fault rules (faultbox/intercept/globs.py, docs/spec-language.md
  "Path globs"): ``*`` crosses ``/`` (``path="*.wal"`` matches ``/tmp/inventory.wal``,
  ``decision="deny*"`` matches ``deny(input/output error)``), ``?`` is one character,
  brackets are literal (``socket:[*]``). A ``path`` pattern also matches the files directly
  inside a directory it names (``path="/tmp/"``). A pattern without wildcards is otherwise an
  exact comparison. An empty pattern matches anything (as in the original).
* ``where`` is a Python callable on :class:`Event`; when given, keyword filters **still
  apply** (both must hold). The original ignored keyword filters once ``where`` was given.
* Only :data:`QUERYABLE_TYPES` are searched, unless the filters name a ``type`` explicitly
  (``events(type="service_exited")`` works).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from faultbox.intercept.globs import value_matches

from .events import QUERYABLE_TYPES, Event
from .vocabulary import EventType

Where = Callable[[Event], Any]

ALLOW_DECISIONS = frozenset({"", "allow", "allow (system path)"})

__all__ = [
    "ALLOW_DECISIONS",
    "before_failure",
    "check_before",
    "compile_pattern",
    "event_value",
    "eventually_failure",
    "first_match",
    "format_event_short",
    "format_filters",
    "match_event",
    "near_misses",
    "never_failure",
    "select",
]


def compile_pattern(pattern: str, *, path: bool = False) -> Callable[[str], bool]:
    """A predicate for one filter pattern (glob with ``*``/``?`` or exact; ``path``: the
    value is a path, so the directory rule of path globs applies)."""
    return value_matches(pattern, path=path)


def event_value(ev: Event, key: str) -> str | None:
    """The value a filter key is compared with, or None when the event lacks it."""
    if key == "service":
        return ev.service
    if key == "type":
        return ev.type
    if key == "event_type":
        return ev.event_type
    return ev.fields.get(key)


def _as_str(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _normalize_filters(filters: Mapping[str, object] | None) -> dict[str, str]:
    return {k: _as_str(v) for k, v in (filters or {}).items()}


def _key_matches(ev: Event, key: str, pattern: str) -> bool:
    value = event_value(ev, key)
    if value is None:
        return pattern == ""
    return value_matches(pattern, path=key == "path")(value)


def match_event(ev: Event, filters: Mapping[str, object]) -> bool:
    """True when ``ev`` satisfies every filter (AND)."""
    return all(_key_matches(ev, key, _as_str(pattern)) for key, pattern in filters.items())


def _type_ok(types: Iterable[str] | None, filters: Mapping[str, str]) -> Callable[[Event], bool]:
    if types is None or "type" in filters:
        return lambda _ev: True
    allowed = frozenset(types)
    return lambda ev: ev.type in allowed


def select(
    events: Iterable[Event],
    filters: Mapping[str, object] | None = None,
    where: Where | None = None,
    types: Iterable[str] | None = QUERYABLE_TYPES,
) -> list[Event]:
    """Events (in order) that match every filter and, if given, the ``where`` predicate."""
    flt = _normalize_filters(filters)
    type_ok = _type_ok(types, flt)
    matchers = [(k, compile_pattern(p)) for k, p in flt.items()]
    out: list[Event] = []
    for ev in events:
        if not type_ok(ev):
            continue
        ok = True
        for key, pred in matchers:
            value = event_value(ev, key)
            ok = flt[key] == "" if value is None else pred(value)
            if not ok:
                break
        if ok and (where is None or where(ev)):
            out.append(ev)
    return out


def first_match(
    events: Iterable[Event],
    filters: Mapping[str, object] | None = None,
    where: Where | None = None,
    types: Iterable[str] | None = QUERYABLE_TYPES,
) -> Event | None:
    """The first matching event (stops early), or None."""
    flt = _normalize_filters(filters)
    type_ok = _type_ok(types, flt)
    for ev in events:
        if type_ok(ev) and match_event(ev, flt) and (where is None or where(ev)):
            return ev
    return None


def near_misses(
    events: Iterable[Event],
    filters: Mapping[str, object],
    limit: int = 3,
    *,
    where: Where | None = None,
    types: Iterable[str] | None = QUERYABLE_TYPES,
) -> list[tuple[Event, list[str]]]:
    """The events that came closest to matching, with the keys they failed on.

    Ranked by the number of filters matched (at least one must match), ties in event order.
    Events that look the same on every filter key are reported once (the first). When
    ``where`` is given, an event matching all keyword filters but not ``where`` is a near
    miss with the mismatched key ``"where"``.
    """
    flt = _normalize_filters(filters)
    type_ok = _type_ok(types, flt)
    keys = list(flt)
    if not keys and where is None:
        return []
    best: dict[tuple, tuple[int, Event, list[str]]] = {}
    for ev in events:
        if not type_ok(ev):
            continue
        missed = [k for k in keys if not _key_matches(ev, k, flt[k])]
        if where is not None and not missed:
            try:
                if where(ev):
                    continue  # a full match is not a near miss
            except Exception:
                pass
            missed = ["where"]
        elif not missed:
            continue
        matched = len(keys) - len([m for m in missed if m != "where"])
        if matched == 0:
            continue
        sig = (ev.service, ev.type, tuple(event_value(ev, k) for k in keys), tuple(missed))
        if sig not in best:
            best[sig] = (matched, ev, missed)
    ranked = sorted(best.values(), key=lambda t: (-t[0], t[1].seq))
    return [(ev, missed) for _, ev, missed in ranked[:limit]]


def _count_like(events: Sequence[Event], ev: Event, keys: list[str]) -> int:
    sig = tuple(event_value(ev, k) for k in keys)
    return sum(
        1
        for e in events
        if e.type == ev.type
        and e.service == ev.service
        and tuple(event_value(e, k) for k in keys) == sig
    )


# ---------------------------------------------------------------------------- formatting


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def format_filters(filters: Mapping[str, object]) -> str:
    """``service="inventory", syscall="write"`` (in the order given)."""
    return ", ".join(f"{k}={_q(_as_str(v))}" for k, v in filters.items())


def format_event_short(ev: Event) -> str:
    """One-line description: ``#12 inventory syscall write deny(input/output error) /tmp/x``."""
    parts = [f"#{ev.seq}", ev.service or "-", ev.type]
    f = ev.fields
    if ev.type == EventType.SYSCALL or "syscall" in f:
        sc = f.get("syscall", "")
        op = f.get("op", "")
        parts.append(f"{op}({sc})" if op and op != sc else sc)
        if f.get("decision"):
            parts.append(f["decision"])
        if f.get("label"):
            parts.append(f"[{f['label']}]")
        if f.get("path"):
            parts.append(f["path"])
        lat = f.get("latency_ms", "")
        if lat and lat != "0":
            parts.append(f"(+{lat}ms)")
    elif ev.type in (EventType.STEP_SEND, EventType.STEP_RECV):
        method, target = f.get("method", ""), f.get("target", "")
        if method or target:
            parts.append(f"{method}→{target}")
    else:
        text = " ".join(f"{k}={_q(v)}" for k, v in sorted(f.items()))
        if len(text) > 160:
            text = text[:157] + "..."
        if text:
            parts.append(text)
    return " ".join(p for p in parts if p)


def _nearest_lines(
    events: Sequence[Event],
    filters: Mapping[str, str],
    where: Where | None,
    types: Iterable[str] | None,
    limit: int = 3,
) -> list[str]:
    lines: list[str] = []
    keys = list(filters)
    for ev, missed in near_misses(events, filters, limit, where=where, types=types):
        what = ", ".join(
            "where= predicate false" if m == "where" else f"{m} differs" for m in missed
        )
        similar = _count_like(events, ev, keys) - 1
        extra = f"; {similar} similar event{'s' if similar != 1 else ''}" if similar > 0 else ""
        lines.append(f"  nearest: {format_event_short(ev)} ({what}{extra})")
    return lines


def _hint_lines(events: Sequence[Event], filters: Mapping[str, str]) -> list[str]:
    """Hints when there is nothing close at all."""
    svc = filters.get("service", "")
    if svc and "*" not in svc and "?" not in svc:
        if not any(ev.service == svc for ev in events):
            return [f"  hint: no events recorded for service {_q(svc)}"]
        if not any(ev.service == svc and ev.type == EventType.SYSCALL for ev in events):
            return [
                f"  hint: no syscall events recorded for service {_q(svc)}: only syscalls "
                "named by a fault() or trace() rule are intercepted (e.g. trace("
                f"{svc}, syscalls=[...]))"
            ]
    sc = filters.get("syscall", "")
    if sc and not any(ev.fields.get("syscall") == sc for ev in events):
        seen = sorted({ev.fields["syscall"] for ev in events if ev.fields.get("syscall")})
        tail = f" (recorded: {', '.join(seen)})" if seen else ""
        return [
            f"  hint: no {sc} call was recorded{tail}; events exist only for intercepted "
            "syscalls, and the target may use a variant (pwrite64, writev, openat, …)"
        ]
    return []


def eventually_failure(
    filters: Mapping[str, object],
    where_used: bool,
    events: Sequence[Event],
    *,
    where: Where | None = None,
    types: Iterable[str] | None = QUERYABLE_TYPES,
    name: str = "assert_eventually",
) -> str:
    """The failure message of ``assert_eventually`` (headline + nearest-miss lines)."""
    flt = _normalize_filters(filters)
    evs = list(events)
    if not flt:
        head = (
            f"{name}: no event matched where= predicate"
            if where_used
            else (f"{name}: no matching event found")
        )
        considered = len(select(evs, {}, None, types))
        return f"{head} ({considered} events checked)"
    extra = "; where= predicate" if where_used else ""
    head = f"{name}: no matching event found (filters: {format_filters(flt)}{extra})"
    lines = _nearest_lines(evs, flt, where if where_used else None, types)
    if not lines:
        lines = _hint_lines(evs, flt)
    return "\n".join([head, *lines])


def never_failure(ev: Event, via_where: bool, *, name: str = "assert_never") -> str:
    """The failure message of ``assert_never`` for the first offending event."""
    f = ev.fields
    if ev.type == EventType.SYSCALL:
        detail = (
            f"service={ev.service} syscall={f.get('syscall', '')} "
            f"decision={f.get('decision', '')} path={f.get('path', '')}"
        )
    else:
        detail = format_event_short(ev).split(" ", 1)[1]
    if via_where:
        return f"{name}: found matching event #{ev.seq} via where= predicate ({detail})"
    return f"{name}: found matching event #{ev.seq} ({detail})"


def before_failure(
    first: Mapping[str, object],
    then: Mapping[str, object],
    first_ev: Event | None,
    then_ev: Event | None,
    events: Sequence[Event],
    *,
    types: Iterable[str] | None = QUERYABLE_TYPES,
) -> str:
    """The failure message of ``assert_before`` given the first match of each side."""
    f1, f2 = _normalize_filters(first), _normalize_filters(then)
    evs = list(events)
    if first_ev is None:
        head = f"assert_before: no event matching 'first' filters ({format_filters(f1)})"
        lines = _nearest_lines(evs, f1, None, types) or _hint_lines(evs, f1)
        return "\n".join([head, *lines])
    if then_ev is None:
        head = f"assert_before: no event matching 'then' filters ({format_filters(f2)})"
        lines = _nearest_lines(evs, f2, None, types) or _hint_lines(evs, f2)
        return "\n".join([head, *lines])
    return "\n".join(
        [
            f"assert_before: 'first' event (seq={first_ev.seq}) did not occur before "
            f"'then' event (seq={then_ev.seq})",
            f"  first: {format_event_short(first_ev)}",
            f"  then:  {format_event_short(then_ev)}",
        ]
    )


def check_before(
    events: Sequence[Event],
    first: Mapping[str, object],
    then: Mapping[str, object],
    *,
    types: Iterable[str] | None = QUERYABLE_TYPES,
) -> str | None:
    """``assert_before`` logic: None when the first ``first`` match precedes the first
    ``then`` match, else the failure message."""
    evs = list(events)
    a = first_match(evs, first, None, types)
    b = first_match(evs, then, None, types)
    if a is not None and b is not None and a.seq < b.seq:
        return None
    return before_failure(first, then, a, b, evs, types=types)
