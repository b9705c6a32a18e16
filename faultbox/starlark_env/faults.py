"""Syscall fault builtins: deny, delay, allow, fault, fault_start/stop, trace, trace_start/stop,
partition.

``deny()``/``delay()`` only describe a rule; ``fault()`` binds rules to a service's syscalls or
named ops and applies them for the duration of ``run``. Rules stack: a fault inside a trace, or
two faults on one service, are all active together (the original replaced them).
"""

from __future__ import annotations

from typing import Any

from ._builtin import builtin, type_name, want
from ._interp import call_starlark, is_callable
from .duration_args import rule_duration
from .errors import SpecError
from .values import FaultRuleSpec, Service


def parse_probability(value: Any, builtin_name: str) -> float:
    """``"50%"`` → 0.5, ``0.5`` → 0.5, ``"0.5"`` → 0.5; anything outside 0–100% is an error."""
    if isinstance(value, bool):
        raise SpecError(f'{builtin_name}(): probability must be like "50%" or 0.5, got bool')
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text.rstrip("%"))
        except ValueError:
            raise SpecError(
                f'{builtin_name}(): probability {value!r} is not a number (write "50%" or 0.5)'
            ) from None
        fraction = number / 100 if text.endswith("%") else number
    elif isinstance(value, int | float):
        fraction = float(value)
    else:
        raise SpecError(f'{builtin_name}(): probability must be like "50%" or 0.5')
    if not 0.0 <= fraction <= 1.0:
        raise SpecError(f"{builtin_name}(): probability {value!r} is outside 0-100%")
    return fraction


def errno_value(name: Any, builtin_name: str = "deny") -> tuple[str, int]:
    from faultbox.intercept import errno_from_name

    if not isinstance(name, str):
        raise SpecError(f'{builtin_name}(): errno must be a name like "EIO", got {type_name(name)}')
    upper = name.strip().upper()
    try:
        return upper, errno_from_name(upper)
    except ValueError:
        raise SpecError(
            f"{builtin_name}(): unknown errno {name!r} (e.g. EIO, ENOSPC, ECONNREFUSED, ENOENT)"
        ) from None


def duration_value(text: Any, builtin_name: str = "delay") -> tuple[int, str]:
    return rule_duration(text, builtin_name)  # bounded to 24h: duration_args.py


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
def delay(duration: Any, probability: Any = "100%", label: str = "") -> FaultRuleSpec:
    """Hold the syscall for ``duration``, then let it run."""
    ns, text = duration_value(duration)
    want(label, str, "delay", "label", "a string")
    return FaultRuleSpec(
        "delay", delay_ns=ns, delay_text=text,
        probability=parse_probability(probability, "delay"), label=label,
    )  # fmt: skip


@builtin("allow")
def allow() -> FaultRuleSpec:
    """A rule that never changes anything (it only makes the syscall intercepted and recorded)."""
    return FaultRuleSpec("allow")


def build_rules(svc: Service, faults: dict[str, Any], builtin_name: str) -> list[Any]:
    """Turn ``{"write": deny("EIO"), "persist": …}`` into intercept ``Rule``s for ``svc``."""
    from faultbox.intercept import Rule, expand_syscalls

    rules = []
    for key, spec in faults.items():
        if not isinstance(spec, FaultRuleSpec):
            raise SpecError(
                f"{builtin_name}(): {key}= must be deny(...), delay(...) or allow(), "
                f"got {type_name(spec)}"
            )
        op_name, path_glob = "", ""
        if key in svc.ops:
            op_def = svc.ops[key]
            syscalls, op_name, path_glob = op_def.expanded, key, op_def.path
        else:
            try:
                syscalls = expand_syscalls(key)
            except ValueError:
                ops = f"; ops of {svc.name}: {', '.join(svc.ops)}" if svc.ops else ""
                raise SpecError(
                    f"{builtin_name}(): {key!r} is neither a syscall nor an op of "
                    f"service {svc.name!r}{ops}"
                ) from None
        rules.append(
            Rule(
                key=key,
                action=spec.action,
                syscalls=tuple(syscalls),
                errno=spec.errno,
                errno_name=spec.errno_name,
                delay_ns=spec.delay_ns,
                probability=spec.probability,
                label=spec.label,
                op=op_name,
                path_glob=path_glob,
            )  # fmt: skip
        )
    return rules


def trace_rules(svc: Service, syscalls: Any, builtin_name: str) -> list[Any]:
    from faultbox.intercept import Rule, expand_syscalls

    if syscalls is None:
        raise SpecError(f'{builtin_name}(): syscalls= is required, e.g. syscalls=["write"]')
    if not isinstance(syscalls, list | tuple) and type_name(syscalls) != "list":
        raise SpecError(f"{builtin_name}(): syscalls= must be a list of syscall names")
    rules = []
    for name in syscalls:
        if not isinstance(name, str):
            raise SpecError(f"{builtin_name}(): syscalls= must contain strings")
        if name in svc.ops:
            op_def = svc.ops[name]
            rules.append(
                Rule(
                    key=name,
                    action="trace",
                    syscalls=op_def.expanded,
                    op=name,
                    path_glob=op_def.path,
                )  # fmt: skip
            )
            continue
        try:
            expanded = expand_syscalls(name)
        except ValueError:
            raise SpecError(f"{builtin_name}(): unknown syscall {name!r}") from None
        rules.append(Rule(key=name, action="trace", syscalls=tuple(expanded)))
    return rules


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
    from faultbox.runtime.context import require_session

    return require_session(builtin_name)


@builtin("fault")
def fault(target: Any, run: Any = None, **faults: Any) -> Any:
    """Apply syscall faults to a service (or a fault_assumption) while ``run()`` runs."""
    from .composition import FaultAssumption

    run = _run_arg(run, "fault")
    session = _session("fault")
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
def fault_start(target: Any, **faults: Any) -> None:
    """Apply faults until ``fault_stop(service)`` (or the end of the test)."""
    svc = _service_arg(target, "fault_start")
    if not faults:
        raise SpecError('fault_start(): give at least one fault, e.g. write=deny("EIO")')
    _session("fault_start").apply(
        svc, "fault", build_rules(svc, faults, "fault_start"), origin="start"
    )


@builtin("fault_stop")
def fault_stop(target: Any) -> None:
    """Remove the faults started on the service with fault_start() (not those of fault())."""
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


def partition_rules(a: Service, b: Service) -> list[tuple[Service, list[Any]]]:
    """Connect-refused rules both ways between two services (by the other's interface ports)."""
    from faultbox.intercept import Rule, errno_from_name

    out = []
    for src, dst in ((a, b), (b, a)):
        ports = frozenset(i.port for i in dst.interfaces.values())
        if not ports:
            continue
        rule = Rule(
            key="connect", action="deny", syscalls=("connect",),
            errno=errno_from_name("ECONNREFUSED"), errno_name="ECONNREFUSED",
            label=f"partition {a.name}<->{b.name}", dest_ports=ports,
        )  # fmt: skip
        out.append((src, [rule]))
    return out


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
