"""Synthetic traces for the trace package tests (no processes)."""

from __future__ import annotations

from faultbox.trace.events import Event, EventLog
from faultbox.trace.results import RuleReport, TestResult

T0 = 1_774_000_000_123_456_789


class TraceBuilder:
    """Emits events the way the runner does (ticks, step merges, connect merges)."""

    def __init__(self) -> None:
        self.log = EventLog()
        self.t = T0

    def _ts(self) -> int:
        self.t += 1_000_000
        return self.t

    def emit(self, type: str, service: str = "", **fields: str) -> Event:
        return self.log.emit(type, service, dict(fields) or None, timestamp_ns=self._ts())

    def start(self, service: str) -> None:
        self.emit("service_started", service)
        self.emit("service_ready", service)

    def syscall(self, service: str, syscall: str, decision: str = "allow", **extra: str) -> Event:
        fields = {"syscall": syscall, "pid": "4242", "decision": decision, **extra}
        ev = self.log.emit("syscall", service, fields, timestamp_ns=self._ts())
        if decision == "allow" and syscall in ("connect", "sendto"):
            self.log.merge_all_into(service)
        return ev

    def step(self, target: str, method: str = "post") -> None:
        self.log.merge_clock(target, "test")
        self.emit("step_send", "test", target=target, method=method)
        self.log.merge_clock("test", target)
        self.emit("step_recv", "test", target=target, method=method)

    def events(self) -> list[Event]:
        return self.log.snapshot()


def order_trace() -> TraceBuilder:
    """The ch4 happy path with a slow WAL write."""
    b = TraceBuilder()
    b.start("inventory")
    b.start("orders")
    b.emit(
        "fault_applied",
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
    b.emit("fault_removed", "inventory")
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
