"""Rule sets: the arguments of ``deny``/``delay``/``partial`` and how fault keywords become
intercept rules.

``fault()``, ``fault_start()``, ``trace()``, ``partition()`` and ``fault_assumption()`` all
build their rules here; the load-time checks reuse the argument parsers on literals.
"""

from __future__ import annotations

from typing import Any

from faultbox.intercept import Rule, errno_from_name, expand_syscalls
from faultbox.intercept.rules import PARTIAL_SYSCALLS

from ._builtin import type_name
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
    """``"eio"`` → ``("EIO", 5)``; an unknown name is a SpecError."""
    if not isinstance(name, str):
        raise SpecError(f'{builtin_name}(): errno must be a name like "EIO", got {type_name(name)}')
    upper = name.strip().upper()
    try:
        return upper, errno_from_name(upper)
    except ValueError:
        raise SpecError(
            f"{builtin_name}(): unknown errno {name!r} (e.g. EIO, ENOSPC, ECONNREFUSED, ENOENT)"
        ) from None


def partial_args(size: Any, fraction: Any) -> tuple[int, float]:
    """``partial(bytes=N)`` / ``partial(fraction=F)`` → (N, F); 0 for what is not given."""
    if size is not None and fraction is not None:
        raise SpecError("partial(): give bytes= or fraction=, not both")
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise SpecError(f"partial(): bytes= must be a whole number >= 1, got {size!r}")
        return size, 0.0
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            raise SpecError(f"partial(): fraction= must be a number, got {type_name(fraction)}")
        if not 0.0 < fraction < 1.0:
            raise SpecError(
                f"partial(): fraction= must be between 0 and 1 (exclusive), got {fraction!r}"
            )
        return 0, float(fraction)
    return 0, 0.0


def partial_syscalls(
    key: str, syscalls: tuple[str, ...], op: bool, builtin_name: str
) -> tuple[str, ...]:
    """The write syscalls of ``key`` a partial() rule can cut; none is an error (a short
    count only exists for writes: ``fsync=partial()`` makes no sense)."""
    writes = tuple(s for s in syscalls if s in PARTIAL_SYSCALLS)
    if not writes:
        what = f"op {key!r} has no write syscall" if op else f"{key!r} is not a write"
        raise SpecError(
            f"{builtin_name}(): {key}=partial(): a partial result only exists for writes "
            f"({', '.join(sorted(PARTIAL_SYSCALLS))}); {what}"
        )
    return writes


def duration_value(text: Any, builtin_name: str = "delay") -> tuple[int, str]:
    """``"100ms"`` → ``(100_000_000, "100ms")`` (bounded: see duration_args.py)."""
    return rule_duration(text, builtin_name)  # bounded to 24h: duration_args.py


def build_rules(svc: Service, faults: dict[str, Any], builtin_name: str) -> list[Rule]:
    """Turn ``{"write": deny("EIO"), "persist": …}`` into intercept ``Rule``s for ``svc``."""
    rules = []
    for key, spec in faults.items():
        if not isinstance(spec, FaultRuleSpec):
            raise SpecError(
                f"{builtin_name}(): {key}= must be deny(...), delay(...), partial(...) or "
                f"allow(), got {type_name(spec)}"
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
        if spec.action == "partial":  # an op's fsync etc. stay uncut: only its writes
            syscalls = partial_syscalls(key, tuple(syscalls), bool(op_name), builtin_name)
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
                partial_bytes=spec.partial_bytes,
                partial_fraction=spec.partial_fraction,
            )  # fmt: skip
        )
    return rules


def trace_rules(svc: Service, syscalls: Any, builtin_name: str) -> list[Rule]:
    """``syscalls=["openat", "persist"]`` as ``trace`` rules for ``svc``."""
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


def partition_rules(a: Service, b: Service) -> list[tuple[Service, list[Rule]]]:
    """Connect-refused rules both ways between two services (by the other's interface ports)."""
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
