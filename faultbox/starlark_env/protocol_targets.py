"""Which interfaces the proxy must stand in front of, decided before any service starts.

A connection opened before a rule is installed (a pool at start-up) must already go through
the proxy, so the set is fixed at load time, like notify sets: every interface that a
protocol rule can target — ``fault(svc.iface, …)``, ``fault_start(svc.iface, …)``,
``fault_assumption(target=svc.iface, rules=[…])`` (registered ones too). A target that cannot
be resolved statically counts for every interface. Every service then needs ``connect``
notified (``notify_sets``): that is how its connections are steered.
"""

from __future__ import annotations

from typing import Any

from starlark.syntax import ast

from faultbox.proxy.rules import CRITERIA, PROTOCOL_ACTIONS, PROTOCOL_CRITERIA

from .spec_syntax import AnalyzedSpec, Resolver, SpecCalls, error_at, keywords, positional
from .values import InterfaceRef

_RULE_CALLS = frozenset({"fault", "fault_start", "fault_assumption"})


def _all_interfaces(spec: AnalyzedSpec) -> set[tuple[str, str]]:
    return {
        (svc.name, iface.name)
        for svc in spec.registry.services.values()
        for iface in svc.interfaces.values()
        if iface.protocol in PROTOCOL_ACTIONS
    }


def _target(resolve: Resolver, file: str, node: Any) -> InterfaceRef | None | bool:
    """The interface ``node`` names; None: not an interface; True: cannot tell."""
    if isinstance(node, ast.DotExpression):
        iface = resolve.interface(file, node)
        return iface if isinstance(iface, InterfaceRef) else True
    value = resolve.global_value(file, node)
    if isinstance(value, InterfaceRef):
        return value
    return None if value is not None else True


def proxied_interfaces(spec: AnalyzedSpec, calls: SpecCalls) -> set[tuple[str, str]]:
    """``(service, interface)`` pairs a protocol rule can target."""
    resolve = Resolver(spec)
    out: set[tuple[str, str]] = set()
    for file, call in calls.calls:
        name = resolve.builtin_name(file, call.fn, _RULE_CALLS)
        if not name:
            continue
        if name == "fault_assumption":
            kws = {k.name.name: k.value for k in keywords(call)}
            if "rules" not in kws:
                continue
            node = kws.get("target")
        else:
            args = positional(call)
            if len(args) < 2 and not (args and isinstance(args[0], ast.DotExpression)):
                continue  # fault(svc, write=…): syscall faults only
            node = args[0] if args else None
        target = _target(resolve, file, node) if node is not None else True
        if isinstance(target, InterfaceRef):
            if target.protocol in PROTOCOL_ACTIONS:  # others have no relay: refused at run
                out.add((target.service.name, target.name))
        elif target is True:
            return _all_interfaces(spec)
    for assumption in spec.registry.assumptions:
        for iface, _rules in assumption.protocol_by_interface():
            out.add((iface.service.name, iface.name))
    return out


_RULE_BUILTINS = frozenset({"error", "response", "drop", "duplicate", "delay"})


def check_criteria(resolve: Resolver, file: str, call: ast.CallExpression) -> None:
    """``fault(cache.main, error(query=…))`` in a test body: a criterion the interface's
    protocol lacks is a load error too, not only when the body runs."""
    args = positional(call)
    if not args or not isinstance(args[0], ast.DotExpression):
        return
    iface = resolve.interface(file, args[0])
    if not isinstance(iface, InterfaceRef) or iface.protocol not in PROTOCOL_CRITERIA:
        return
    known = PROTOCOL_CRITERIA[iface.protocol]
    for arg in args[1:]:
        if not isinstance(arg, ast.CallExpression):
            continue
        rule = resolve.builtin_name(file, arg.fn, _RULE_BUILTINS)
        if not rule:
            continue
        for kw in keywords(arg):
            if kw.name.name in CRITERIA and kw.name.name not in known:
                have = ", ".join(sorted(known)) or "none (every request matches)"
                raise error_at(
                    file, kw,
                    f"{rule}(): {iface.service.name}.{iface.name} ({iface.protocol}) has no "
                    f"{kw.name.name}= criterion (criteria: {have})",
                )  # fmt: skip
