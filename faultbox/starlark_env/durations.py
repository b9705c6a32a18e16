"""Duration arguments as specs write them: Go-style strings ("500ms", "1.5s", "1m") or seconds."""

from __future__ import annotations

from .errors import SpecError


def duration_arg(value: object, builtin: str, arg: str) -> float:
    """A duration argument in seconds: a string like ``"10s"`` or a number of seconds."""
    from faultbox.intercept import parse_duration

    if isinstance(value, bool):
        raise SpecError(f'{builtin}(): {arg} must be a duration like "10s", got bool')
    if isinstance(value, int | float):
        if value < 0:
            raise SpecError(f"{builtin}(): {arg} must not be negative")
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value) / 1e9
        except ValueError as exc:
            raise SpecError(f"{builtin}(): {arg}: {exc}") from None
    raise SpecError(f'{builtin}(): {arg} must be a duration like "10s"')
