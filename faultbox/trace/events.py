"""The per-test event log: every recorded event, its sequence number and vector clock.

One :class:`EventLog` exists per test run. Producers (the seccomp supervisor, service
lifecycle, step clients, event sources) call :meth:`EventLog.emit`; readers (assertions,
exports) call :meth:`EventLog.snapshot`. Emission is thread-safe and cheap; subscribers
(monitors) are called on a separate dispatcher thread so a slow or failing monitor never
holds up the supervisor.

Vector clocks (docs/traces.md): :meth:`EventLog.emit` applies the rule that
``vocabulary.CLOCK_RULES`` gives the event's type — every event with a service ticks it,
an allowed connect/sendto then folds every host into the caller, a step folds the test into
its target (send) or the target into the test (receive). Producers never merge by hand.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .vocabulary import QUERYABLE_TYPES, ClockRule, EventType, Field, clock_rule, merges_network

__all__ = ["QUERYABLE_TYPES", "Event", "EventLog", "Subscriber"]

_LIFECYCLE: dict[str, str] = {
    EventType.SERVICE_STARTED: "lifecycle.started",
    EventType.SERVICE_READY: "lifecycle.ready",
    EventType.SERVICE_EXITED: "lifecycle.exited",
}


@dataclass(slots=True)
class Event:
    """One recorded event.

    ``fields`` holds string values only (as in the original's JSON); ``data`` holds the
    decoded payload of event-source events (a Python value; converted to Starlark on
    access). ``timestamp_ns`` is wall-clock nanoseconds since the epoch.
    """

    seq: int
    timestamp_ns: int
    type: str
    service: str
    fields: dict[str, str]
    vector_clock: dict[str, int] = field(default_factory=dict)
    data: Any = None

    @property
    def event_type(self) -> str:
        """The dotted event type: ``syscall.write``, ``lifecycle.started``, ``step_send.orders``."""
        sc = self.fields.get(Field.SYSCALL)
        if sc:
            return f"{self.type}.{sc}"
        lifecycle = _LIFECYCLE.get(self.type)
        if lifecycle is not None:
            return lifecycle
        if self.type in (EventType.STEP_SEND, EventType.STEP_RECV):
            target = self.fields.get(Field.TARGET, "")
            return f"{self.type}.{target}" if target else self.type
        return self.type


Subscriber = Callable[[Event], None]


class EventLog:
    """Thread-safe, append-only log of the events of one test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._clocks: dict[str, dict[str, int]] = {}
        self._subscribers: list[Subscriber] = []
        self._queue: queue.SimpleQueue[Event | threading.Event | None] | None = None
        self._dispatcher: threading.Thread | None = None
        self._drains: list[Callable[[], None]] = []
        self._ordering_drains: list[Callable[[], None]] = []
        self.subscriber_errors: list[BaseException] = []

    # ------------------------------------------------------------------ producers

    def emit(
        self,
        type: str,
        service: str = "",
        fields: dict[str, str] | None = None,
        data: Any = None,
        timestamp_ns: int | None = None,
    ) -> Event:
        """Append an event, apply its type's clock rule and notify subscribers."""
        ts = timestamp_ns if timestamp_ns is not None else time.time_ns()
        type = str(type)  # an EventType member is stored as its plain string
        fields = fields or {}
        with self._lock:
            clock: dict[str, int] = {}
            rule = clock_rule(type)
            if service:
                if rule is ClockRule.STEP_SEND or rule is ClockRule.STEP_RECV:
                    target = fields.get(Field.TARGET, "")
                    if target and rule is ClockRule.STEP_SEND:
                        self._merge(target, service)
                    elif target:
                        self._merge(service, target)
                own = self._clocks.setdefault(service, {})
                own[service] = own.get(service, 0) + 1
                clock = dict(own)
            ev = Event(
                seq=len(self._events) + 1,
                timestamp_ns=ts,
                type=type,
                service=service,
                fields=fields,
                vector_clock=clock,
                data=data,
            )
            self._events.append(ev)
            if service and rule is ClockRule.TICK_THEN_MERGE_NETWORK and merges_network(fields):
                self._merge_all(service)
            q = self._queue
        if q is not None:
            q.put(ev)
        return ev

    def emit_ordered(
        self, type: str, service: str = "", fields: dict[str, str] | None = None
    ) -> Event:
        """Emit an event of faultbox's own (readiness, a fault applied, a step) after every
        record a buffered producer made before this call.

        The supervisor buffers syscall records and delivers them later; without this, a
        syscall made before a service was ready could be sequenced after ``service_ready``
        and the normalized trace would change from run to run.
        """
        self.catch_up()
        return self.emit(type, service, fields)

    def catch_up(self) -> None:
        """Sequence every record the ordering producers (the supervisor) hold so far."""
        for fn in list(self._ordering_drains):
            fn()

    def merge_clock(self, local: str, remote: str) -> None:
        """Fold ``remote``'s clock into ``local``'s (element-wise max, no tick)."""
        with self._lock:
            self._merge(local, remote)

    def merge_all_into(self, local: str) -> None:
        """Fold every other host's clock into ``local`` (rule 2, after an allowed connect)."""
        with self._lock:
            self._merge_all(local)

    def _merge(self, local: str, remote: str) -> None:  # caller holds the lock
        src = self._clocks.get(remote)
        if not src:
            return
        dst = self._clocks.setdefault(local, {})
        for host, n in src.items():
            if dst.get(host, 0) < n:
                dst[host] = n

    def _merge_all(self, local: str) -> None:  # caller holds the lock
        dst = self._clocks.setdefault(local, {})
        for host, src in self._clocks.items():
            if host == local:
                continue
            for h, n in src.items():
                if dst.get(h, 0) < n:
                    dst[h] = n

    # ------------------------------------------------------------------ readers

    def add_drain(self, fn: Callable[[], None], *, orders_own_events: bool = False) -> None:
        """Register a function that flushes buffered producers (supervisor, sources).

        Called before every :meth:`snapshot` so readers see everything already recorded.
        With ``orders_own_events`` it also runs before :meth:`emit_ordered`: use it for a
        producer whose records must precede the faultbox events that follow them (it must
        be cheap, and must not call :meth:`emit_ordered` itself).
        """
        self._drains.append(fn)
        if orders_own_events:
            self._ordering_drains.append(fn)

    def remove_drain(self, fn: Callable[[], None]) -> None:
        if fn in self._drains:
            self._drains.remove(fn)
        if fn in self._ordering_drains:
            self._ordering_drains.remove(fn)

    def flush(self) -> None:
        """Run every registered drain function."""
        for fn in list(self._drains):
            fn()

    def snapshot(self) -> list[Event]:
        """All events so far, in sequence order (after flushing buffered producers)."""
        self.flush()
        with self._lock:
            return list(self._events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    # ------------------------------------------------------------------ subscribers

    def subscribe(self, fn: Subscriber) -> None:
        """Call ``fn(event)`` for every event emitted from now on, on a dispatcher thread."""
        with self._lock:
            self._subscribers.append(fn)
            if self._queue is None:
                self._queue = queue.SimpleQueue()
                self._dispatcher = threading.Thread(
                    target=self._dispatch, name="faultbox-monitors", daemon=True
                )
                self._dispatcher.start()

    def _dispatch(self) -> None:
        assert self._queue is not None
        while True:
            ev = self._queue.get()
            if ev is None:
                return
            if isinstance(ev, threading.Event):  # a sync() marker
                ev.set()
                continue
            for fn in list(self._subscribers):
                try:
                    fn(ev)
                except BaseException as exc:  # a monitor failure is a test failure, kept
                    self.subscriber_errors.append(exc)

    def sync(self, timeout: float = 5.0) -> None:
        """Return once subscribers have seen every event emitted so far."""
        self.flush()
        with self._lock:
            q = self._queue
        if q is None:
            return
        reached = threading.Event()
        q.put(reached)
        reached.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver pending events to subscribers and stop the dispatcher thread."""
        self.flush()
        with self._lock:
            q, t = self._queue, self._dispatcher
            self._queue = None
        if q is not None and t is not None:
            q.put(None)
            t.join(timeout)
