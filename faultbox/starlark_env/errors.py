"""Errors raised while loading or running a spec, and how they are shown to users."""

from __future__ import annotations

from starlark import EvalError, StarlarkSyntaxException


class SpecError(EvalError):
    """A mistake in the spec: wrong argument, unknown name, bad value. Exit code 1."""


class AssertionFailure(EvalError):
    """An assert_* builtin failed: the test fails with failure_type ``assertion``."""


class TestTimeout(EvalError):
    """The test body ran past its timeout."""


def error_location(exc: BaseException) -> str:
    """``file:line`` of the innermost frame of a Starlark error, or ``""``."""
    if isinstance(exc, StarlarkSyntaxException) and exc.errors:
        pos = exc.errors[0].position
        return f"{pos.file}:{pos.line}"
    for frame in getattr(exc, "frames", []) or []:
        if frame.position is not None:
            return f"{frame.position.file}:{frame.position.line}"
    return ""


def error_message(exc: BaseException) -> str:
    """The message of a Starlark error without the interpreter's traceback decoration."""
    if isinstance(exc, StarlarkSyntaxException):
        return "; ".join(e.message for e in exc.errors) or str(exc)
    msg = getattr(exc, "message", None)
    return msg if isinstance(msg, str) else str(exc)


def format_spec_error(exc: BaseException) -> str:
    """One line for the terminal: ``file:line: message``."""
    loc = error_location(exc)
    msg = error_message(exc)
    return f"{loc}: {msg}" if loc else msg
