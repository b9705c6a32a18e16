from __future__ import annotations

import pytest
from tracekit import TraceBuilder

from faultbox.trace.events import Event
from faultbox.trace.query import (
    check_before,
    compile_pattern,
    eventually_failure,
    first_match,
    format_event_short,
    match_event,
    near_misses,
    never_failure,
    select,
)


def ev(seq: int = 1, service: str = "inventory", type: str = "syscall", **fields: str) -> Event:
    return Event(seq=seq, timestamp_ns=0, type=type, service=service, fields=fields)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("*.wal", "/tmp/inventory.wal", True),
        ("*.wal", "/tmp/inventory.wal.bak", False),
        ("/tmp/*", "/tmp/a/b/c", True),
        ("deny*", "deny(input/output error)", True),
        ("deny*", "delay(100ms)", False),
        ("wr?te", "write", True),
        ("write", "writev", False),
        ("write", "write", True),
        ("socket:[1]", "socket:[1]", True),  # '[' is literal
        ("socket:[*]", "socket:[123]", True),
        ("socket:[*]", "socket:1", False),
        ("", "anything", True),
        ("*", "", True),
    ],
)
def test_compile_pattern(pattern: str, value: str, expected: bool) -> None:
    assert compile_pattern(pattern)(value) is expected


def test_match_event_keys() -> None:
    e = ev(syscall="write", path="/tmp/inventory.wal", decision="deny(input/output error)")
    assert match_event(e, {"service": "inventory", "syscall": "write", "path": "*.wal"})
    assert match_event(e, {"decision": "deny*", "type": "syscall"})
    assert match_event(e, {"event_type": "syscall.write"})
    assert not match_event(e, {"service": "orders"})
    assert not match_event(e, {"label": "x"})  # key the event lacks → no match
    assert not match_event(e, {"syscall": "wr"})  # no wildcard → exact
    assert match_event(e, {})


def test_match_event_non_string_filter_values() -> None:
    e = ev(syscall="write", pid="4242")
    assert match_event(e, {"pid": 4242})
    assert not match_event(e, {"pid": 1})


def test_select_types_and_where(order_events: list[Event]) -> None:
    writes = select(order_events, {"service": "inventory", "syscall": "write"})
    assert [e.fields["path"] for e in writes] == [
        "/tmp/inventory.wal",
        "socket:[777]",
        "/dev/pts/3",
    ]
    # where AND filters
    wal = select(order_events, {"syscall": "write"}, where=lambda e: "wal" in e.fields["path"])
    assert len(wal) == 1 and wal[0].fields["path"] == "/tmp/inventory.wal"
    # lifecycle events are not queryable by default ...
    assert select(order_events, {"service": "inventory"}, types=None)[0].type == "service_started"
    assert all(e.type == "syscall" for e in select(order_events, {"service": "inventory"}))
    # ... unless the type is asked for explicitly
    assert len(select(order_events, {"type": "service_ready"})) == 2
    assert select(order_events, {}) == [e for e in order_events if e.type == "syscall"]


def test_where_exceptions_propagate(order_events: list[Event]) -> None:
    def boom(_e: Event) -> bool:
        raise RuntimeError("bad lambda")

    with pytest.raises(RuntimeError):
        select(order_events, {}, where=boom)


def test_first_match_stops_early() -> None:
    seen: list[int] = []

    def where(e: Event) -> bool:
        seen.append(e.seq)
        return e.seq == 2

    events = [ev(i, syscall="write") for i in range(1, 100)]
    assert first_match(events, {}, where).seq == 2
    assert seen == [1, 2]


def test_near_misses_ranked_and_deduplicated() -> None:
    events = [
        ev(1, "orders", syscall="write", path="/tmp/x.log"),
        ev(2, "inventory", syscall="read", path="/tmp/x.wal"),
        ev(3, "inventory", syscall="write", path="/tmp/x.log"),
        ev(4, "inventory", syscall="write", path="/tmp/x.log"),
        ev(5, "db", syscall="connect"),
    ]
    got = near_misses(events, {"service": "inventory", "syscall": "write", "path": "*.wal"})
    assert [(e.seq, missed) for e, missed in got] == [
        (2, ["syscall"]),
        (3, ["path"]),
        (1, ["service", "path"]),
    ]
    assert near_misses(events, {"service": "nobody"}) == []
    got = near_misses(events, {"syscall": "write"}, where=lambda e: e.service == "db")
    assert got[0][1] == ["where"]


def test_eventually_failure_message(order_events: list[Event]) -> None:
    msg = eventually_failure(
        {"service": "inventory", "syscall": "fsync", "path": "*.log"}, False, order_events
    )
    lines = msg.splitlines()
    assert lines[0] == (
        'assert_eventually: no matching event found (filters: service="inventory", '
        'syscall="fsync", path="*.log")'
    )
    assert lines[1].startswith("  nearest: #")
    assert "inventory syscall fsync allow /tmp/inventory.wal (path differs)" in lines[1]
    assert len(lines) <= 4


def test_eventually_failure_similar_count() -> None:
    events = [ev(i, syscall="write", decision="allow", path="socket:[1]") for i in range(1, 6)]
    msg = eventually_failure({"service": "inventory", "path": "*.wal"}, False, events)
    assert msg.splitlines()[1] == (
        "  nearest: #1 inventory syscall write allow socket:[1] (path differs; 4 similar events)"
    )


def test_eventually_failure_where_and_hints(order_events: list[Event]) -> None:
    msg = eventually_failure({}, True, order_events)
    assert msg.startswith("assert_eventually: no event matched where= predicate (")
    msg = eventually_failure({"service": "ghost"}, False, order_events)
    assert 'hint: no events recorded for service "ghost"' in msg
    b = TraceBuilder()
    b.start("db")
    msg = eventually_failure({"service": "db", "syscall": "write"}, False, b.events())
    assert "only syscalls named by a fault() or trace() rule" in msg
    msg = eventually_failure({"syscall": "pwrite64"}, False, order_events)
    assert "no pwrite64 call was recorded (recorded: connect, fsync, openat, write)" in msg
    msg = eventually_failure({"syscall": "write"}, True, order_events, where=lambda e: False)
    assert '(filters: syscall="write"; where= predicate)' in msg
    assert "where= predicate false" in msg


def test_never_failure_messages() -> None:
    e = ev(12, syscall="connect", decision="allow", path="socket:[9]")
    assert never_failure(e, False) == (
        "assert_never: found matching event #12 "
        "(service=inventory syscall=connect decision=allow path=socket:[9])"
    )
    assert never_failure(e, True).startswith(
        "assert_never: found matching event #12 via where= predicate (service=inventory"
    )
    out = ev(3, "db", "stdout", level="ERROR")
    assert never_failure(out, True) == (
        'assert_never: found matching event #3 via where= predicate (db stdout level="ERROR")'
    )


def test_check_before(order_events: list[Event]) -> None:
    assert check_before(order_events, {"syscall": "openat"}, {"syscall": "fsync"}) is None
    msg = check_before(order_events, {"syscall": "fsync"}, {"syscall": "openat"})
    assert (
        msg is not None
        and msg.startswith("assert_before: 'first' event (seq=")
        and "did not occur before 'then' event" in msg
    )
    msg = check_before(order_events, {"syscall": "unlink"}, {"syscall": "openat"})
    assert msg.startswith("assert_before: no event matching 'first' filters (syscall=\"unlink\")")
    msg = check_before(order_events, {"syscall": "openat"}, {"decision": "deny*"})
    assert msg.startswith("assert_before: no event matching 'then' filters (decision=\"deny*\")")


def test_format_event_short_variants() -> None:
    e = ev(
        8,
        syscall="write",
        decision="delay(100ms)",
        label="slow WAL",
        op="persist",
        path="/tmp/inventory.wal",
        latency_ms="100",
    )
    assert format_event_short(e) == (
        "#8 inventory syscall persist(write) delay(100ms) [slow WAL] /tmp/inventory.wal (+100ms)"
    )
    s = ev(2, "test", "step_send", target="orders", method="post")
    assert format_event_short(s) == "#2 test step_send post→orders"
    long = ev(3, "db", "stdout", line="x" * 500)
    assert len(format_event_short(long)) < 200
