"""The event vocabulary: every event type, the field names producers write, and the
vector-clock rule each kind of event follows (docs/traces.md, "Vector clocks").

Producers (session, steps, supervisor sink, event sources) and readers (queries, exports,
tests) name events through :class:`EventType` and :class:`Field`; :class:`~.events.EventLog`
applies :data:`CLOCK_RULES` when an event is emitted, so no producer or test merges clocks
by hand.
"""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Final


class EventType(StrEnum):
    """Every event type faultbox records (members compare equal to their strings)."""

    SYSCALL = "syscall"
    STDOUT = "stdout"
    STDERR = "stderr"
    WAL = "wal"
    TOPIC = "topic"
    POLL = "poll"
    SERVICE_STARTED = "service_started"
    SERVICE_READY = "service_ready"
    SERVICE_EXITED = "service_exited"
    FAULT_APPLIED = "fault_applied"
    FAULT_REMOVED = "fault_removed"
    TRACE_APPLIED = "trace_applied"
    TRACE_REMOVED = "trace_removed"
    PARTITION_APPLIED = "partition_applied"
    PARTITION_REMOVED = "partition_removed"
    STEP_SEND = "step_send"
    STEP_RECV = "step_recv"
    SOURCE_ERROR = "source_error"
    #: a request through the protocol proxy (faultbox/proxy): its outcome and latency
    PROXY = "proxy"
    CRASH = "crash"
    RESTART = "restart"
    UNSYNCED_DROPPED = "unsynced_dropped"


class Field:
    """Field names producers write (``Event.fields`` keys; values are strings)."""

    # syscall events
    SYSCALL: Final = "syscall"
    PID: Final = "pid"
    DECISION: Final = "decision"
    PATH: Final = "path"
    LATENCY_MS: Final = "latency_ms"
    LABEL: Final = "label"
    OP: Final = "op"
    REQUESTED: Final = "requested"  # partial(): bytes the write asked for
    WRITTEN: Final = "written"  # partial(): bytes the supervisor wrote (the short count)
    # service lifecycle
    EXIT_CODE: Final = "exit_code"
    SIGNAL: Final = "signal"
    EXPECTED: Final = "expected"
    # steps
    TARGET: Final = "target"
    METHOD: Final = "method"
    INTERFACE: Final = "interface"
    PROTOCOL: Final = "protocol"
    STATUS_CODE: Final = "status_code"
    DURATION_MS: Final = "duration_ms"
    ERROR: Final = "error"
    # crash consistency (crash, unsynced_dropped)
    LOSE_UNSYNCED: Final = "lose_unsynced"
    TORN: Final = "torn"
    BYTES: Final = "bytes"
    WRITES: Final = "writes"
    REMOVED: Final = "removed"
    TORN_KEPT: Final = "torn_kept"
    # partitions, event sources
    BETWEEN: Final = "between"
    SOURCE: Final = "source"
    DATA: Final = "data"


#: The host of the test driver (steps are its events).
TEST_HOST: Final = "test"

#: Types the query builtins (events, assert_*) and monitors look at unless ``type=`` is given.
QUERYABLE_TYPES: frozenset[str] = frozenset(
    {
        EventType.SYSCALL,
        EventType.STDOUT,
        EventType.STDERR,
        EventType.TOPIC,
        EventType.WAL,
        EventType.POLL,
        EventType.PROXY,
    }
)

#: Filter keys every query accepts even when no recorded event has them yet.
STANDARD_FILTER_KEYS: tuple[str, ...] = (
    "service", "type", Field.SYSCALL, Field.PATH, Field.DECISION, Field.LABEL, Field.OP,
    Field.PID, Field.LATENCY_MS, Field.EXIT_CODE, Field.TARGET, Field.METHOD,
)  # fmt: skip


class ClockRule(Enum):
    """How an event moves the vector clocks (an event without a service carries none)."""

    #: rule 1: tick the event's own service.
    TICK = "tick"
    #: rule 1, then rule 2: after an allowed ``connect``/``sendto``, fold every other host's
    #: clock into the caller's (faultbox does not resolve the destination).
    TICK_THEN_MERGE_NETWORK = "tick_then_merge_network"
    #: rule 3: fold the test's clock into the target's, then tick the test.
    STEP_SEND = "step_send"
    #: rule 3: fold the target's clock into the test's, then tick the test.
    STEP_RECV = "step_recv"


CLOCK_RULES: dict[str, ClockRule] = {
    **{t.value: ClockRule.TICK for t in EventType},
    EventType.SYSCALL.value: ClockRule.TICK_THEN_MERGE_NETWORK,
    EventType.STEP_SEND.value: ClockRule.STEP_SEND,
    EventType.STEP_RECV.value: ClockRule.STEP_RECV,
}

#: Syscalls after which rule 2 merges clocks (when the syscall was allowed).
NETWORK_SYSCALLS: frozenset[str] = frozenset({"connect", "sendto"})


def clock_rule(event_type: str) -> ClockRule:
    """The clock rule of ``event_type`` (unknown types just tick their service)."""
    return CLOCK_RULES.get(event_type, ClockRule.TICK)


def merges_network(fields: dict[str, str]) -> bool:
    """Whether a syscall event's fields call for rule 2: an allowed connect/sendto.

    Only a deny stops the call; delayed and traced calls run, so they merge too.
    """
    return fields.get(Field.SYSCALL) in NETWORK_SYSCALLS and not fields.get(
        Field.DECISION, ""
    ).startswith("deny")
