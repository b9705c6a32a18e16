"""Durations as specs and flags write them: Go-style strings ("500ms", "1.5s", "1m30s")."""

from __future__ import annotations

from .errors import SpecError

EXAMPLES = '"100ms", "2s", "1m30s"'


def duration_ns(text: str) -> int:
    """Parse a non-negative Go-style duration into nanoseconds (ValueError otherwise)."""
    from faultbox.intercept import parse_duration

    ns = parse_duration(text.strip())
    if ns < 0:
        raise ValueError(f"duration {text!r} is negative")
    return ns


def duration_arg(value: object, builtin: str, arg: str) -> float:
    """A duration argument in seconds: a string like ``"10s"`` or a number of seconds."""
    if isinstance(value, bool):
        raise SpecError(f'{builtin}(): {arg} must be a duration like "10s", got bool')
    if isinstance(value, int | float):
        if value < 0:
            raise SpecError(f"{builtin}(): {arg} must not be negative")
        return float(value)
    if isinstance(value, str):
        try:
            return duration_ns(value) / 1e9
        except ValueError as exc:
            raise SpecError(f"{builtin}(): {arg}: {exc}") from None
    raise SpecError(f'{builtin}(): {arg} must be a duration like "10s"')
