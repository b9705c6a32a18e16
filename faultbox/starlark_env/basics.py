"""assert_true and assert_eq (``print`` and ``fail`` come from the Starlark universe)."""

from __future__ import annotations

from typing import Any

from starlark.eval.values import equal, repr_starlark, truth

from ._builtin import builtin, want
from .context import active_session
from .errors import AssertionFailure


def _count_assertion() -> None:
    session = active_session()
    if session is not None:
        session.assertions += 1


@builtin("assert_true")
def assert_true(cond: Any, msg: str = "") -> None:
    """Fail the test with ``msg`` unless ``cond`` is true."""
    want(msg, str, "assert_true", "msg", "a string")
    _count_assertion()
    if not truth(cond):
        raise AssertionFailure(msg or "assertion failed")


@builtin("assert_eq")
def assert_eq(a: Any, b: Any, msg: str = "") -> None:
    """Fail the test unless ``a == b``."""
    want(msg, str, "assert_eq", "msg", "a string")
    _count_assertion()
    if not equal(a, b):
        detail = f"assert_eq failed: {repr_starlark(a)} != {repr_starlark(b)}"
        raise AssertionFailure(f"{detail} ({msg})" if msg else detail)
