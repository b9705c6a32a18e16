"""Services that exit on their own during a test: recorded in time, and failing the test unless
the test expected them.

An exit is recorded as a ``service_exited`` event (``expected=false``) by the process's wait
thread, and also by :meth:`ExitWatch.reap`, which the session runs before every snapshot of the
trace (an event-log drain) and before teardown: a service that died just before the test's last
look, or just before teardown, is in the trace either way. Each process's exit is recorded once.

An exit the test did not ask for fails the test (:meth:`ExitWatch.failure_reason`) unless the
test expected it:

* ``crash()`` records its own exit with ``expected=true`` (never recorded here);
* a query or assertion (``events``, ``assert_eventually``, ``assert_never``, ``assert_before``)
  whose filters and ``where=`` match the exit event, run after the exit was recorded, counts as
  asserting on it: ``assert_eventually(type="service_exited", service="redis")``
  (:meth:`ExitWatch.acknowledge`);
* ``restart()`` of a service that exited by itself handles that exit.
"""

from __future__ import annotations

import contextlib
import select
import signal
import threading
from collections.abc import Iterable, Mapping

from faultbox.trace.events import Event, EventLog
from faultbox.trace.vocabulary import EventType, Field

from .process import ServiceProcess

_SIGNALS = {s.value for s in signal.Signals}
#: How long a process whose pidfd says it exited may take to be reaped by its wait thread.
REAP_WAIT_S = 2.0


class ExitWatch:
    """The exits of one session's services and which of them the test asserted on."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self._lock = threading.Lock()
        self._recorded: dict[int, tuple[Event, ServiceProcess]] = {}  # id(proc) → its exit
        self._acknowledged: set[int] = set()  # seqs of exit events the test looked at

    def record(self, name: str, proc: ServiceProcess | None, code: int) -> None:
        """Record ``proc``'s own exit once (not when faultbox stopped or crashed it)."""
        if proc is None or proc.stopping:
            return
        # What it wrote as it went (the reason it exited) comes before the exit in the trace.
        with contextlib.suppress(Exception):
            proc.settle_output()
        with self._lock:
            if id(proc) in self._recorded or proc.stopping:
                return
            fields = {Field.EXIT_CODE: str(code), Field.EXPECTED: "false"}
            if code < 0:
                sig = -code
                fields[Field.SIGNAL] = signal.Signals(sig).name if sig in _SIGNALS else str(sig)
            ev = self.log.emit_ordered(EventType.SERVICE_EXITED, name, fields)
            self._recorded[id(proc)] = (ev, proc)

    def reap(self, processes: Mapping[str, ServiceProcess]) -> None:
        """Record the exit of every service that has exited and is not recorded yet."""
        for name, proc in list(processes.items()):
            if proc.stopping or proc.proc is None or id(proc) in self._recorded:
                continue
            if not proc.exited and not _has_exited(proc):
                continue
            # The process is gone; its wait thread reaps it at once and sets the exit code.
            if proc._exited.wait(REAP_WAIT_S) and proc.exit_code is not None:
                self.record(name, proc, proc.exit_code)

    def acknowledge(self, events: Iterable[Event]) -> None:
        """The test looked at these exit events (a query matched them)."""
        with self._lock:
            self._acknowledged.update(
                ev.seq for ev in events if ev.type == EventType.SERVICE_EXITED
            )

    def acknowledge_service(self, name: str) -> None:
        """Every exit of ``name`` recorded so far is handled (``restart()``)."""
        with self._lock:
            self._acknowledged.update(
                ev.seq for ev, _ in self._recorded.values() if ev.service == name
            )

    def unexpected(self) -> list[tuple[Event, ServiceProcess]]:
        """Exits recorded here that no query matched, in the order they happened."""
        with self._lock:
            out = [
                pair for pair in self._recorded.values() if pair[0].seq not in self._acknowledged
            ]
        return sorted(out, key=lambda pair: pair[0].seq)

    def failure_reason(self) -> str:
        """Why the test fails because of an exit nobody expected ("" when there is none)."""
        unexpected = self.unexpected()
        if not unexpected:
            return ""
        ev, proc = unexpected[0]
        sig = ev.fields.get(Field.SIGNAL, "")
        how = f"killed by {sig}" if sig else f"exit code {ev.fields.get(Field.EXIT_CODE, '?')}"
        text = f"service {ev.service} exited unexpectedly during the test ({how}, event #{ev.seq})"
        last = _last_line(proc)
        if last:
            text += f": {last}"
        others = [e.service for e, _ in unexpected[1:]]
        if others:
            text += f" (also exited: {', '.join(others)})"
        return text


def _pidfd_says_exited(proc: ServiceProcess, timeout: float = 0) -> bool:
    """A pidfd is readable once its process has exited (before it is reaped)."""
    try:
        ready, _, _ = select.select([proc.proc.pidfd], [], [], timeout)
    except (OSError, ValueError):  # closed: the process was stopped
        return False
    return bool(ready)


def _has_exited(proc: ServiceProcess) -> bool:
    """Exited, or exiting: a process in the middle of its exit has closed its sockets (a step
    saw EOF) but is not a zombie yet, so wait for it rather than miss the exit."""
    if _pidfd_says_exited(proc):
        return True
    return _is_exiting(proc.pid) and _pidfd_says_exited(proc, REAP_WAIT_S)


_PF_EXITING = 0x4  # the kernel's task flag, set at the start of exit, before files close


def _is_exiting(pid: int) -> bool:
    """The process has begun to exit (``PF_EXITING`` in /proc/PID/stat's flags)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    fields = stat[stat.rfind(b")") + 2 :].split()
    return len(fields) > 6 and bool(int(fields[6]) & _PF_EXITING)


def _last_line(proc: ServiceProcess) -> str:
    """The service's last output line (what it said as it exited), shortened."""
    with contextlib.suppress(Exception):
        proc.settle_output()
    lines = [ln.strip() for ln in proc.recent_output(20) if ln.strip()]
    if not lines:
        return ""
    last = lines[-1]
    return last if len(last) <= 200 else last[:197] + "..."
