"""The one place where faultbox adapts the pure-Python ``starlark`` interpreter.

Three small patches, applied once on import:

1. **Hashable host values.** The interpreter's ``check_hashable`` only accepts its own types,
   so ``{(order_flow, db_down): fn}`` fails with "unhashable type" when ``db_down`` is a faultbox
   value. Host values subclass :class:`HostValue` (hashable by identity) and the patched check
   accepts them. ``check_hashable`` is imported by name into several interpreter modules, so
   each binding is replaced.
2. **Functions keep their file.** The evaluator resolves globals and line numbers through the
   *calling thread's* module and file table, so a function defined in a ``load()``-ed file looked
   up its globals in the caller's module and reported the caller's line numbers. Calls into a
   Starlark function now switch the thread to the function's own file (module view and line
   table) for the duration of the call.

3. **Statements report their line.** An error raised by a plain statement (an undefined name
   at module level, a failed ``load()``) carried no position at all. Statement execution now
   adds the innermost statement's position to errors that have none.
4. **Long operator chains, deep nesting.** The parser builds ``1 + 1 + … + 1`` as a left-deep
   tree, which the resolver and the evaluator walked recursively: a legal 300-term sum was
   refused as "too deeply nested" and 1,200 terms raised RecursionError. Both now walk such a
   chain in a loop (same order of evaluation, same short-circuits). The parser counted only
   brackets as nesting, so ``f(f(f(…)))`` 3,000 deep overflowed Python's stack; call and index
   suffixes now count too, and :func:`compile_file` turns any RecursionError left into a
   "nested too deeply" error at the line being parsed.

It also offers :func:`compile_file`, :func:`call_position` (``file:line`` of the builtin call
being run), :func:`call_starlark` (call a Starlark function from a builtin) and
:func:`new_thread` (a fresh evaluation thread for running a test body).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import starlark
import starlark.values as _public_values
from starlark import StarlarkSyntaxException

# ``starlark.eval`` is shadowed by the package's ``eval()`` function, so ``import
# starlark.eval.x as y`` resolves through the function and fails: use ``from`` imports.
from starlark.eval import builtins as _builtins_mod
from starlark.eval import evaluator as _evaluator
from starlark.eval import values as _values_mod
from starlark.eval.errors import EvalError
from starlark.eval.function import StarlarkFunction
from starlark.eval.module import Module
from starlark.eval.values import truth
from starlark.program import Program
from starlark.syntax import Lexer, Parser, ast
from starlark.syntax import resolver as _resolver_mod
from starlark.syntax.errors import SyntaxError as StarlarkSyntaxError
from starlark.syntax.location import FileLocations, Position

_eval_pkg = sys.modules["starlark.eval"]


class HostValue:
    """Base class of faultbox values visible to Starlark: hashable by identity."""

    _starlark_type = "host_value"
    __slots__ = ()

    def __hash__(self) -> int:  # identity, like Starlark functions
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


_original_check_hashable = _values_mod.check_hashable


def _check_hashable(value: Any) -> None:
    if isinstance(value, HostValue):
        return
    if isinstance(value, tuple):
        for x in value:
            _check_hashable(x)
        return
    _original_check_hashable(value)


for _mod in (_values_mod, _evaluator, _builtins_mod, _eval_pkg, _public_values):
    if getattr(_mod, "check_hashable", None) is _original_check_hashable:
        _mod.check_hashable = _check_hashable  # type: ignore[attr-defined]


# ------------------------------------------------------------------ functions keep their file

_FILE_LOCS: dict[str, FileLocations] = {}
_FILE_MODULES: dict[str, Module] = {}
# Per running thread: file name -> a view of that file's module (same globals, fresh
# mutability) so values created while a test runs are mutable even though modules are frozen.
_THREAD_VIEWS: dict[int, dict[str, Module]] = {}


def register_file(filename: str, source: str) -> None:
    """Remember the line table of ``filename`` (before it is executed)."""
    _FILE_LOCS[filename] = FileLocations(filename, source)


def register_module(filename: str, module: Module) -> None:
    """Remember the module of ``filename`` (after it was executed)."""
    _FILE_MODULES[filename] = module


_original_call = _evaluator.call


_CALL_POSITION = "faultbox.call_position"


def _call_in_own_file(
    fn: Any, positional: Any, keyword: Any, thread: Any, position: Any = None
) -> Any:
    if isinstance(fn, starlark.BuiltinFunction):
        # Remembered for the builtin (call_position()): where a declaration was made.
        saved = thread.thread_local.get(_CALL_POSITION)
        thread.thread_local[_CALL_POSITION] = position
        try:
            return _original_call(fn, positional, keyword, thread, position)
        finally:
            thread.thread_local[_CALL_POSITION] = saved
    if isinstance(fn, StarlarkFunction) and fn.position is not None:
        file = fn.position.file
        locs = _FILE_LOCS.get(file)
        views = _THREAD_VIEWS.get(id(thread))
        module = views.get(file) if views else None
        if module is None:
            module = _FILE_MODULES.get(file)
        if (locs is not None and thread.locs is not locs) or (
            module is not None and thread.module is not module
        ):
            saved_locs, saved_module = thread.locs, thread.module
            thread.locs = locs or saved_locs
            thread.module = module or saved_module
            try:
                return _original_call(fn, positional, keyword, thread, position)
            finally:
                thread.locs, thread.module = saved_locs, saved_module
    return _original_call(fn, positional, keyword, thread, position)


_evaluator.call = _call_in_own_file


# ------------------------------------------------------------------ statements report their line

_original_exec_stmt = _evaluator._exec_stmt


def _exec_stmt_with_position(stmt: Any, frame: Any, thread: Any) -> Any:
    try:
        return _original_exec_stmt(stmt, frame, thread)
    except EvalError as exc:
        if not exc.frames and thread.locs is not None:
            exc.push_frame(frame.function_name or "<module>", thread.locs.position(stmt.start))
        raise


_evaluator._exec_stmt = _exec_stmt_with_position


# ------------------------------------------------------------------ long chains, deep nesting


def _left_spine(expr: Any) -> list[Any]:
    """``((a + b) - c) * d`` -> [the ``* d`` node, the ``- c`` node, the ``a + b`` node]."""
    spine = [expr]
    while isinstance(spine[-1].lhs, ast.BinaryOperatorExpression):
        spine.append(spine[-1].lhs)
    return spine


def _eval_binop_chain(expr: Any, frame: Any, thread: Any) -> Any:
    spine = _left_spine(expr)
    if len(spine) == 1:
        return _original_eval_binop(expr, frame, thread)
    acc = _evaluator._eval_expr(spine[-1].lhs, frame, thread)
    for node in reversed(spine):
        if node is not expr:
            thread.tick()  # the recursive walk charged one step per node
        if node.op == _AND:
            acc = _evaluator._eval_expr(node.rhs, frame, thread) if truth(acc) else acc
        elif node.op == _OR:
            acc = acc if truth(acc) else _evaluator._eval_expr(node.rhs, frame, thread)
        else:
            acc = _evaluator._binop(node.op, acc, _evaluator._eval_expr(node.rhs, frame, thread))
    return acc


_original_eval_binop = _evaluator._eval_binop
_AND, _OR = _evaluator.TokenKind.AND, _evaluator.TokenKind.OR
_evaluator._eval_binop = _eval_binop_chain

_original_resolve_expr = _resolver_mod.Resolver._resolve_expr


def _resolve_expr_chain(self: Any, expr: Any) -> None:
    if isinstance(expr, ast.BinaryOperatorExpression) and isinstance(
        expr.lhs, ast.BinaryOperatorExpression
    ):
        spine = _left_spine(expr)
        _original_resolve_expr(self, spine[-1].lhs)
        for node in reversed(spine):
            _original_resolve_expr(self, node.rhs)
        return
    _original_resolve_expr(self, expr)


_resolver_mod.Resolver._resolve_expr = _resolve_expr_chain  # type: ignore[method-assign]


def _counted(parse: Callable[..., Any]) -> Callable[..., Any]:
    """``parse`` counted as one level of nesting by the parser's depth limit."""

    def wrapper(self: Any, *args: Any) -> Any:
        self._enter()
        try:
            return parse(self, *args)
        finally:
            self._leave()

    return wrapper


Parser._parse_call_suffix = _counted(Parser._parse_call_suffix)  # type: ignore[method-assign]
Parser._parse_slice_or_index_suffix = _counted(  # type: ignore[method-assign]
    Parser._parse_slice_or_index_suffix
)


def compile_file(source: str, filename: str) -> Program:
    """Parse a spec file (like ``starlark.compile(mode="file")``); too deep is a syntax error."""
    lexer = Lexer(source, file=filename)
    parser = Parser(lexer)
    try:
        tree = parser.parse_file(file=filename)
    except RecursionError:
        where = lexer.locs.position(parser._tok.start)
        raise StarlarkSyntaxException(
            [StarlarkSyntaxError(where, "expression nested too deeply")]
        ) from None
    if tree.errors:
        raise StarlarkSyntaxException(tree.errors)
    return Program(source, filename, tree, lexer.locs, None)


def call_position() -> str:
    """``file:line`` of the builtin call now running (``""`` outside a call)."""
    thread = current_thread()
    position = thread.thread_local.get(_CALL_POSITION) if thread is not None else None
    return f"{position.file}:{position.line}" if isinstance(position, Position) else ""


# ------------------------------------------------------------------ calling back


def current_thread() -> Any | None:
    """The Starlark thread executing the current builtin, if any."""
    return _builtins_mod._CURRENT_THREAD.get(None)


def new_thread(main_file: str, predeclared: dict[str, Any]) -> Any:
    """A fresh evaluation thread for running one test, starting in ``main_file``'s module.

    Every registered file gets a view with the same globals and a fresh mutability; call
    :func:`release_thread` when the test is over.
    """
    views: dict[str, Module] = {}
    for name, mod in _FILE_MODULES.items():
        view = Module(name)
        view.globals = mod.globals
        view.predeclared = mod.predeclared
        views[name] = view
    universal = starlark.make_universal()
    thread = _evaluator.Thread(
        module=views[main_file], predeclared=predeclared, universal=universal
    )
    thread.locs = _FILE_LOCS.get(main_file)
    _THREAD_VIEWS[id(thread)] = views
    return thread


def release_thread(thread: Any) -> None:
    _THREAD_VIEWS.pop(id(thread), None)


def call_starlark(fn: Any, *args: Any, thread: Any = None, **kwargs: Any) -> Any:
    """Call a Starlark callable (def, lambda or builtin) with Python arguments."""
    th = thread or current_thread()
    if th is None:
        raise RuntimeError("call_starlark needs a running Starlark thread")
    token = _builtins_mod._CURRENT_THREAD.set(th)
    mtoken = _builtins_mod._CURRENT_MUTABILITY.set(th.module.mutability)
    try:
        return _evaluator.call(fn, list(args), dict(kwargs), th)
    finally:
        _builtins_mod._CURRENT_MUTABILITY.reset(mtoken)
        _builtins_mod._CURRENT_THREAD.reset(token)


def is_callable(value: Any) -> bool:
    return isinstance(value, StarlarkFunction | starlark.BuiltinFunction)


def function_name(value: Any) -> str:
    return getattr(value, "name", "") or "<function>"
