"""One test's world: fresh services, one supervisor, the event log, active rules, teardown."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import httpx

from faultbox.common.binaries import find_binary
from faultbox.intercept import Supervisor, format_go_duration
from faultbox.intercept.records import PartialRecord
from faultbox.starlark_env.errors import SpecError
from faultbox.starlark_env.loader import LoadedSpec
from faultbox.starlark_env.step_methods import StepHandler
from faultbox.starlark_env.values import InterfaceRef, Service
from faultbox.trace.events import EventLog
from faultbox.trace.results import RuleReport
from faultbox.trace.vocabulary import EventType, Field

from . import lifecycle
from .containers import container_service
from .exits import ExitWatch
from .health import port_owner, wait_ports_free, wait_ready
from .monitors import MonitorSet
from .process import ServiceProcess, ServiceStartError
from .proxy_session import ProtocolFaults
from .reaper import become_subreaper, children_now, end_strays
from .source_readers import background_sources, line_callbacks, start_reader
from .steps import HTTP_TIMEOUT_S, run_step
from .tmpdirs import expand_tmpdir
from .watchdog import RUN_ID_ENV, ensure_watchdog, run_tmpdir


def service_env(svc: Service, services: list[Service], inherit: bool = True) -> dict[str, str]:
    """Inherited environment + ``FAULTBOX_<SVC>_<IFACE>_{HOST,PORT,ADDR}`` + the spec's env,
    and the run's ``FAULTBOX_RUN_ID`` mark (see ``watchdog.py``). A container (``inherit``
    False) gets no host environment: its image's own environment stays."""
    env = dict(os.environ) if inherit else {}
    for other in services:
        for iface in other.interfaces.values():
            prefix = f"FAULTBOX_{_env_name(other.name)}_{_env_name(iface.name)}"
            env[f"{prefix}_HOST"] = iface.host
            env[f"{prefix}_PORT"] = str(iface.port)
            env[f"{prefix}_ADDR"] = iface.addr
    env.update(svc.env)
    # After the spec's env, so that a spec cannot unmark its services by accident.
    env[RUN_ID_ENV] = ensure_watchdog()
    return env


def _env_name(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).upper()


def rule_spec_text(rule: Any) -> str:
    """A rule as the console shows it: ``deny(EIO)``, ``delay(100ms)``, ``allow()``, ``trace``."""
    if rule.action == "deny":
        return f"deny({rule.errno_name})"
    if rule.action == "delay":
        return f"delay({format_go_duration(rule.delay_ns)})"
    if rule.action == "allow":
        return "allow()"
    if rule.action == "partial":
        return str(rule.decision())  # partial(), partial(bytes=N), partial(fraction=F)
    return "trace"


def _errno_slot(rule: Any) -> str:
    """What the JSON ``errno`` slot shows: the errno name, or a delay's duration."""
    if rule.action == "deny":
        return rule.errno_name
    if rule.action == "delay":
        return rule_spec_text(rule)[len("delay(") : -1]
    if rule.action == "partial":  # its size: "bytes=N", "fraction=F" or ""
        return rule_spec_text(rule)[len("partial(") : -1]
    return ""


class Session:
    """Everything one test run owns; :meth:`teardown` releases all of it."""

    def __init__(
        self, spec: LoadedSpec, seed: int, *, echo_output: bool = False, echo_to: Any = None
    ) -> None:
        self.spec = spec
        self.seed = seed
        self.echo_output = echo_output
        self.echo_to = echo_to  # where --verbose echoes service output (stdout by default)
        self.log = EventLog()
        self._assertions = 0  # assertion builtins called by the test body (see the property)
        self.last_assertion_seq = 0  # events in the log when the last assertion ran
        self.trace_assertions = 0  # of those: assert_eventually / assert_never / assert_before
        self.processes: dict[str, ServiceProcess] = {}
        self.supervisor: Any = None
        self.failure: str | None = None  # set when the supervisor fails
        self.rule_reports: list[RuleReport] = []
        self._handles: dict[int, tuple[Service, str, list[RuleReport], Any, str]] = {}
        self._next_handle = 1
        self._lock = threading.Lock()
        self._http: httpx.Client | None = None
        self.monitors = MonitorSet(self)
        self.sources: list[Any] = []
        # Services' own exits: recorded before every look at the trace (see exits.py).
        self.exits = ExitWatch(self.log)
        self.log.add_drain(self._reap_exits)
        # Inside the run directory, which the watchdog removes should faultbox be killed.
        self.tmpdir = tempfile.mkdtemp(prefix="faultbox-", dir=run_tmpdir())
        self.aborted = threading.Event()
        # Daemons that services fork off are re-parented to us and ended with the test.
        become_subreaper()
        self.run_id = ensure_watchdog()  # before the snapshot: the watchdog is no stray
        self._children_before = children_now()
        self.left_behind: list[str] = []  # processes that outlived their service (ended)
        # Set before start_services() by a test case's prepare hook (failure-lab stages):
        # service name -> the Service to start instead (env/args/binary variant), and labels.
        self.overrides: dict[str, Service] = {}
        self.labels: dict[str, str] = {}
        self.test_name = ""  # set by the runner; labels this test's containers
        self.protocol = ProtocolFaults(self)  # protocol rules, the proxy and its redirects

    @property
    def assertions(self) -> int:
        """Assertion builtins called by the test body (they do ``assertions += 1``)."""
        return self._assertions

    @assertions.setter
    def assertions(self, value: int) -> None:
        # Where in the trace the assertion ran: one made after a step's answer may check what
        # the caller saw (diagnostics then do not call a passing fault test vacuous).
        self.last_assertion_seq = len(self.log)
        self._assertions = value

    # ------------------------------------------------------------------ services

    def start_services(self) -> None:
        """Start every service in dependency order and wait until each is ready."""
        order = self.spec.registry.start_order()
        ports = [i.port for s in order for i in s.interfaces.values()]
        busy = wait_ports_free(ports)
        for port in busy:
            owner = next(s.name for s in order for i in s.interfaces.values() if i.port == port)
            who = port_owner(port)
            raise ServiceStartError(
                f'service "{owner}" failed to start: port {port} is already in use'
                + (f" by {who}" if who else "")
            )
        notify_sets = self.spec.registry.notify_sets
        for svc in order:
            self._start_one(svc, order, notify_sets.get(svc.name, set()))

    def _start_one(self, svc: Service, order: list[Service], notify: set[str]) -> None:
        svc = self.overrides.get(svc.name, svc)
        line_sources = line_callbacks(self.log, svc)
        proc: ServiceProcess
        if svc.image:  # a container on the Docker engine (runtime/containers.py)
            proc = container_service(
                svc, service_env(svc, order, inherit=False),
                session_tmpdir=self.tmpdir, spec_dir=self.spec.path.parent,
                run_id=self.run_id, test=self.test_name, notify=notify,
                line_callbacks=line_sources, echo=self._echo if self.echo_output else None,
            )  # fmt: skip
        else:
            binary = self._resolve_binary(svc)
            argv, env = expand_tmpdir(  # "{tmpdir}" → this service's directory for this test
                [binary, *svc.args], service_env(svc, order),
                session_tmpdir=self.tmpdir, service=svc.name, user=svc.user,
            )  # fmt: skip
            proc = ServiceProcess(
                svc.name, argv, env,
                cwd=svc.workdir or None, notify=notify, user=svc.user,
                line_callbacks=line_sources,
                echo=self._echo if self.echo_output else None,
            )  # fmt: skip
        proc.start()
        self.processes[svc.name] = proc
        self.log.add_drain(proc.settle_output)
        self.log.emit(EventType.SERVICE_STARTED, svc.name, {Field.PID: str(proc.pid)})
        proc.exit_callbacks.append(functools.partial(self._on_exit, svc.name))
        if proc.proc.listener_fd is not None:
            try:
                if svc.name in self.spec.registry.journaled:  # crash(lose_unsynced=True)
                    self._supervisor().enable_journal(svc.name)
                self._supervisor().attach(svc.name, proc.proc)
            except RuntimeError as exc:  # the supervisor already failed or is stopping
                raise ServiceStartError(f'service "{svc.name}" failed to start: {exc}') from None
        ports = [i.port for i in svc.interfaces.values()]
        wait_ready(proc, svc.healthcheck, ports)
        self.log.emit_ordered(EventType.SERVICE_READY, svc.name)
        for decl in background_sources(svc):  # this test's readers; the session stops them
            self.sources.append(start_reader(self.log, svc, decl))

    def crash(self, name: str, lose_unsynced: bool = False, torn: bool = False) -> None:
        """SIGKILL a service mid-test (the ``crash()`` builtin; see lifecycle.py)."""
        lifecycle.crash(self, name, lose_unsynced, torn)

    def restart(self, name: str) -> None:
        """Start a service again as it was started (the ``restart()`` builtin)."""
        self._reap_exits()
        self.exits.acknowledge_service(name)  # restarting a service that died handles it
        lifecycle.restart(self, name)

    def _reap_exits(self) -> None:
        self.exits.reap(self.processes)

    def unexpected_exit(self) -> str:
        """Why the test fails because a service exited by itself and the test never asserted
        on it ("" if none); see exits.py."""
        self._reap_exits()
        return self.exits.failure_reason()

    def _resolve_binary(self, svc: Service) -> str:
        found, problem = find_binary(svc.binary, self.spec.path.parent)
        if found is None:
            raise ServiceStartError(f'service "{svc.name}" failed to start: {problem}')
        return found

    def _echo(self, service: str, line: str) -> None:
        import sys

        out = self.echo_to or sys.stdout
        out.write(f"[{service}] {line}\n")
        out.flush()

    def _on_exit(self, name: str, code: int) -> None:
        self.exits.record(name, self.processes.get(name), code)

    def _supervisor(self) -> Any:
        if self.supervisor is None:
            # The supervisor buffers (the hot path only records) and flushes every 5 ms;
            # readers flush before looking, so monitors see events within those 5 ms.
            self.supervisor = Supervisor(
                self._on_syscall, self.seed, on_failure=self._on_supervisor_failure
            )
            self.log.add_drain(self.supervisor.flush, orders_own_events=True)
            self.protocol.start(self.supervisor)  # before any service attaches and connects
        return self.supervisor

    def _on_syscall(self, rec: Any) -> None:
        fields = {Field.SYSCALL: rec.syscall, Field.PID: str(rec.pid),
                  Field.DECISION: rec.decision}  # fmt: skip
        if rec.path:
            fields[Field.PATH] = rec.path
        if rec.latency_ms:
            fields[Field.LATENCY_MS] = f"{rec.latency_ms:g}"
        if rec.label:
            fields[Field.LABEL] = rec.label
        if rec.op:
            fields[Field.OP] = rec.op
        if isinstance(rec, PartialRecord):  # a write partial() cut: asked for, and got
            fields[Field.REQUESTED], fields[Field.WRITTEN] = str(rec.requested), str(rec.written)
        # The log applies the syscall clock rule (an allowed connect/sendto merges clocks).
        self.log.emit(EventType.SYSCALL, rec.service, fields, timestamp_ns=rec.timestamp_ns)

    def _on_supervisor_failure(self, reason: str) -> None:
        self.failure = f"supervisor failed: {reason}"
        self.aborted.set()

    # ------------------------------------------------------------------ rules

    def apply(self, svc: Service, kind: str, rules: list[Any], *, origin: str = "") -> int:
        """Activate ``rules`` on ``svc`` (they stack with the active ones); return a handle.

        ``origin`` tags rules started imperatively (``fault_start``/``trace_start``) so that
        ``fault_stop``/``trace_stop`` remove exactly those.
        """
        notify = self.spec.registry.notify_sets.get(svc.name, set())
        for rule in rules:
            missing = [s for s in rule.syscalls if s not in notify]
            if len(missing) == len(rule.syscalls):
                raise SpecError(
                    f"{rule.key}= on {svc.name!r} cannot take effect: its syscalls "
                    f"({', '.join(rule.syscalls)}) are not intercepted for this service. "
                    "faultbox decides what to intercept before services start, from the spec; "
                    f"name the service directly, e.g. fault({svc.name}, {rule.key}=...)"
                )
        reports = [
            RuleReport(
                kind=kind,
                service=svc.name,
                key=r.key,
                action=r.action,
                spec=rule_spec_text(r),
                filter=list(r.syscalls),
                label=r.label,
                path_glob=r.path_glob,
                errno=_errno_slot(r),
            )
            for r in rules
        ]
        fields = {}
        for rep in reports:
            text = f"{rep.spec} → filter:[{','.join(rep.filter)}]"
            if rep.label:
                text += f' label="{rep.label}"'
            fields[rep.key] = text
        event = EventType.TRACE_APPLIED if kind == "trace" else EventType.FAULT_APPLIED
        if kind != "partition":
            # Before the rules go in: every record sequenced ahead of the event was decided
            # without them (one made in between is merely allowed after it).
            self.log.emit_ordered(event, svc.name, fields)
        sup_handle = self._supervisor().add_rules(svc.name, rules) if rules else None
        with self._lock:
            handle = self._next_handle
            self._next_handle += 1
            self._handles[handle] = (svc, kind, reports, sup_handle, origin)
            self.rule_reports.extend(reports)
        return handle

    def remove(self, handle: int) -> None:
        with self._lock:
            entry = self._handles.pop(handle, None)
        if entry is None:
            return
        svc, kind, reports, sup_handle, _ = entry
        self._collect_hits(reports, sup_handle)
        if sup_handle is not None and self.supervisor is not None:
            self.supervisor.remove_rules(svc.name, sup_handle)
        if kind != "partition":
            removed = EventType.TRACE_REMOVED if kind == "trace" else EventType.FAULT_REMOVED
            self.log.emit_ordered(removed, svc.name)
        # When a fault()/trace() scope ends, monitors have seen every event of that scope.
        self.log.sync()

    def _collect_hits(self, reports: list[RuleReport], sup_handle: Any) -> None:
        if sup_handle is None or self.supervisor is None:
            return
        self.supervisor.flush()
        for rep, hits in zip(reports, self.supervisor.hits(sup_handle), strict=False):
            rep.hits = hits

    def remove_started(self, svc: Service, kind: str) -> None:
        """Remove the rules of ``kind`` that ``fault_start``/``trace_start`` put on ``svc``."""
        with self._lock:
            handles = [
                h
                for h, (s, k, _, _, origin) in self._handles.items()
                if s is svc and k == kind and origin == "start"
            ]
        for h in handles:
            self.remove(h)

    @contextlib.contextmanager
    def partition(
        self, a: Service, b: Service, rules: list[tuple[Service, list[Any]]]
    ) -> Iterator[None]:
        between = f"{a.name},{b.name}"
        self.log.emit_ordered(EventType.PARTITION_APPLIED, "", {Field.BETWEEN: between})
        handles = [self.apply(svc, "partition", r) for svc, r in rules]
        try:
            yield
        finally:
            for h in handles:
                self.remove(h)
            self.log.emit_ordered(EventType.PARTITION_REMOVED, "", {Field.BETWEEN: between})

    @contextlib.contextmanager
    def assumptions(self, assumptions: list[Any]) -> Iterator[None]:
        """Apply fault assumptions (and their monitors) for the duration of the block."""
        handles = []
        try:
            for fa in assumptions:
                self.add_monitors(fa.all_monitors())
                for svc, rules in fa.rules_by_service():
                    handles.append(self.apply(svc, "fault", rules))
                for iface, protocol_rules in fa.protocol_by_interface():
                    handles.append(-self.protocol.apply(iface, protocol_rules))
            yield
        finally:
            for h in reversed(handles):  # negative: a protocol rule set
                if h < 0:
                    self.protocol.remove(-h)
                else:
                    self.remove(h)

    def add_monitors(self, monitors: list[Any]) -> None:
        self.monitors.add(monitors)

    def run_step(
        self, iface: InterfaceRef, method: str, handler: StepHandler, kwargs: dict[str, Any]
    ) -> Any:
        """Run a step the spec called (checked by ``starlark_env.step_methods``)."""
        return run_step(self, iface, method, handler, kwargs)

    def http_client(self) -> httpx.Client:
        if self._http is None:
            # Steps speak plain HTTP to loopback; skipping TLS setup saves loading the CA
            # bundle (~27 ms) in every test.
            self._http = httpx.Client(timeout=HTTP_TIMEOUT_S, verify=False)
        return self._http

    # ------------------------------------------------------------------ teardown

    def abort(self) -> None:
        """Stop everything now (timeout, Ctrl-C): held syscalls are released, services killed."""
        self.aborted.set()
        for proc in self.processes.values():
            proc.kill()
        if self.supervisor is not None:
            self.supervisor.stop()

    def finish_rules(self) -> None:
        """Collect hit counts of rules still active at the end of the test."""
        with self._lock:
            entries = list(self._handles.values())
        for _, _, reports, sup_handle, _ in entries:
            self._collect_hits(reports, sup_handle)
        self.protocol.finish()

    def teardown(self) -> None:
        """Release everything: sources, services (reverse order), supervisor, files, clients."""
        self._reap_exits()  # an exit that happened before the stop is recorded, not lost
        for source in reversed(self.sources):
            with contextlib.suppress(Exception):
                source.stop()
        if self.supervisor is not None:
            self.supervisor.flush()
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            svc = self.spec.registry.services[name]
            proc.stop(svc.stop_timeout_s)
        self.protocol.close()
        if self.supervisor is not None:
            self.supervisor.stop()
        self.left_behind = end_strays(self._children_before)
        self.monitors.close()
        self.log.close()
        if self._http is not None:
            self._http.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
