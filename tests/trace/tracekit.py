"""Synthetic traces for the trace package tests (no processes)."""

from __future__ import annotations

from faultbox.trace.events import Event, EventLog
from faultbox.trace.results import RuleReport, TestResult
from faultbox.trace.vocabulary import TEST_HOST, EventType, Field

T0 = 1_774_000_000_123_456_789


class TraceBuilder:
    """Emits events the way the runner does; the event log applies the clock rules
    (trace/vocabulary.py), so nothing here merges clocks by hand."""

    def __init__(self) -> None:
        self.log = EventLog()
        self.t = T0

    def _ts(self) -> int:
        self.t += 1_000_000
        return self.t

    def emit(self, type: str, service: str = "", **fields: str) -> Event:
        return self.log.emit(type, service, dict(fields) or None, timestamp_ns=self._ts())

    def start(self, service: str) -> None:
        self.emit(EventType.SERVICE_STARTED, service)
        self.emit(EventType.SERVICE_READY, service)

    def syscall(self, service: str, syscall: str, decision: str = "allow", **extra: str) -> Event:
        fields = {Field.SYSCALL: syscall, Field.PID: "4242", Field.DECISION: decision, **extra}
        return self.log.emit(EventType.SYSCALL, service, fields, timestamp_ns=self._ts())

    def step(self, target: str, method: str = "post") -> None:
        self.emit(EventType.STEP_SEND, TEST_HOST, target=target, method=method)
        self.emit(EventType.STEP_RECV, TEST_HOST, target=target, method=method)

    def events(self) -> list[Event]:
        return self.log.snapshot()


def order_trace() -> TraceBuilder:
    """The ch4 happy path with a slow WAL write."""
    b = TraceBuilder()
    b.start("inventory")
    b.start("orders")
    b.emit(
        EventType.FAULT_APPLIED,
        "inventory",
        write='delay(100ms) → filter:[write,writev,pwrite64] label="slow WAL"',
    )
    b.step("orders")
    b.syscall("orders", "connect", path="socket:[5151]")
    b.syscall("inventory", "openat", "allow", path="/tmp/inventory.wal")
    b.syscall(
        "inventory",
        "write",
        "delay(100ms)",
        path="/tmp/inventory.wal",
        label="slow WAL",
        latency_ms="100",
    )
    b.syscall("inventory", "write", "delay(100ms)", path="socket:[777]", label="slow WAL")
    b.syscall("inventory", "fsync", "allow", path="/tmp/inventory.wal")
    b.syscall("inventory", "write", "allow (system path)", path="/dev/pts/3")
    b.emit(EventType.FAULT_REMOVED, "inventory")
    return b


def slow_wal_rule(hits: int = 2) -> RuleReport:
    return RuleReport(
        kind="fault",
        service="inventory",
        key="write",
        action="delay",
        spec="delay(100ms)",
        filter=["write", "writev", "pwrite64"],
        label="slow WAL",
        hits=hits,
        errno="100ms",
    )


def make_result(name: str = "test_wal_written", passed: bool = True, **kw) -> TestResult:
    events = kw.pop("events", None)
    if events is None:
        events = order_trace().events()
    return TestResult(
        name=name,
        passed=passed,
        seed=kw.pop("seed", 0),
        duration_ms=kw.pop("duration_ms", 225),
        events=events,
        **kw,
    )
