"""The syntax side of load-time analysis: one walk over every spec file's tree, and how a
call's arguments resolve against the file's evaluated globals.

``spec_checks`` (validation) and ``notify_sets`` (what each service's seccomp filter must
notify) both read the calls collected here, so the trees are walked once per load.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from starlark.eval.module import Module
from starlark.syntax import ast

from . import _interp
from .errors import SpecError
from .plans import FaultAssumption
from .registry import SpecRegistry
from .values import Service


class AnalyzedSpec(Protocol):
    """What the analysis reads of a loaded spec (``loader.LoadedSpec`` has it all)."""

    path: Path
    registry: SpecRegistry
    predeclared: dict[str, Any]
    syntax: dict[str, ast.StarlarkFile]
    modules: dict[str, Module]


def walk(node: Any) -> Iterator[Any]:
    """Every AST node below ``node`` (dataclass fields, lists): statements in order, the
    parts of one node last field first (iterative: a deep tree cannot exhaust the stack)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            yield item
            for f in dataclasses.fields(item):
                if f.name == "binding":
                    continue
                value = getattr(item, f.name, None)
                if isinstance(value, list) or (
                    dataclasses.is_dataclass(value) and not isinstance(value, type)
                ):
                    stack.append(value)


def error_at(file: str, node: Any, message: str) -> SpecError:
    """A SpecError located at ``node`` of ``file`` (``file:line: message``)."""
    err = SpecError(message)
    locs = _interp._FILE_LOCS.get(file)
    if locs is not None:
        err.push_frame("<spec>", locs.position(node.start))
    return err


@dataclass
class SpecCalls:
    """Every call expression of every file, and where each service is declared."""

    calls: list[tuple[str, ast.CallExpression]] = field(default_factory=list)
    service_decls: dict[str, tuple[str, ast.CallExpression]] = field(default_factory=dict)


def collect_calls(spec: AnalyzedSpec) -> SpecCalls:
    """Walk every file's syntax tree once."""
    out = SpecCalls()
    for file, tree in spec.syntax.items():
        for node in walk(tree.statements):
            if not isinstance(node, ast.CallExpression):
                continue
            out.calls.append((file, node))
            name = _declared_service_name(node)
            if name is not None:
                out.service_decls.setdefault(name, (file, node))
    return out


def _declared_service_name(call: ast.CallExpression) -> str | None:
    if (
        isinstance(call.fn, ast.Identifier)
        and call.fn.name == "service"
        and call.args
        and isinstance(call.args[0], ast.PositionalArgument)
        and isinstance(call.args[0].value, ast.StringLiteral)
    ):
        return str(call.args[0].value.value)
    return None


def positional(call: ast.CallExpression) -> list[Any]:
    """The positional argument expressions of ``call``."""
    return [a.value for a in call.args if isinstance(a, ast.PositionalArgument)]


def keywords(call: ast.CallExpression) -> list[Any]:
    """The keyword arguments of ``call`` (``.name.name``, ``.value``)."""
    return [a for a in call.args if isinstance(a, ast.KeywordArgument)]


def string_items(node: Any) -> list[Any]:
    """The string literals of a list literal (``["write", "fsync"]``); [] for anything else."""
    if not isinstance(node, ast.ListExpression):
        return []
    return [e for e in node.elements if isinstance(e, ast.StringLiteral)]


def dict_entries(node: Any) -> dict[str, Any]:
    """String-keyed entries of a dict literal (``{"service": "db"}``); {} for anything else."""
    if not isinstance(node, ast.DictExpression):
        return {}
    return {e.key.value: e.value for e in node.entries if isinstance(e.key, ast.StringLiteral)}


def is_pattern(text: str) -> bool:
    """Whether a filter value is a glob (it may match many services or syscalls)."""
    return any(c in text for c in "*?[")


class Resolver:
    """Resolves names in a call against the evaluated globals of the call's file."""

    def __init__(self, spec: AnalyzedSpec) -> None:
        self.spec = spec
        self.services = spec.registry.services

    def global_value(self, file: str, node: Any) -> Any:
        """The value of a global name in ``file``, or None (not a name, or not a global)."""
        module = self.spec.modules.get(file)
        if module is None or not isinstance(node, ast.Identifier):
            return None
        return module.globals.get(node.name)

    def builtin_name(self, file: str, fn: Any, names: set[str] | frozenset[str]) -> str | None:
        """``fn``'s name if it calls one of the builtins ``names`` (not a shadowing global)."""
        if not isinstance(fn, ast.Identifier) or fn.name not in names:
            return None
        module = self.spec.modules.get(file)
        shadow = module.globals.get(fn.name) if module else None
        if shadow is not None and shadow is not self.spec.predeclared.get(fn.name):
            return None
        return str(fn.name)

    def targets(self, file: str, node: Any | None) -> list[Service]:
        """The services a service argument can be: the one it names, or (unresolvable) all.

        A fault_assumption passed to ``fault()`` targets none here: its rules are counted
        from the registry.
        """
        value = self.global_value(file, node) if node is not None else None
        if isinstance(value, Service):
            return [value]
        if isinstance(value, FaultAssumption):
            return []
        return list(self.services.values())

    def interface(self, file: str, obj: Any) -> Any:
        """The interface of ``svc.<method>`` (single-interface service) or ``svc.iface``."""
        if isinstance(obj, ast.Identifier):
            value = self.global_value(file, obj)
            if isinstance(value, Service) and len(value.interfaces) == 1:
                return next(iter(value.interfaces.values()))
        elif isinstance(obj, ast.DotExpression) and isinstance(obj.obj, ast.Identifier):
            value = self.global_value(file, obj.obj)
            if isinstance(value, Service):
                return value.interfaces.get(obj.name.name)
        return None
