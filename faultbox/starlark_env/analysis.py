"""Static analysis of a loaded spec: load-time validation and each service's notify set.

Checks made here, before any test runs, so a typo in a test body is a load error:
- keyword names of every builtin call and every step call (``orders.post(pth=…)``);
- literal errnos, durations and probabilities of ``deny``/``delay``;
- fault keywords (a syscall or an op of the target service);
- ``depends_on`` names and cycles (reported at the service's declaration).

The seccomp filter of a service is fixed when it starts, but ``fault(db, write=…)`` inside a test
body only runs later. So before anything starts we walk the syntax tree of every spec file and
find every call that can fault or trace a service — ``fault``, ``fault_start``, ``trace``,
``trace_start``, ``partition``, ``fault_assumption`` — and resolve its service argument against
the file's globals. The union of their syscalls (family-expanded, ops resolved) is the service's
notify set. A call whose service cannot be resolved statically counts for every service that
could match, so nothing is silently left out.

The same walk checks literal arguments: ``deny("EIOO")``, ``delay("5 sec")``,
``fault(db, wirte=…)`` and ``probability="150%"`` are load errors with ``file:line``, even when
they sit in a test that is not run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlark.eval.errors import EvalError
from starlark.syntax import ast

from . import _interp
from .errors import SpecError
from .values import Service

if TYPE_CHECKING:
    from .loader import LoadedSpec

_FAULT_CALLS = {"fault", "fault_start", "fault_assumption"}
_TRACE_CALLS = {"trace", "trace_start"}
_QUERY_CALLS = {"monitor", "events", "assert_eventually", "assert_never", "assert_before"}
_RESERVED_KW = {"run", "target", "monitors", "faults", "description", "rules", "name"}


def _walk(node: Any) -> Iterator[Any]:
    """Every AST node below ``node`` (dataclass fields, lists)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            yield item
            for f in dataclasses.fields(item):
                if f.name in ("binding",):
                    continue
                value = getattr(item, f.name, None)
                if isinstance(value, list) or (
                    dataclasses.is_dataclass(value) and not isinstance(value, type)
                ):
                    stack.append(value)


def _error(file: str, node: Any, message: str) -> SpecError:
    err = SpecError(message)
    locs = _interp._FILE_LOCS.get(file)
    if locs is not None:
        err.push_frame("<spec>", locs.position(node.start))
    return err


class _Analyzer:
    def __init__(self, spec: LoadedSpec) -> None:
        self.spec = spec
        self.services = spec.registry.services
        self.notify: dict[str, set[str]] = {name: set() for name in self.services}

    # -- resolution helpers
    def _global(self, file: str, node: Any) -> Any:
        """The value of a global name (or ``svc.iface``) in ``file``, or None."""
        module = self.spec.modules.get(file)
        if module is None:
            return None
        if isinstance(node, ast.Identifier):
            return module.globals.get(node.name)
        return None

    def _is_builtin(self, file: str, fn: Any, names: set[str]) -> str | None:
        if not isinstance(fn, ast.Identifier) or fn.name not in names:
            return None
        module = self.spec.modules.get(file)
        shadow = module.globals.get(fn.name) if module else None
        if shadow is not None and shadow is not self.spec.predeclared.get(fn.name):
            return None
        return fn.name

    def _targets(self, file: str, node: Any | None) -> list[Service]:
        value = self._global(file, node) if node is not None else None
        if isinstance(value, Service):
            return [value]
        # A fault_assumption passed to fault(): handled through the registry.
        if value is not None and type(value).__name__ == "FaultAssumption":
            return []
        return list(self.services.values())

    def _add_keyword(self, file: str, kw: Any, targets: list[Service], call: str) -> None:
        from faultbox.intercept import expand_syscalls

        name = kw.name.name
        matched = False
        for svc in targets:
            if name in svc.ops:
                self.notify[svc.name].update(svc.ops[name].expanded)
                matched = True
        if matched:
            return
        try:
            syscalls = expand_syscalls(name)
        except ValueError:
            if len(targets) == 1:
                svc = targets[0]
                ops = f"; ops of {svc.name}: {', '.join(svc.ops)}" if svc.ops else ""
                msg = f"{call}(): {name!r} is neither a syscall nor an op of service {svc.name!r}{ops}"
            else:
                msg = f"{call}(): {name!r} is neither a syscall nor an op of any service"
            raise _error(file, kw, msg) from None
        for svc in targets:
            self.notify[svc.name].update(syscalls)

    # -- the walk
    def run(self) -> dict[str, set[str]]:
        for file, tree in self.spec.syntax.items():
            for node in _walk(tree.statements):
                if isinstance(node, ast.CallExpression):
                    self._call(file, node)
        self._registry_assumptions()
        return self.notify

    def _call(self, file: str, call: ast.CallExpression) -> None:
        from .faults import duration_value, errno_value, parse_probability

        self._check_keywords(file, call)

        name = self._is_builtin(file, call.fn, {"deny", "delay"})
        if name:
            self._literal_rule_args(
                file, call, name, errno_value, duration_value, parse_probability
            )
            return
        positional = [a.value for a in call.args if isinstance(a, ast.PositionalArgument)]
        keywords = [a for a in call.args if isinstance(a, ast.KeywordArgument)]
        name = self._is_builtin(file, call.fn, _FAULT_CALLS)
        if name:
            if name == "fault_assumption":
                target = next((k.value for k in keywords if k.name.name == "target"), None)
                if target is None:
                    return
            else:
                target = positional[0] if positional else None
            targets = self._targets(file, target)
            for kw in keywords:
                if kw.name.name not in _RESERVED_KW:
                    self._add_keyword(file, kw, targets, name)
            return
        name = self._is_builtin(file, call.fn, _TRACE_CALLS)
        if name:
            targets = self._targets(file, positional[0] if positional else None)
            for kw in keywords:
                if kw.name.name == "syscalls" and isinstance(kw.value, ast.ListExpression):
                    for element in kw.value.elements:
                        if isinstance(element, ast.StringLiteral):
                            fake = ast.KeywordArgument(
                                start=element.start, end=element.end,
                                name=ast.Identifier(start=element.start, end=element.end,
                                                    name=element.value),
                                value=element,
                            )  # fmt: skip
                            self._add_keyword(file, fake, targets, name)
            return
        if self._is_builtin(file, call.fn, {"partition"}):
            for arg in positional[:2]:
                for svc in self._targets(file, arg):
                    self.notify[svc.name].add("connect")
            return
        name = self._is_builtin(file, call.fn, _QUERY_CALLS)
        if name:
            if name == "assert_before":
                for kw in keywords:
                    if kw.name.name in ("first", "then") and isinstance(
                        kw.value, ast.DictExpression
                    ):
                        pairs = {
                            e.key.value: e.value
                            for e in kw.value.entries
                            if isinstance(e.key, ast.StringLiteral)
                        }
                        self._query_filters(file, name, pairs.get("service"), pairs.get("syscall"))
                return
            by_name = {kw.name.name: kw.value for kw in keywords}
            self._query_filters(file, name, by_name.get("service"), by_name.get("syscall"))

    def _query_filters(self, file: str, call: str, service: Any, syscall: Any) -> None:
        """Queries and monitors on syscall events: intercept what they look for.

        Without this, ``assert_never(service="x", syscall="connect")`` in a test that faults
        nothing would pass vacuously, and a monitor on db's reads would never be called.
        """
        svc_name = service.value if isinstance(service, ast.StringLiteral) else None
        if (
            svc_name is not None
            and not any(c in svc_name for c in "*?[")
            and (svc_name not in self.services and svc_name != "test")
        ):
            known = ", ".join(self.services)
            raise _error(
                file, service, f"{call}(): service={svc_name!r} is not declared (services: {known})"
            )
        if not isinstance(syscall, ast.StringLiteral) or any(c in syscall.value for c in "*?["):
            return
        from faultbox.intercept import expand_syscalls

        try:
            syscalls = expand_syscalls(syscall.value)
        except ValueError:
            raise _error(file, syscall, f"{call}(): unknown syscall {syscall.value!r}") from None
        if svc_name in self.services:
            targets = [self.services[svc_name]]
        elif svc_name is None or any(c in svc_name for c in "*?["):
            targets = list(self.services.values())
        else:
            targets = []
        for svc in targets:
            # A query names one syscall exactly; the family keeps variants (pwrite64) visible.
            self.notify[svc.name].update(syscalls)

    def _check_keywords(self, file: str, call: ast.CallExpression) -> None:
        """Calls that cannot fit a builtin's signature, and unknown keyword arguments of step
        methods, are load errors (even inside a test body that runs later)."""
        from ._builtin import _BUILTINS

        keywords = [a for a in call.args if isinstance(a, ast.KeywordArgument)]
        fn = call.fn
        if isinstance(fn, ast.Identifier) and fn.name in _BUILTINS:
            if self._is_builtin(file, fn, {fn.name}) is not None:
                self._check_builtin_call(file, call, fn.name, _BUILTINS[fn.name], keywords)
        elif isinstance(fn, ast.DotExpression) and keywords:
            self._check_step_keywords(file, fn, keywords)

    def _check_builtin_call(
        self, file: str, call: ast.CallExpression, name: str, impl: Any, keywords: list
    ) -> None:
        import inspect

        accepted = _keyword_names(impl)
        if accepted is not None:
            for kw in keywords:
                if kw.name.name not in accepted:
                    raise _error(
                        file, kw,
                        f"{name}(): unknown keyword argument {kw.name.name!r}"
                        f" (accepted: {', '.join(accepted) or 'none'})",
                    )  # fmt: skip
        if any(isinstance(a, ast.StarArgument | ast.StarStarArgument) for a in call.args):
            return  # the shape is only known at run time
        n_positional = sum(isinstance(a, ast.PositionalArgument) for a in call.args)
        try:
            inspect.signature(impl).bind(
                *([None] * n_positional), **{kw.name.name: None for kw in keywords}
            )
        except TypeError as exc:
            raise _error(file, call, f"{name}(): {str(exc).replace(chr(39), '')}") from None

    def _check_step_keywords(self, file: str, fn: ast.DotExpression, keywords: list) -> None:
        from faultbox.runtime.steps import PROTOCOLS

        method = fn.name.name
        obj = fn.obj
        iface = None
        if isinstance(obj, ast.Identifier):
            value = self._global(file, obj)
            if isinstance(value, Service) and len(value.interfaces) == 1:
                iface = next(iter(value.interfaces.values()))
        elif isinstance(obj, ast.DotExpression) and isinstance(obj.obj, ast.Identifier):
            value = self._global(file, obj.obj)
            if isinstance(value, Service):
                iface = value.interfaces.get(obj.name.name)
        if iface is None:
            return
        entry = PROTOCOLS.get(iface.protocol, {}).get(method)
        if entry is None:
            return
        accepted = entry[1]
        for kw in keywords:
            if kw.name.name not in accepted:
                raise _error(
                    file, kw,
                    f"{iface.service.name}.{method}(): unknown keyword argument "
                    f"{kw.name.name!r} (accepted: {', '.join(accepted)})",
                )  # fmt: skip

    def _literal_rule_args(self, file, call, name, errno_value, duration_value, parse_prob) -> None:
        positional = [a.value for a in call.args if isinstance(a, ast.PositionalArgument)]
        try:
            if positional and isinstance(positional[0], ast.StringLiteral):
                if name == "deny":
                    errno_value(positional[0].value)
                else:
                    duration_value(positional[0].value)
            for arg in call.args:
                if (
                    isinstance(arg, ast.KeywordArgument)
                    and arg.name.name == "probability"
                    and isinstance(arg.value, ast.StringLiteral | ast.IntLiteral | ast.FloatLiteral)
                ):
                    parse_prob(arg.value.value, name)
        except EvalError as exc:
            raise _error(file, call, exc.message) from None

    def _registry_assumptions(self) -> None:
        for assumption in self.spec.registry.assumptions:
            for svc, rules in assumption.rules_by_service():
                for rule in rules:
                    self.notify[svc.name].update(rule.syscalls)


def _keyword_names(fn: Any) -> list[str] | None:
    """Keyword names a builtin accepts, or None if it takes any (``**kwargs``)."""
    import inspect

    params = inspect.signature(fn).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _service_positions(spec: LoadedSpec) -> dict[str, tuple[str, Any]]:
    """Where each service is declared: name -> (file, call node)."""
    out: dict[str, tuple[str, Any]] = {}
    for file, tree in spec.syntax.items():
        for node in _walk(tree.statements):
            if (
                isinstance(node, ast.CallExpression)
                and isinstance(node.fn, ast.Identifier)
                and node.fn.name == "service"
                and node.args
                and isinstance(node.args[0], ast.PositionalArgument)
                and isinstance(node.args[0].value, ast.StringLiteral)
            ):
                out.setdefault(node.args[0].value.value, (file, node))
    return out


def _check_topology(spec: LoadedSpec) -> None:
    """Resolve ``depends_on`` names and reject cycles, at the service's declaration."""
    reg = spec.registry
    where = _service_positions(spec)

    def fail(name: str, message: str) -> SpecError:
        if name in where:
            return _error(where[name][0], where[name][1], message)
        return SpecError(message)

    for svc in reg.services.values():
        for i, dep in enumerate(svc.depends_on):
            if isinstance(dep, str):
                if dep not in reg.services:
                    known = ", ".join(reg.services)
                    raise fail(
                        svc.name,
                        f"service({svc.name!r}): depends_on names unknown service {dep!r}"
                        f" (services: {known})",
                    )
                svc.depends_on[i] = reg.services[dep]
    try:
        reg.start_order()
    except SpecError as exc:
        first = exc.message.split(": ", 1)[-1].split(" -> ")[0]
        raise fail(first, exc.message) from None


def _check_binaries(spec: LoadedSpec) -> None:
    """A service whose binary does not exist (or cannot run) is a load error at its line."""
    from faultbox.runtime.binaries import find_binary

    where = _service_positions(spec)
    for svc in spec.registry.services.values():
        if not svc.binary:
            continue
        found, problem = find_binary(svc.binary, spec.path.parent)
        if found:
            continue
        message = f"service({svc.name!r}): {problem}"
        if "bin/" in svc.binary:
            message += " (build the demo services with `make build`?)"
        if svc.name in where:
            raise _error(where[svc.name][0], where[svc.name][1], message)
        raise SpecError(message)


def _check_ports(spec: LoadedSpec) -> None:
    """Two interfaces on one port would make the second service look ready when it is not."""
    where = _service_positions(spec)
    owners: dict[int, str] = {}
    for svc in spec.registry.services.values():
        for iface in svc.interfaces.values():
            owner = owners.setdefault(iface.port, f"{svc.name}.{iface.name}")
            if owner != f"{svc.name}.{iface.name}":
                message = f"service({svc.name!r}): port {iface.port} is also used by {owner}"
                if svc.name in where:
                    raise _error(where[svc.name][0], where[svc.name][1], message)
                raise SpecError(message)


def analyze(spec: LoadedSpec) -> None:
    """Validate the spec statically and store each service's notify set in the registry."""
    _check_topology(spec)
    _check_ports(spec)
    _check_binaries(spec)
    spec.registry.notify_sets = _Analyzer(spec).run()
