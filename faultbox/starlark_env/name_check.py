"""Load-time name check: every name a spec reads exists, including inside functions.

The interpreter only looks a name up when the code runs, so ``asert_eq(...)`` in a test body (or a
builtin this version does not have) would surface after the services started. This pass walks the
syntax tree of every file once it has been evaluated and resolves each name that is *read*
against Starlark's scopes:

- the enclosing functions' locals, innermost first: parameters and every name the function binds
  anywhere in its body (an assignment, a ``for`` target, a nested ``def``) — in Starlark a name
  assigned anywhere in a function is local to all of it;
- comprehension variables, inside their comprehension;
- the file's globals: what evaluation bound, plus every name a top-level statement binds (a
  global assigned only in an ``if`` branch that did not run is not a typo);
- ``load()`` symbols (they are globals), the predeclared builtins and Starlark's universe.

The same walk refuses a misspelled filter keyword of a query builtin (``assert_eventually(
servce="db")``): at run time it would only fail once the trace is read, or pass vacuously in an
``assert_never``.

The walk is iterative, so a very long expression cannot exhaust Python's stack here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import starlark
from starlark.syntax import ast

from . import _interp
from .errors import SpecError
from .queries import EVENT_TYPES, STANDARD_KEYS

if TYPE_CHECKING:
    from .loader import LoadedSpec

Scopes = tuple[frozenset[str], ...]

_CONSTANTS = frozenset({"None", "True", "False"})
# Query builtins whose keywords (other than these) are event filters.
_QUERY_CALLS = {"events": {"where"}, "assert_eventually": {"where"}, "assert_never": {"where"},
                "monitor": set()}  # fmt: skip


def _error(file: str, node: Any, message: str) -> SpecError:
    err = SpecError(message)
    locs = _interp._FILE_LOCS.get(file)
    if locs is not None:
        err.push_frame("<spec>", locs.position(node.start))
    return err


def _target_names(target: Any, into: set[str]) -> None:
    """Names bound by an assignment or ``for`` target (``a``, ``a, b``, ``[a, (b, c)]``)."""
    stack = [target]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Identifier):
            into.add(node.name)
        elif isinstance(node, ast.ListExpression):
            stack.extend(node.elements)


def _bound_in_block(statements: Iterable[Any]) -> set[str]:
    """Names a block binds, through ``if``/``for`` bodies but not into nested functions."""
    names: set[str] = set()
    stack = list(statements)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, ast.AssignmentStatement):
            _target_names(stmt.lhs, names)
        elif isinstance(stmt, ast.DefStatement):
            names.add(stmt.name.name)
        elif isinstance(stmt, ast.ForStatement):
            _target_names(stmt.vars, names)
            stack.extend(stmt.body)
        elif isinstance(stmt, ast.IfStatement):
            stack.extend(stmt.body)
            stack.extend(stmt.else_block)
        elif isinstance(stmt, ast.LoadStatement):
            names.update(b.local.name for b in stmt.bindings)
    return names


def _param_names(params: list[Any]) -> set[str]:
    return {p.name.name for p in params if getattr(p, "name", None) is not None}


class _Target:
    """Marks an expression in a binding position: only its sub-expressions are reads."""

    __slots__ = ("node",)

    def __init__(self, node: Any) -> None:
        self.node = node


class _FileCheck:
    def __init__(self, spec: LoadedSpec, file: str, tree: ast.StarlarkFile) -> None:
        self.spec = spec
        self.file = file
        self.tree = tree
        module = spec.modules.get(file)
        self.globals: dict[str, Any] = dict(module.globals) if module is not None else {}
        self.known = (
            set(self.globals)
            | _bound_in_block(tree.statements)
            | set(spec.predeclared)
            | set(starlark.make_universal())
            | _CONSTANTS
        )

    def run(self) -> None:
        stack: list[tuple[Any, Scopes]] = [(s, ()) for s in reversed(self.tree.statements)]
        while stack:
            node, scopes = stack.pop()
            children = self._visit(node, scopes)
            stack.extend(reversed(children))

    # -- one node: check it, return its children in source order
    def _visit(self, node: Any, scopes: Scopes) -> list[tuple[Any, Scopes]]:
        if node is None:
            return []
        if isinstance(node, _Target):
            return self._target(node.node, scopes)
        if isinstance(node, ast.Identifier):
            self._read(node, scopes)
            return []
        if isinstance(node, ast.DefStatement):
            inner = scopes + (frozenset(self._def_locals(node)),)
            return self._defaults(node.parameters, scopes) + [(s, inner) for s in node.body]
        if isinstance(node, ast.LambdaExpression):
            inner = scopes + (frozenset(_param_names(node.parameters)),)
            return self._defaults(node.parameters, scopes) + [(node.body, inner)]
        if isinstance(node, ast.Comprehension):
            return self._comprehension(node, scopes)
        if isinstance(node, ast.CallExpression):
            self._check_query(node, scopes)
            return [(node.fn, scopes)] + [(a.value, scopes) for a in node.args]  # type: ignore[attr-defined]
        return [(child, scopes) for child in self._children(node)]

    def _children(self, node: Any) -> list[Any]:
        if isinstance(node, ast.AssignmentStatement):
            return [_Target(node.lhs), node.rhs]
        if isinstance(node, ast.ForStatement):
            return [node.iterable, _Target(node.vars), *node.body]
        if isinstance(node, ast.IfStatement):
            return [node.cond, *node.body, *node.else_block]
        if isinstance(node, ast.ExpressionStatement):
            return [node.expression]
        if isinstance(node, ast.ReturnStatement):
            return [node.value]
        if isinstance(node, ast.UnaryOperatorExpression):
            return [node.operand]
        if isinstance(node, ast.BinaryOperatorExpression):
            return [node.lhs, node.rhs]
        if isinstance(node, ast.ConditionalExpression):
            return [node.cond, node.then_expr, node.else_expr]
        if isinstance(node, ast.ListExpression):
            return list(node.elements)
        if isinstance(node, ast.DictExpression):
            return [x for e in node.entries for x in (e.key, e.value)]
        if isinstance(node, ast.DictEntry):
            return [node.key, node.value]
        if isinstance(node, ast.IndexExpression):
            return [node.obj, node.index]
        if isinstance(node, ast.SliceExpression):
            return [node.obj, node.start_index, node.end_index, node.step]
        if isinstance(node, ast.DotExpression):
            return [node.obj]  # the attribute name is not a variable
        return []  # literals, load(), pass/break/continue

    def _target(self, node: Any, scopes: Scopes) -> list[tuple[Any, Scopes]]:
        if isinstance(node, ast.Identifier):
            return []
        if isinstance(node, ast.ListExpression):
            return [(_Target(e), scopes) for e in node.elements]
        return [(node, scopes)]  # a[i] = …, a.b = …: a and i are read

    def _defaults(self, params: list[Any], scopes: Scopes) -> list[tuple[Any, Scopes]]:
        # Default values are evaluated where the function is defined.
        return [(p.default, scopes) for p in params if isinstance(p, ast.OptionalParameter)]

    def _def_locals(self, node: ast.DefStatement) -> set[str]:
        names = _param_names(node.parameters) | _bound_in_block(node.body)
        return names | set(getattr(node, "locals", ()) or ())

    def _comprehension(self, node: ast.Comprehension, scopes: Scopes) -> list[tuple[Any, Scopes]]:
        own: set[str] = set()
        for clause in node.clauses:
            if isinstance(clause, ast.ComprehensionClauseFor):
                _target_names(clause.vars, own)
        inner = scopes + (frozenset(own),)
        out: list[tuple[Any, Scopes]] = []
        for clause in node.clauses:
            if isinstance(clause, ast.ComprehensionClauseFor):
                out += [(clause.iterable, inner), (_Target(clause.vars), inner)]
            else:
                out.append((clause.cond, inner))
        out.append((node.body, inner))
        return out

    # -- the checks
    def _visible(self, name: str, scopes: Scopes) -> bool:
        return name in self.known or any(name in scope for scope in scopes)

    def _read(self, node: ast.Identifier, scopes: Scopes) -> None:
        if self._visible(node.name, scopes):
            return
        candidates = self.known.union(*scopes)
        close = difflib.get_close_matches(node.name, sorted(candidates), n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise _error(self.file, node, f"name {node.name!r} is not defined{hint}")

    def _is_builtin(self, fn: Any, scopes: Scopes) -> str | None:
        """The name of the query builtin ``fn`` calls, unless a spec name shadows it."""
        if not isinstance(fn, ast.Identifier) or fn.name not in (*_QUERY_CALLS, "assert_before"):
            return None
        if any(fn.name in scope for scope in scopes):
            return None
        value = self.globals.get(fn.name)
        if value is not None and value is not self.spec.predeclared.get(fn.name):
            return None
        return fn.name

    def _check_query(self, call: ast.CallExpression, scopes: Scopes) -> None:
        name = self._is_builtin(call.fn, scopes)
        if name is None:
            return
        filters: list[tuple[str, Any, Any]] = []  # (key, node for the position, value)
        if name == "assert_before":
            for arg in call.args:
                if isinstance(arg, ast.KeywordArgument) and isinstance(
                    arg.value, ast.DictExpression
                ):
                    filters += [
                        (e.key.value, e.key, e.value)
                        for e in arg.value.entries
                        if isinstance(e.key, ast.StringLiteral)
                    ]
        else:
            filters = [
                (a.name.name, a, a.value)
                for a in call.args
                if isinstance(a, ast.KeywordArgument) and a.name.name not in _QUERY_CALLS[name]
            ]
        for key, where, value in filters:
            _check_filter(self.file, name, key, where, value)


def _check_filter(file: str, call: str, key: str, where: Any, value: Any) -> None:
    """A filter key one typo away from a standard one, or a misspelled literal event type."""
    if key not in STANDARD_KEYS:
        close = difflib.get_close_matches(key, STANDARD_KEYS, n=1, cutoff=0.75)
        if close:
            raise _error(
                file, where,
                f"{call}(): unknown filter {key}= (did you mean {close[0]}=?); to match an event"
                f" field of that name, use where=lambda e: e.{key} == ...",
            )  # fmt: skip
    if key == "type" and isinstance(value, ast.StringLiteral):
        kind = value.value
        if kind not in EVENT_TYPES and not any(c in kind for c in "*?["):
            close = difflib.get_close_matches(kind, EVENT_TYPES, n=1, cutoff=0.75)
            if close:
                raise _error(
                    file,
                    value,
                    f"{call}(): unknown event type {kind!r} (did you mean {close[0]!r}?)",
                )


def check_names(spec: LoadedSpec) -> None:
    """Refuse a spec that reads an undefined name or misspells a query filter, at its line."""
    for file, tree in spec.syntax.items():
        _FileCheck(spec, file, tree).run()
