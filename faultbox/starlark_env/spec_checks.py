"""Load-time checks of a spec: mistakes that would otherwise surface mid-test (or never).

Made before any test runs, with ``file:line``, even inside a test body that is not run:
- ``depends_on`` names and cycles, ports used twice, binaries that do not exist (at the
  service's declaration);
- calls that cannot fit a builtin's signature, and unknown keywords of builtins and of step
  methods (``orders.post(pth=…)``);
- literal errnos, durations and probabilities of ``deny``/``delay``, sizes of ``partial``;
- fault keywords and traced names that are neither a syscall nor an op of the target, and
  ``partial()`` on one that is not a write (``fsync=partial()``);
- a query's ``service=`` that is not declared, and a ``syscall=`` that does not exist.

:func:`analyze` runs them and then stores each service's notify set (``notify_sets``).
"""

from __future__ import annotations

import inspect
from typing import Any

from starlark.eval.errors import EvalError
from starlark.syntax import ast

from faultbox.common.binaries import find_binary
from faultbox.intercept import expand_syscalls
from faultbox.trace.vocabulary import Field

from ._builtin import _BUILTINS
from .errors import SpecError
from .lab_builtins import lose_unsynced_on_container
from .notify_sets import (
    FAULT_CALLS,
    QUERY_CALLS,
    RESERVED_KEYWORDS,
    TRACE_CALLS,
    compute_notify_sets,
    fault_target,
)
from .protocol_targets import check_criteria
from .rule_sets import (
    duration_value,
    errno_value,
    parse_probability,
    partial_args,
    partial_syscalls,
)
from .spec_syntax import (
    AnalyzedSpec,
    Resolver,
    SpecCalls,
    collect_calls,
    dict_entries,
    error_at,
    is_pattern,
    keywords,
    positional,
    string_items,
)
from .step_methods import accepted_keywords
from .values import Service


def analyze(spec: AnalyzedSpec) -> None:
    """Check the spec statically, then store each service's notify set in the registry."""
    calls = collect_calls(spec)
    check_spec(spec, calls)
    spec.registry.notify_sets = compute_notify_sets(spec, calls)


def check_spec(spec: AnalyzedSpec, calls: SpecCalls) -> None:
    """Every load-time check; the first mistake raises a SpecError at its line."""
    _check_topology(spec, calls)
    _check_ports(spec, calls)
    _check_binaries(spec, calls)
    checker = _CallChecker(spec)
    for file, call in calls.calls:
        checker.check(file, call)


def _at_service(calls: SpecCalls, name: str, message: str) -> SpecError:
    if name in calls.service_decls:
        file, node = calls.service_decls[name]
        return error_at(file, node, message)
    return SpecError(message)


def _check_topology(spec: AnalyzedSpec, calls: SpecCalls) -> None:
    """Resolve ``depends_on`` names (in place) and reject cycles, at the declaration."""
    reg = spec.registry
    for svc in reg.services.values():
        for i, dep in enumerate(svc.depends_on):
            if isinstance(dep, str):
                if dep not in reg.services:
                    known = ", ".join(reg.services)
                    raise _at_service(
                        calls,
                        svc.name,
                        f"service({svc.name!r}): depends_on names unknown service {dep!r}"
                        f" (services: {known})",
                    )
                svc.depends_on[i] = reg.services[dep]
    try:
        reg.start_order()
    except SpecError as exc:
        first = exc.message.split(": ", 1)[-1].split(" -> ")[0]
        raise _at_service(calls, first, exc.message) from None


def _check_ports(spec: AnalyzedSpec, calls: SpecCalls) -> None:
    """Two interfaces on one port would make the second service look ready when it is not."""
    owners: dict[int, str] = {}
    for svc in spec.registry.services.values():
        for iface in svc.interfaces.values():
            owner = owners.setdefault(iface.port, f"{svc.name}.{iface.name}")
            if owner != f"{svc.name}.{iface.name}":
                message = f"service({svc.name!r}): port {iface.port} is also used by {owner}"
                raise _at_service(calls, svc.name, message)


def _check_binaries(spec: AnalyzedSpec, calls: SpecCalls) -> None:
    """A service whose binary does not exist (or cannot run) is a load error at its line."""
    for svc in spec.registry.services.values():
        if not svc.binary:
            continue
        found, problem = find_binary(svc.binary, spec.path.parent)
        if found:
            continue
        message = f"service({svc.name!r}): {problem}"
        if "bin/" in svc.binary:
            message += " (build the demo services with `make build`?)"
        raise _at_service(calls, svc.name, message)


def _keyword_names(fn: Any) -> list[str] | None:
    """Keyword names a builtin accepts, or None if it takes any (``**kwargs``)."""
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


class _CallChecker:
    """The checks of one call expression."""

    def __init__(self, spec: AnalyzedSpec) -> None:
        self.resolve = Resolver(spec)
        self.services = spec.registry.services

    def check(self, file: str, call: ast.CallExpression) -> None:
        self._signature(file, call)
        fn = call.fn
        name = self.resolve.builtin_name(file, fn, frozenset({"deny", "delay", "partial"}))
        if name:
            self._rule_literals(file, call, name)
            return
        if self.resolve.builtin_name(file, fn, frozenset({"crash"})):
            self._crash_literals(file, call)
            return
        name = self.resolve.builtin_name(file, fn, FAULT_CALLS)
        if name:
            check_criteria(self.resolve, file, call)  # protocol rules on svc.iface
            has_target, target = fault_target(call, name)
            if has_target:
                targets = self.resolve.targets(file, target)
                for kw in keywords(call):
                    if kw.name.name not in RESERVED_KEYWORDS:
                        self._fault_name(file, kw, kw.name.name, targets, name)
                        self._partial_target(file, kw, targets, name)
            return
        name = self.resolve.builtin_name(file, fn, TRACE_CALLS)
        if name:
            args = positional(call)
            targets = self.resolve.targets(file, args[0] if args else None)
            for kw in keywords(call):
                if kw.name.name == "syscalls":
                    for element in string_items(kw.value):
                        self._fault_name(file, element, element.value, targets, name)
            return
        name = self.resolve.builtin_name(file, fn, QUERY_CALLS)
        if name == "assert_before":
            for kw in keywords(call):
                if kw.name.name in ("first", "then"):
                    pairs = dict_entries(kw.value)
                    self._query(file, name, pairs.get("service"), pairs.get(Field.SYSCALL))
        elif name:
            by_name = {kw.name.name: kw.value for kw in keywords(call)}
            self._query(file, name, by_name.get("service"), by_name.get(Field.SYSCALL))

    def _signature(self, file: str, call: ast.CallExpression) -> None:
        """Calls that cannot fit a builtin's signature, and unknown keyword arguments of step
        methods, are load errors (even inside a test body that runs later)."""
        kws = keywords(call)
        fn = call.fn
        if isinstance(fn, ast.Identifier) and fn.name in _BUILTINS:
            if self.resolve.builtin_name(file, fn, frozenset({fn.name})) is not None:
                self._builtin_call(file, call, fn.name, _BUILTINS[fn.name], kws)
        elif isinstance(fn, ast.DotExpression) and kws:
            self._step_keywords(file, fn, kws)

    def _builtin_call(
        self, file: str, call: ast.CallExpression, name: str, impl: Any, kws: list[Any]
    ) -> None:
        accepted = _keyword_names(impl)
        if accepted is not None:
            for kw in kws:
                if kw.name.name not in accepted:
                    raise error_at(
                        file, kw,
                        f"{name}(): unknown keyword argument {kw.name.name!r}"
                        f" (accepted: {', '.join(accepted) or 'none'})",
                    )  # fmt: skip
        if any(isinstance(a, ast.StarArgument | ast.StarStarArgument) for a in call.args):
            return  # the shape is only known at run time
        n_positional = sum(isinstance(a, ast.PositionalArgument) for a in call.args)
        try:
            inspect.signature(impl).bind(
                *([None] * n_positional), **{kw.name.name: None for kw in kws}
            )
        except TypeError as exc:
            raise error_at(file, call, f"{name}(): {str(exc).replace(chr(39), '')}") from None

    def _step_keywords(self, file: str, fn: ast.DotExpression, kws: list[Any]) -> None:
        iface = self.resolve.interface(file, fn.obj)
        if iface is None:
            return
        accepted = accepted_keywords(iface.protocol, fn.name.name)
        if accepted is None:
            return
        for kw in kws:
            if kw.name.name not in accepted:
                raise error_at(
                    file, kw,
                    f"{iface.service.name}.{fn.name.name}(): unknown keyword argument "
                    f"{kw.name.name!r} (accepted: {', '.join(accepted)})",
                )  # fmt: skip

    def _rule_literals(self, file: str, call: ast.CallExpression, name: str) -> None:
        """``deny("EIOO")``, ``delay("5 sec")``, ``probability="150%"``."""
        args = positional(call)
        try:
            if name == "partial":
                sizes = {k.name.name: k.value.value for k in keywords(call)
                         if isinstance(k.value, ast.IntLiteral | ast.FloatLiteral)}  # fmt: skip
                partial_args(sizes.get("bytes"), sizes.get("fraction"))
            elif args and isinstance(args[0], ast.StringLiteral):
                if name == "deny":
                    errno_value(args[0].value)
                else:
                    duration_value(args[0].value)
            for kw in keywords(call):
                if kw.name.name == "probability" and isinstance(
                    kw.value, ast.StringLiteral | ast.IntLiteral | ast.FloatLiteral
                ):
                    parse_probability(kw.value.value, name)
        except EvalError as exc:
            raise error_at(file, call, exc.message) from None

    def _crash_literals(self, file: str, call: ast.CallExpression) -> None:
        """``crash(svc, torn=True)`` without ``lose_unsynced=True``, and a power loss on a
        container service (its journal would name the host's files, not the container's)."""
        flags = {kw.name.name: kw.value for kw in keywords(call)}

        def literal_true(name: str) -> bool | None:
            value = flags.get(name)
            if value is None:
                return False
            if isinstance(value, ast.Identifier) and value.name in ("True", "False"):
                return value.name == "True"
            return None  # not a literal: checked when crash() runs

        lose = literal_true("lose_unsynced")
        if literal_true("torn") and lose is False:
            raise error_at(file, call, "crash(): torn=True needs lose_unsynced=True")
        args = positional(call)
        if lose and args:
            value = self.resolve.global_value(file, args[0])
            if isinstance(value, Service) and value.image:
                raise error_at(file, call, lose_unsynced_on_container(value.name))

    def _fault_name(
        self, file: str, node: Any, name: str, targets: list[Service], call: str
    ) -> None:
        """A fault keyword or traced name must be an op of a target or a syscall."""
        if any(name in svc.ops for svc in targets):
            return
        try:
            expand_syscalls(name)
        except ValueError:
            if len(targets) == 1:
                svc = targets[0]
                ops = f"; ops of {svc.name}: {', '.join(svc.ops)}" if svc.ops else ""
                msg = f"{call}(): {name!r} is neither a syscall nor an op of service {svc.name!r}{ops}"
            else:
                msg = f"{call}(): {name!r} is neither a syscall nor an op of any service"
            raise error_at(file, node, msg) from None

    def _partial_target(self, file: str, kw: Any, targets: list[Service], call: str) -> None:
        """``fsync=partial()``: a partial result only exists for writes."""
        value = kw.value
        if not isinstance(value, ast.CallExpression):
            return
        if not self.resolve.builtin_name(file, value.fn, frozenset({"partial"})):
            return
        key = kw.name.name
        ops = [svc.ops[key] for svc in targets if key in svc.ops]
        try:
            if ops:
                for op in ops:
                    partial_syscalls(key, tuple(op.expanded), True, call)
            else:
                partial_syscalls(key, tuple(expand_syscalls(key)), False, call)
        except ValueError:
            return  # an unknown name: _fault_name reported it
        except EvalError as exc:
            raise error_at(file, kw, exc.message) from None

    def _query(self, file: str, call: str, service: Any, syscall: Any) -> None:
        """A query's literal ``service=`` must be declared, its ``syscall=`` must exist."""
        svc_name = service.value if isinstance(service, ast.StringLiteral) else None
        if (
            svc_name is not None
            and not is_pattern(svc_name)
            and svc_name not in self.services
            and svc_name != "test"
        ):
            known = ", ".join(self.services)
            raise error_at(
                file, service, f"{call}(): service={svc_name!r} is not declared (services: {known})"
            )
        if not isinstance(syscall, ast.StringLiteral) or is_pattern(syscall.value):
            return
        try:
            expand_syscalls(syscall.value)
        except ValueError:
            raise error_at(file, syscall, f"{call}(): unknown syscall {syscall.value!r}") from None
