"""Notify sets: the syscalls each service's seccomp filter must hand to the supervisor.

The filter of a service is fixed when it starts, but ``fault(db, write=…)`` inside a test body
only runs later. So before anything starts, every call that can fault, trace or observe a
service is read from the syntax trees (``spec_syntax.collect_calls``) and its service argument
resolved against the file's globals:

- ``fault``, ``fault_start``, ``fault_assumption``: each fault keyword — a named op of the
  target (its syscalls) or a syscall (its family: ``write`` → write, writev, pwrite64, …);
- ``trace``, ``trace_start``: each literal name in ``syscalls=[…]``, the same way;
- ``partition(a, b)``: ``connect`` on both;
- ``monitor``, ``events``, ``assert_eventually``, ``assert_never``, ``assert_before``: the
  ``syscall=`` filter (its family) on the ``service=`` filter's service, or on every service
  when the filter is absent or a glob — otherwise such a query would pass vacuously;
- every registered ``fault_assumption``'s rules (also those built in loaded files);
- ``crash(svc, lose_unsynced=…)`` (any value but a literal ``False``): the write, fsync,
  truncate, open and rename families, and the service is *journaled*
  (``registry.journaled``; docs/crash-consistency.md) — only specs that can drop
  un-fsynced data pay for the journal.

A call whose service cannot be resolved statically counts for every service. The checks
(``spec_checks``) run first, so every name here is known to be a syscall or an op.
"""

from __future__ import annotations

from typing import Any

from starlark.syntax import ast

from faultbox.intercept import expand_syscalls
from faultbox.intercept.journal import JOURNAL_FAMILIES
from faultbox.trace.vocabulary import Field

from .protocol_targets import proxied_interfaces
from .spec_syntax import (
    AnalyzedSpec,
    Resolver,
    SpecCalls,
    dict_entries,
    is_pattern,
    keywords,
    positional,
    string_items,
)
from .values import Service

FAULT_CALLS = frozenset({"fault", "fault_start", "fault_assumption"})
TRACE_CALLS = frozenset({"trace", "trace_start"})
QUERY_CALLS = frozenset({"monitor", "events", "assert_eventually", "assert_never", "assert_before"})
#: Keywords of the fault calls that are not fault keywords.
RESERVED_KEYWORDS = frozenset(
    {"run", "target", "monitors", "faults", "description", "rules", "name"}
)


def fault_target(call: ast.CallExpression, name: str) -> tuple[bool, Any]:
    """``(has a target, target expression)`` of a fault call.

    ``fault_assumption`` names it with ``target=`` (without it, it faults nothing itself);
    the other calls take it first.
    """
    if name == "fault_assumption":
        target = next((k.value for k in keywords(call) if k.name.name == "target"), None)
        return target is not None, target
    args = positional(call)
    return True, args[0] if args else None


def _family(name: str) -> tuple[str, ...]:
    try:
        return expand_syscalls(name)
    except ValueError:  # reported by spec_checks; nothing to intercept
        return ()


class NotifySets:
    """Accumulates each service's notify set."""

    def __init__(self, spec: AnalyzedSpec) -> None:
        self.resolve = Resolver(spec)
        self.spec = spec
        self.notify: dict[str, set[str]] = {name: set() for name in spec.registry.services}
        self.journaled: set[str] = set()

    def add_name(self, name: str, targets: list[Service]) -> None:
        """A fault keyword or traced name on ``targets``: an op of some, else a syscall."""
        with_op = [svc for svc in targets if name in svc.ops]
        for svc in with_op:
            self.notify[svc.name].update(svc.ops[name].expanded)
        if with_op:
            return
        for svc in targets:
            self.notify[svc.name].update(_family(name))

    def add_query(self, service: Any, syscall: Any) -> None:
        """A query's ``service=`` / ``syscall=`` filter expressions (literals only)."""
        if not isinstance(syscall, ast.StringLiteral) or is_pattern(syscall.value):
            return
        services = self.spec.registry.services
        svc_name = service.value if isinstance(service, ast.StringLiteral) else None
        if svc_name in services:
            targets = [services[svc_name]]
        elif svc_name is None or is_pattern(svc_name):
            targets = list(services.values())
        else:
            targets = []  # "test", or an undeclared name (refused by spec_checks)
        for svc in targets:
            # A query names one syscall exactly; the family keeps variants (pwrite64) visible.
            self.notify[svc.name].update(_family(syscall.value))

    def add_call(self, file: str, call: ast.CallExpression) -> None:
        """What one call needs intercepted."""
        fn = call.fn
        name = self.resolve.builtin_name(file, fn, FAULT_CALLS)
        if name:
            has_target, target = fault_target(call, name)
            if not has_target:
                return
            targets = self.resolve.targets(file, target)
            for kw in keywords(call):
                if kw.name.name not in RESERVED_KEYWORDS:
                    self.add_name(kw.name.name, targets)
            return
        if self.resolve.builtin_name(file, fn, TRACE_CALLS):
            args = positional(call)
            targets = self.resolve.targets(file, args[0] if args else None)
            for kw in keywords(call):
                if kw.name.name == "syscalls":
                    for element in string_items(kw.value):
                        self.add_name(element.value, targets)
            return
        if self.resolve.builtin_name(file, fn, frozenset({"crash"})):
            self.add_crash(file, call)
            return
        if self.resolve.builtin_name(file, fn, frozenset({"partition"})):
            for arg in positional(call)[:2]:
                for svc in self.resolve.targets(file, arg):
                    self.notify[svc.name].add("connect")
            return
        name = self.resolve.builtin_name(file, fn, QUERY_CALLS)
        if name == "assert_before":
            for kw in keywords(call):
                if kw.name.name in ("first", "then"):
                    pairs = dict_entries(kw.value)
                    self.add_query(pairs.get("service"), pairs.get(Field.SYSCALL))
        elif name:
            by_name = {kw.name.name: kw.value for kw in keywords(call)}
            self.add_query(by_name.get("service"), by_name.get(Field.SYSCALL))

    def add_crash(self, file: str, call: ast.CallExpression) -> None:
        """``crash(svc, lose_unsynced=…)``: journal ``svc``'s writes (a literal False: not)."""
        value = next((k.value for k in keywords(call) if k.name.name == "lose_unsynced"), None)
        if value is None or (isinstance(value, ast.Identifier) and value.name == "False"):
            return
        args = positional(call)
        for svc in self.resolve.targets(file, args[0] if args else None):
            self.journaled.add(svc.name)
            for family in JOURNAL_FAMILIES:
                self.notify[svc.name].update(_family(family))

    def add_registered_assumptions(self) -> None:
        """Rules of every registered fault_assumption (whatever built it)."""
        for assumption in self.spec.registry.assumptions:
            for svc, rules in assumption.rules_by_service():
                for rule in rules:
                    self.notify[svc.name].update(rule.syscalls)


def compute_notify_sets(spec: AnalyzedSpec, calls: SpecCalls) -> dict[str, set[str]]:
    """Each service's notify set, from the collected calls and the registry."""
    sets = NotifySets(spec)
    for file, call in calls.calls:
        sets.add_call(file, call)
    sets.add_registered_assumptions()
    # Protocol rules: every service's connects are steered to the proxy (protocol_targets.py).
    spec.registry.proxied = proxied_interfaces(spec, calls)
    if spec.registry.proxied:
        for names in sets.notify.values():
            names.add("connect")
    spec.registry.journaled = sets.journaled
    return sets.notify
