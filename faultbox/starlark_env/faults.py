"""Syscall fault builtins: deny, delay, partial, allow, fault, fault_start/stop, trace,
trace_start/stop, partition.

``deny()``/``delay()`` only describe a rule; ``fault()`` binds rules to a service's syscalls or
named ops and applies them for the duration of ``run``. Rules stack: a fault inside a trace, or
two faults on one service, are all active together (the original replaced them).
"""

from __future__ import annotations

from typing import Any

from ._builtin import builtin, type_name, want
from ._interp import call_starlark, is_callable
from .context import require_session
from .errors import SpecError
from .plans import FaultAssumption
from .protocol_rules import ProtocolRuleSpec, bind_rules, protocol_delay
from .rule_sets import (
    build_rules,
    duration_value,
    errno_value,
    parse_probability,
    partial_args,
    partition_rules,
    trace_rules,
)
from .values import FaultRuleSpec, InterfaceRef, Service


@builtin("deny")
def deny(errno: Any, probability: Any = "100%", label: str = "") -> FaultRuleSpec:
    """Fail the syscall with ``errno`` instead of running it."""
    name, number = errno_value(errno)
    want(label, str, "deny", "label", "a string")
    return FaultRuleSpec(
        "deny", errno_name=name, errno=number,
        probability=parse_probability(probability, "deny"), label=label,
    )  # fmt: skip


@builtin("delay")
def delay(
    duration: Any = None, probability: Any = "100%", label: str = "", delay: Any = None,
    method: Any = None, path: Any = None, query: Any = None, command: Any = None,
    key: Any = None, topic: Any = None,
) -> FaultRuleSpec | ProtocolRuleSpec:  # fmt: skip
    """Hold the syscall for ``duration``, then let it run. With match criteria (``query=``,
    ``path=``, …) or ``delay=``, a protocol delay for an interface target."""
    if duration is not None and delay is not None:
        raise SpecError('delay(): give the duration once (delay("500ms") or delay=)')
    crit = {"method": method, "path": path, "query": query, "command": command, "key": key,
            "topic": topic}  # fmt: skip
    if delay is not None or any(v is not None for v in crit.values()):
        return protocol_delay(delay if delay is not None else duration, crit, probability, label)
    if duration is None:
        raise SpecError('delay(): missing the duration, e.g. delay("100ms")')
    ns, text = duration_value(duration)
    want(label, str, "delay", "label", "a string")
    return FaultRuleSpec(
        "delay", delay_ns=ns, delay_text=text,
        probability=parse_probability(probability, "delay"), label=label,
    )  # fmt: skip


@builtin("partial")
def partial(
    bytes: Any = None, fraction: Any = None, probability: Any = "100%", label: str = ""
) -> FaultRuleSpec:
    """Cut a write short: the supervisor writes only a prefix — ``bytes`` bytes, or
    ``fraction`` of the write, else a seeded length in 1..len-1 — and the call returns that
    count (intercept/partial_writes.py)."""
    size, part = partial_args(bytes, fraction)
    want(label, str, "partial", "label", "a string")
    return FaultRuleSpec(
        "partial", partial_bytes=size, partial_fraction=part,
        probability=parse_probability(probability, "partial"), label=label,
    )  # fmt: skip


@builtin("allow")
def allow() -> FaultRuleSpec:
    """A rule that never changes anything (it only makes the syscall intercepted and recorded)."""
    return FaultRuleSpec("allow")


def _service_arg(value: Any, builtin_name: str) -> Service:
    if not isinstance(value, Service):
        raise SpecError(
            f"{builtin_name}(): first argument must be a service, got {type_name(value)}"
        )
    return value


def _run_arg(run: Any, builtin_name: str) -> Any:
    if run is None:
        raise SpecError(f"{builtin_name}(): run= is required (the function to run under the fault)")
    if not is_callable(run):
        raise SpecError(f"{builtin_name}(): run= must be a function, got {type_name(run)}")
    return run


def _session(builtin_name: str) -> Any:
    return require_session(builtin_name)


@builtin("fault")
def fault(target: Any, *rules: Any, run: Any = None, **faults: Any) -> Any:
    """Apply syscall faults to a service (or a fault_assumption), or protocol rules to an
    interface (``fault(db.main, error(query="INSERT*"), run=fn)``), while ``run()`` runs."""
    run = _run_arg(run, "fault")
    session = _session("fault")
    if isinstance(target, InterfaceRef):
        if faults:
            raise SpecError("fault(): an interface takes protocol rules, not syscall keywords "
                            f"({', '.join(faults)}=); fault the service for those")  # fmt: skip
        handle = session.protocol.apply(target, bind_rules(target, rules, "fault"))
        try:
            return call_starlark(run)
        finally:
            session.protocol.remove(handle)
    if rules:
        raise SpecError("fault(): protocol rules need an interface target, e.g. "
                        "fault(db.main, error(query=\"INSERT*\"), run=fn)")  # fmt: skip
    if isinstance(target, FaultAssumption):
        if faults:
            raise SpecError("fault(): with a fault_assumption, give no other fault keywords")
        with session.assumptions([target]):
            return call_starlark(run)
    svc = _service_arg(target, "fault")
    if not faults:
        raise SpecError('fault(): give at least one fault, e.g. write=deny("EIO")')
    handle = session.apply(svc, "fault", build_rules(svc, faults, "fault"))
    try:
        return call_starlark(run)
    finally:
        session.remove(handle)


@builtin("fault_start")
def fault_start(target: Any, *rules: Any, **faults: Any) -> None:
    """Apply faults until ``fault_stop(service)`` (or the end of the test)."""
    if isinstance(target, InterfaceRef):
        if faults:
            raise SpecError("fault_start(): an interface takes protocol rules, not syscall "
                            "keywords")  # fmt: skip
        rules_ = bind_rules(target, rules, "fault_start")
        _session("fault_start").protocol.apply(target, rules_, origin="start")
        return
    if rules:
        raise SpecError("fault_start(): protocol rules need an interface target, e.g. "
                        "fault_start(db.main, error(...))")  # fmt: skip
    svc = _service_arg(target, "fault_start")
    if not faults:
        raise SpecError('fault_start(): give at least one fault, e.g. write=deny("EIO")')
    _session("fault_start").apply(
        svc, "fault", build_rules(svc, faults, "fault_start"), origin="start"
    )


@builtin("fault_stop")
def fault_stop(target: Any) -> None:
    """Remove the faults started on the service with fault_start() (not those of fault())."""
    if isinstance(target, InterfaceRef):
        _session("fault_stop").protocol.remove_started(target)
        return
    _session("fault_stop").remove_started(_service_arg(target, "fault_stop"), "fault")


@builtin("trace")
def trace(target: Any, syscalls: Any = None, run: Any = None) -> Any:
    """Record the given syscalls of a service (decision ``trace``) while ``run()`` runs."""
    svc = _service_arg(target, "trace")
    rules = trace_rules(svc, syscalls, "trace")
    run = _run_arg(run, "trace")
    session = _session("trace")
    handle = session.apply(svc, "trace", rules)
    try:
        return call_starlark(run)
    finally:
        session.remove(handle)


@builtin("trace_start")
def trace_start(target: Any, syscalls: Any = None) -> None:
    svc = _service_arg(target, "trace_start")
    _session("trace_start").apply(
        svc, "trace", trace_rules(svc, syscalls, "trace_start"), origin="start"
    )


@builtin("trace_stop")
def trace_stop(target: Any) -> None:
    _session("trace_stop").remove_started(_service_arg(target, "trace_stop"), "trace")


@builtin("partition")
def partition(a: Any, b: Any, run: Any = None) -> Any:
    """Refuse connections between two services, both ways, while ``run()`` runs."""
    svc_a, svc_b = _service_arg(a, "partition"), _service_arg(b, "partition")
    if svc_a is svc_b:
        raise SpecError("partition(): the two services must differ")
    run = _run_arg(run, "partition")
    session = _session("partition")
    with session.partition(svc_a, svc_b, partition_rules(svc_a, svc_b)):
        return call_starlark(run)
