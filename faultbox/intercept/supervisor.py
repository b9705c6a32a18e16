"""The supervisor: one epoll loop (own thread) answering every notification of a test.

Per notification: RECV (only on EPOLLIN: RECV ignores O_NONBLOCK), name the path, check
NOTIF_ID_VALID, evaluate the stacked rules, answer (CONTINUE / -errno) or park it on the
timer heap (delay), append a :class:`SyscallRecord` to a buffer. Records reach ``sink`` in
order on :meth:`flush` (readers of the trace flush first), on :meth:`stop`, from a
:class:`PeriodicFlush` thread every 5 ms, and once more than 65536 are pending. This is the one
configuration (faultbox test, the benchmarks and the tests all run it): the hot path only
records.

Failure policy: if the loop dies (an exception, a listener error, a raising sink), the
supervisor sets :attr:`failure`, SIGKILLs every attached service's process group (a service
whose listener is gone would otherwise run on with ENOSYS from every notified syscall), and
calls ``on_failure(reason)``.

Two interchangeable loops make the decisions: the native one (``_fastloop``, C, GIL released;
see native.py) when it is built, and the Python reference (``backend="python"`` or
``FAULTBOX_SUPERVISOR=python``).
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import math
import os
import select
import signal
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from fcntl import ioctl

from faultbox.intercept.attached import (
    ZERO_NOTIF,
    Attachable,
    Attached,
    SupervisorFailure,
    answer_queued,
    quiet_continue,
)
from faultbox.intercept.decide import (
    ACT_DELAY,
    ACT_DENY,
    RuleHandle,
    ServiceRules,
    evaluate,
)
from faultbox.intercept.ioctl import (
    FLAG_CONTINUE,
    NOTIF,
    NOTIF_ID_VALID,
    NOTIF_RECV,
    NOTIF_SEND,
    RESP,
    set_sync_wakeup,
)
from faultbox.intercept.journal import ServiceJournal
from faultbox.intercept.native import BUFFER_CAP, NativeEngine, want_native
from faultbox.intercept.partial_writes import ACT_PARTIAL, PartialWriter
from faultbox.intercept.paths import PathResolver
from faultbox.intercept.periodic import FLUSH_EVERY_S, PeriodicFlush
from faultbox.intercept.records import SyscallRecord, allowed_record, fired_record
from faultbox.intercept.redirect import Redirect, redirect_connect
from faultbox.intercept.rules import Rule
from faultbox.intercept.syscalls import host_arch, names_by_number, numbers_for
from faultbox.intercept.syspaths import is_system_path

Sink = Callable[[SyscallRecord], None]
_Q = struct.Struct("=Q")
_EPOLLIN, _EPOLLERR, _EPOLLHUP = select.EPOLLIN, select.EPOLLERR, select.EPOLLHUP
_DRAIN_BUDGET_S = 0.05  # stop(): time spent answering notifications that are still queued


class Supervisor:
    """Answers the seccomp notifications of every attached service (see docs/interception.md)."""

    def __init__(
        self,
        sink: Sink,
        seed: int = 0,
        on_failure: Callable[[str], None] | None = None,
        *,
        backend: str | None = None,
    ) -> None:
        """``backend``: "native", "python" or None (``$FAULTBOX_SUPERVISOR``, else native if
        it could be built — with a RuntimeWarning when it could not)."""
        self.seed = seed
        self.on_failure = on_failure
        self.failure: str | None = None
        self._notifications = 0
        self._dropped = 0
        self._sink = sink
        self._sink_broken = False
        self._names = names_by_number(host_arch()) if host_arch() else {}
        self._rules: dict[str, ServiceRules] = {}
        self._journals: dict[str, ServiceJournal] = {}
        self._attached: list[Attached] = []
        self._listeners: dict[int, Attached] = {}
        self._pidfds: dict[int, Attached] = {}
        self._timers: list[tuple[int, int, Attached, int]] = []
        self._timer_seq = 0
        self._records: deque[SyscallRecord] = deque()
        self._deliver_lock = threading.RLock()
        self._lock = threading.Lock()
        self._stopping = False
        self._resolver = PathResolver()
        self._redirects: dict[int, Redirect] = {}  # port -> where its connections go
        self._ep = select.epoll()
        self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._ep.register(self._wake, _EPOLLIN)
        self._native: NativeEngine | None = None
        if want_native(backend):
            self._native = NativeEngine()
            self._native.loop.watch(self._wake, True)
        self._partial = PartialWriter(self._resolver, self._append_record, seed)
        self._flusher = PeriodicFlush(self.flush, FLUSH_EVERY_S)
        self._thread = threading.Thread(target=self._run, name="faultbox-supervisor", daemon=True)
        self._thread.start()

    @property
    def backend(self) -> str:
        """ "native" or "python": which loop makes the decisions."""
        return "native" if self._native is not None else "python"

    @property
    def notifications(self) -> int:
        """Notifications received so far (diagnostics, benchmarks)."""
        return self._notifications + (self._native.stats()[0] if self._native else 0)

    @property
    def dropped(self) -> int:
        """Notifications whose task died before we answered (ENOENT)."""
        return self._dropped + (self._native.stats()[1] if self._native else 0)

    # ---- API used by the runtime (any thread) -------------------------------------------

    def attach(self, service: str, proc: Attachable) -> None:
        """Take over ``proc``'s listener (closed by :meth:`stop`) and watch its exit.

        ``proc``: a :class:`LaunchedProcess` or a container's (container_handoff.py)."""
        with self._lock:
            if self.failure is not None or self._stopping:
                proc.kill_group()
                raise RuntimeError(f"supervisor is not running: {self.failure or 'stopped'}")
            att = Attached(service, proc, proc.take_listener(), self._service_rules(service))
            att.journal = self._journals.get(service)
            self._attached.append(att)
            self._pidfds[att.pidfd] = att
            self._ep.register(att.pidfd, _EPOLLIN)
            if self._native is not None:
                self._native.loop.watch(att.pidfd, True)
            if att.open:
                self._listeners[att.listener] = att
                set_sync_wakeup(att.listener)
                if self._native is not None and att.journal is not None:
                    # journaling reads /proc in Python: the loop only reports readiness and
                    # _on_fd decides in Python, exactly as the Python loop does
                    self._native.loop.watch(att.listener, True)
                elif self._native is not None:
                    # the native loop polls listeners itself (see loop.c: why not epoll)
                    numbers = numbers_for(proc.notify, host_arch()) if host_arch() else []
                    self._native.attach(att.listener, att.rules, numbers)
                else:
                    # no EPOLLOUT: it is raised while a received notification is unanswered
                    self._ep.register(att.listener, _EPOLLIN)
            if self._native is not None:
                os.eventfd_write(self._wake, 1)  # its poll set changed: restart the wait

    def enable_journal(self, service: str) -> ServiceJournal:
        """Journal ``service``'s un-fsynced writes from its next :meth:`attach` on
        (journal.py); the same journal serves every process attached under the name."""
        with self._lock:
            journal = self._journals.get(service)
            if journal is None:
                journal = self._journals[service] = ServiceJournal(service, self.seed)
            return journal

    def journal(self, service: str) -> ServiceJournal | None:
        """The journal of ``service``, or None if it is not journaled."""
        return self._journals.get(service)

    def wait_detached(self, service: str, timeout: float) -> bool:
        """Wait until every filtered task of ``service`` has exited (listener hang-up)."""
        with self._lock:
            events = [a.closed for a in self._attached if a.service == service]
        deadline = time.monotonic() + timeout
        return all(e.wait(max(0.0, deadline - time.monotonic())) for e in events)

    def add_rules(self, service: str, rules: Iterable[Rule]) -> RuleHandle:
        """Stack a rule set on ``service``; it applies until :meth:`remove_rules`."""
        with self._lock:
            service_rules = self._service_rules(service)
            handle = service_rules.add(rules)
            if self._native is not None:
                self._native.rules_changed(service_rules)
            return handle

    def remove_rules(self, service: str, handle: RuleHandle) -> None:
        """Remove one rule set (decisions already made, e.g. running delays, stand)."""
        with self._lock:
            service_rules = self._service_rules(service)
            service_rules.remove(handle)
            if self._native is not None:
                self._native.rules_changed(service_rules)

    def set_redirect(self, redirect: Redirect) -> None:
        """Steer connections to ``redirect.port`` through the proxy (see redirect.py).

        Only services whose notify set has ``connect`` are seen; with the native loop their
        connects are then decided here, in Python.
        """
        with self._lock:
            self._redirects[redirect.port] = redirect
            if self._native is not None:
                self._native.python_numbers = set(numbers_for(["connect"], host_arch()))
                for rules in self._rules.values():
                    self._native.rules_changed(rules)

    def active_rules(self, service: str) -> tuple[RuleHandle, ...]:
        """The rule sets currently stacked on ``service``, oldest first."""
        with self._lock:
            return self._service_rules(service).active

    @staticmethod
    def hits(handle: RuleHandle) -> list[int]:
        """How often each rule of the set fired."""
        return handle.hits

    def flush(self) -> None:
        """Return once every record made so far has been passed to ``sink``."""
        self._deliver()

    def stop(self, timeout: float = 5.0) -> None:
        """Answer everything pending (CONTINUE), close listeners and pidfds, flush records.

        Call it after the services stopped: once a listener is closed, a still-running
        service gets ENOSYS from every notified syscall (kernel behaviour).
        """
        with self._lock:
            self._stopping = True
            if threading.current_thread() is self._thread:
                return  # called from sink/on_failure: the loop cleans up when it returns
            if self._wake >= 0:  # still running (the loop closes it under this lock)
                os.eventfd_write(self._wake, 1)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._fail(f"supervisor thread did not stop within {timeout}s")
        self._flusher.stop()
        self.flush()

    @property
    def running(self) -> bool:
        """True while the loop thread runs."""
        return self._thread.is_alive()

    def _service_rules(self, service: str) -> ServiceRules:
        rules = self._rules.get(service)
        if rules is None:
            rules = self._rules[service] = ServiceRules(service, self.seed, self._names)
        return rules

    # ---- the loop (supervisor thread) ---------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except SupervisorFailure as e:
            self._fail(str(e))
        except BaseException as e:
            self._fail(f"supervisor loop crashed: {type(e).__name__}: {e}")
        finally:
            self._shutdown()

    def _loop(self) -> None:
        if self._native is not None:
            self._native_loop(self._native)
        else:
            self._python_loop()

    def _python_loop(self) -> None:
        """The reference loop: every notification handled in Python (:meth:`_handle`)."""
        poll = self._ep.poll
        listeners, pidfds, timers = self._listeners, self._pidfds, self._timers
        handle, wake = self._handle, self._wake
        records = self._records
        while not self._stopping:
            timeout = -1.0
            if timers:
                timeout = max(0.0, (timers[0][0] - time.monotonic_ns()) / 1e9)
            for fd, mask in poll(timeout):
                att = listeners.get(fd)
                if att is not None:
                    if mask & _EPOLLIN:
                        handle(att)
                    elif mask & _EPOLLERR:
                        raise SupervisorFailure(f"listener of {att.service} reported an error")
                    elif mask & _EPOLLHUP:
                        self._close_listener(att)  # every filtered task has exited
                elif fd == wake:
                    os.eventfd_read(wake)
                else:
                    att = pidfds.get(fd)
                    if att is not None and not att.exited:
                        att.exited = True  # level-triggered and stays readable: unregister
                        self._ep.unregister(fd)
            if timers:
                self._fire_timers()
            if len(records) > BUFFER_CAP:  # bounded memory between two periodic flushes
                self._deliver()

    def _native_loop(self, engine: NativeEngine) -> None:
        """The native loop answers notifications itself and hands back the rest (below)."""
        run, timers = engine.loop.run, self._timers
        mod = engine.mod
        ev_fd, ev_delay, ev_miss, ev_fail = mod.EV_FD, mod.EV_DELAY, mod.EV_MISS, mod.EV_FAIL
        while not self._stopping:
            timeout_ms = -1
            if timers:
                timeout_ms = max(0, math.ceil((timers[0][0] - time.monotonic_ns()) / 1e6))
            for ev in run(timeout_ms):
                kind = ev[0]
                if kind == ev_fd:  # the wake-up eventfd, a pidfd, a listener's HUP/ERR
                    self._on_fd(ev[1], ev[2])
                elif kind == ev_delay:
                    _, fd, nid, due = ev
                    self._timer_seq += 1
                    heapq.heappush(timers, (due, self._timer_seq, self._listeners[fd], nid))
                elif kind == ev_miss:
                    with self._lock:
                        rec = engine.miss(ev[2], ev[3])
                    if isinstance(rec, tuple):  # a connect that may be redirected: ours
                        fd, nid, tid, nr, args = rec
                        self._process(self._listeners[fd], nid, tid, nr, args)
                    elif rec is not None:  # answered at once: a number no plan can exist for
                        self._append_record(rec)
                elif kind == ev_fail:
                    self._native_failure(ev[1], ev[2], ev[3])
                elif kind == mod.EV_PARTIAL:  # a partial() rule fired: the write is ours
                    self._partial.from_native(engine, self._listeners, ev[3])
                else:  # the record arena is full: deliver now
                    self._deliver()
            if timers:
                self._fire_timers()

    def _on_fd(self, fd: int, mask: int) -> None:
        """A wake-up, a pidfd, or a listener's error/hang-up (native loop; poll masks)."""
        att = self._listeners.get(fd)
        if att is not None:
            if mask & _EPOLLIN and att.journal is not None:
                self._handle(att)  # a journaled service: decided in Python
                return
            if mask & (_EPOLLERR | select.POLLNVAL):
                raise SupervisorFailure(f"listener of {att.service} reported an error")
            if mask & _EPOLLHUP:
                self._close_listener(att)  # every filtered task has exited
        elif fd == self._wake:
            os.eventfd_read(self._wake)
        else:
            att = self._pidfds.get(fd)
            if att is not None and not att.exited:
                att.exited = True  # level-triggered and stays readable: unregister
                self._ep.unregister(fd)
                engine = self._native
                if engine is not None:
                    engine.loop.watch(fd, False)

    def _native_failure(self, fd: int, err: int, what: str) -> None:
        """The messages of the Python loop, for the native loop's failures."""
        e = OSError(err, os.strerror(err))
        att = self._listeners.get(fd)
        service = att.service if att is not None else "?"
        if what == "RECV":
            raise SupervisorFailure(f"listener of {service}: RECV failed: {e}")
        if what == "ID_VALID":
            raise SupervisorFailure(f"listener of {service}: ID_VALID: {e}")
        if what == "SEND":
            raise SupervisorFailure(f"SEND failed: {e}")
        if what == "event ring overflow":
            raise SupervisorFailure("native loop: event ring overflow (an event would be lost)")
        if what == "allocation":
            raise SupervisorFailure(f"native loop: out of memory deciding for {service}")
        raise SupervisorFailure(f"{what} failed: {e}")

    def _handle(self, att: Attached) -> None:
        """Receive one notification of ``att`` and answer or park it."""
        fd = att.listener
        try:
            data = ioctl(fd, NOTIF_RECV, ZERO_NOTIF)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.EINTR):  # the task died / was interrupted
                self._dropped += 1
                return
            raise SupervisorFailure(f"listener of {att.service}: RECV failed: {e}") from e
        self._notifications += 1
        nid, tid, _flags, nr, _arch, _ip, *args = NOTIF.unpack(data)
        self._process(att, nid, tid, nr, args)

    def _process(self, att: Attached, nid: int, tid: int, nr: int, args: list[int]) -> None:
        """Decide and answer (or park) one received notification."""
        fd = att.listener
        rules = att.rules
        plan = rules.plans.get(nr) or rules.plan(nr)
        path, port = "", -1
        if plan.kind:
            path, port = self._resolver.resolve(plan.kind, tid, args)
            try:  # the data is only trustworthy if the task was still waiting meanwhile
                ioctl(fd, NOTIF_ID_VALID, _Q.pack(nid))
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise SupervisorFailure(f"listener of {att.service}: ID_VALID: {e}") from e
                self._dropped += 1
                return
        fired = evaluate(att.service, plan, path, port, tid, args) if plan.entries else None
        journal = att.journal
        if journal is not None and (fired is None or fired.action not in (ACT_DENY, ACT_PARTIAL)):
            # the pre-image is read now, before the write may run (a delayed one included)
            journal.note(plan.name, tid, args, path, self._resolver)
        # The record goes in before the answer: once the target sees the result, flush()
        # is guaranteed to deliver it.
        if fired is None:
            decision = "allow (system path)" if path and is_system_path(path) else "allow"
            via = self._redirects.get(port) if port > 0 and plan.name == "connect" else None
            if via is not None and via.owner != att.service:
                value = redirect_connect(fd, nid, tid, args[0], path, att.service, via)
                if value is not None:  # 0: proxied; -errno: the server refused
                    decision = "allow (proxied)" if value == 0 else "allow (refused)"
                    self._append_record(allowed_record(att.service, plan.name, tid, decision, path))
                    self._answer_value(fd, nid, value)
                    return
            self._append_record(allowed_record(att.service, plan.name, tid, decision, path))
            self._answer(fd, nid, 0)
            return
        action = fired.action
        if action == ACT_PARTIAL:  # the supervisor writes a prefix itself (partial_writes.py)
            return self._partial.perform(att, nid, tid, plan.name, args, path, fired)
        self._append_record(fired_record(att.service, plan.name, tid, path, fired))
        if action == ACT_DELAY:
            self._timer_seq += 1
            due = time.monotonic_ns() + fired.delay_ns
            heapq.heappush(self._timers, (due, self._timer_seq, att, nid))
        else:
            self._answer(fd, nid, fired.neg_errno if action == ACT_DENY else 0)

    def _answer(self, fd: int, nid: int, neg_errno: int) -> None:
        """CONTINUE (``neg_errno`` 0) or fail the syscall with ``neg_errno``."""
        resp = RESP.pack(nid, 0, neg_errno, 0 if neg_errno else FLAG_CONTINUE)
        try:
            ioctl(fd, NOTIF_SEND, resp)
        except OSError as e:
            if e.errno != errno.ENOENT:  # ENOENT: the task died meanwhile, nothing to answer
                raise SupervisorFailure(f"SEND failed: {e}") from e
            self._dropped += 1

    def _answer_value(self, fd: int, nid: int, value: int) -> None:
        """Complete the syscall without running it: 0, or -errno (it fails with errno)."""
        try:
            ioctl(fd, NOTIF_SEND, RESP.pack(nid, max(value, 0), min(value, 0), 0))
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise SupervisorFailure(f"SEND failed: {e}") from e
            self._dropped += 1

    def _fire_timers(self) -> None:
        timers = self._timers
        now = time.monotonic_ns()
        while timers and timers[0][0] <= now:
            _, _, att, nid = heapq.heappop(timers)
            if att.open:
                self._answer(att.listener, nid, 0)

    def _close_listener(self, att: Attached) -> None:
        if not att.open:
            return
        att.open = False
        fd = att.listener
        self._listeners.pop(fd, None)
        if self._native is not None:  # before close: the fd number will be reused
            self._native.detach(fd)
        with contextlib.suppress(OSError):
            self._ep.unregister(fd)
        os.close(fd)
        att.closed.set()

    def _deliver(self) -> int:
        """Pass buffered records to the sink, in order (any thread; serialised); how many."""
        records = self._records
        with self._deliver_lock:
            if self._native is not None:
                try:
                    records.extend(self._native.drain())
                except MemoryError:  # the records are lost: say so, do not run on silently
                    self._crash("supervisor: out of memory converting records")
                    return 0
            if self._sink_broken:  # it raised once and the services are dead: no more
                records.clear()
                return 0
            sink = self._sink
            count = len(records)
            try:
                while records:
                    sink(records.popleft())
            except BaseException as e:
                # Wherever delivery runs (the flush thread, a reader, the loop thread), a
                # sink that raises is a supervisor crash: the failure policy applies.
                self._sink_broken = True
                self._crash(f"supervisor loop crashed: {type(e).__name__}: {e}")
                return count - len(records)
            return count

    def _crash(self, reason: str) -> None:
        """Apply the failure policy and make the loop stop."""
        self._fail(reason)
        with self._lock:
            self._stopping = True
            if self._wake >= 0:
                os.eventfd_write(self._wake, 1)

    def _append_record(self, rec: SyscallRecord) -> None:
        """Queue a record made in Python, after every record the native loop made before."""
        if self._native is None:
            # The Python loop makes every record itself, so a plain (atomic) deque append keeps
            # the order; taking _deliver_lock would stall the loop while a delivery is stuck in
            # a slow sink, which is what the buffer is there to absorb.
            self._records.append(rec)
            return
        with self._deliver_lock:
            self._records.extend(self._native.drain())
            self._records.append(rec)

    # ---- failure and shutdown -----------------------------------------------------------

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self.failure is not None:
                return
            self.failure = reason
            attached = list(self._attached)
        for att in attached:  # kill first: a service without its supervisor must not run on
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(att.pidfd, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.killpg(att.pgid, signal.SIGKILL)
        callback = self.on_failure
        if callback is not None:
            with contextlib.suppress(Exception):  # the failure is already in .failure
                callback(reason)

    def _shutdown(self) -> None:
        """Answer every held and queued notification, then close every fd we own."""
        with self._lock:
            self._stopping = True
        for _, _, att, nid in self._timers:
            if att.open:
                quiet_continue(att.listener, nid)
        self._timers.clear()
        if self._native is not None:
            pending = self._native.loop.release_pending()
            if pending is not None and self.failure is None:
                sid, nr, tid = pending
                native = self._native
                self._append_record(allowed_record(native.service(sid), native.name(nr), tid))
        self._drain_queued()
        self._flusher.stop()  # nothing more to flush periodically; stop() flushes the rest
        for att in self._attached:
            self._close_listener(att)
            os.close(att.pidfd)
            att.closed.set()
        for journal in self._journals.values():
            journal.close()
        self._attached.clear()
        self._pidfds.clear()
        self._resolver.close()
        self._ep.close()
        with self._lock:
            os.close(self._wake)
            self._wake = -1
        if self.failure is None:
            try:
                self._deliver()
            except Exception as e:
                self._fail(f"sink raised: {type(e).__name__}: {e}")

    def _drain_queued(self) -> None:
        """CONTINUE notifications already queued on the listeners, each recorded as allowed."""
        for att, nr, tid in answer_queued(self._listeners, _DRAIN_BUDGET_S):
            if att is not None and self.failure is None:
                self._append_record(allowed_record(att.service, att.rules.plan(nr).name, tid))
