"""Refuse absurdly nested code before it is resolved or run, at the line where it gets too deep.

The interpreter's resolver and evaluator recurse into Python's stack once per level of nesting.
Its evaluator stops at :data:`MAX_DEPTH` levels, but only when the code runs (a test body: after
the services started) and its resolver has no limit at all (a RecursionError). This iterative
pass measures every file first, counting levels as the evaluator does: one per statement and
per expression, none for the links of an operator chain such as ``1 + 1 + … + 1`` (the patched
evaluator walks those in a loop, see ``_interp``).
"""

from __future__ import annotations

from typing import Any

from starlark.eval.limits import MAX_NESTING_DEPTH
from starlark.syntax import ast
from starlark.syntax.location import FileLocations

from .errors import SpecError

MAX_DEPTH = MAX_NESTING_DEPTH


def _children(node: Any) -> list[tuple[Any, int]]:
    """(child, levels it adds) for every child node that the evaluator descends into."""
    if isinstance(node, ast.BinaryOperatorExpression):
        link = 0 if isinstance(node.lhs, ast.BinaryOperatorExpression) else 1
        return [(node.lhs, link), (node.rhs, 1)]
    if isinstance(node, ast.DefStatement):
        defaults = [p.default for p in node.parameters if isinstance(p, ast.OptionalParameter)]
        return [(x, 1) for x in (*defaults, *node.body)]
    if isinstance(node, ast.LambdaExpression):
        defaults = [p.default for p in node.parameters if isinstance(p, ast.OptionalParameter)]
        return [(x, 1) for x in (*defaults, node.body)]
    if isinstance(node, ast.CallExpression):
        return [(node.fn, 1)] + [(a.value, 1) for a in node.args]  # type: ignore[attr-defined]
    if isinstance(node, ast.DictExpression):
        return [(x, 1) for e in node.entries for x in (e.key, e.value)]
    if isinstance(node, ast.Comprehension):
        parts: list[Any] = []
        for clause in node.clauses:
            if isinstance(clause, ast.ComprehensionClauseFor):
                parts += [clause.iterable, clause.vars]
            else:
                parts.append(clause.cond)
        body = node.body
        parts += [body.key, body.value] if isinstance(body, ast.DictEntry) else [body]
        return [(x, 1) for x in parts]
    fields = {
        ast.AssignmentStatement: ("lhs", "rhs"),
        ast.ExpressionStatement: ("expression",),
        ast.ReturnStatement: ("value",),
        ast.IfStatement: ("cond", "body", "else_block"),
        ast.ForStatement: ("iterable", "vars", "body"),
        ast.UnaryOperatorExpression: ("operand",),
        ast.ConditionalExpression: ("cond", "then_expr", "else_expr"),
        ast.ListExpression: ("elements",),
        ast.IndexExpression: ("obj", "index"),
        ast.SliceExpression: ("obj", "start_index", "end_index", "step"),
        ast.DotExpression: ("obj",),
    }.get(type(node), ())
    out: list[tuple[Any, int]] = []
    for name in fields:
        value = getattr(node, name)
        for child in value if isinstance(value, list) else [value]:
            if child is not None:
                out.append((child, 1))
    return out


def check_nesting(tree: ast.StarlarkFile, locs: FileLocations) -> None:
    """Raise a SpecError at the first node nested more than :data:`MAX_DEPTH` levels deep."""
    stack: list[tuple[Any, int]] = [(stmt, 1) for stmt in tree.statements]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            err = SpecError(f"expression too deeply nested (>{MAX_DEPTH} levels)")
            err.push_frame("<spec>", locs.position(node.start))
            raise err
        stack.extend((child, depth + extra) for child, extra in _children(node))
