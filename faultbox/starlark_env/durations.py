"""Duration arguments as specs write them: Go-style strings ("500ms", "1.5s", "1m") or seconds."""

from __future__ import annotations

import re

from .errors import SpecError

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}  # fmt: skip
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration_ns(text: str) -> int:
    """Parse ``"1m30s"``, ``"500ms"``, ``"1.5s"`` into nanoseconds (ValueError if malformed)."""
    s = text.strip()
    if not s:
        raise ValueError("empty duration")
    pos, total = 0, 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise ValueError(f'invalid duration {text!r} (use e.g. "500ms", "2s", "1m30s")')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return int(round(total))


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
            return parse_duration_ns(value) / 1e9
        except ValueError as exc:
            raise SpecError(f"{builtin}(): {arg}: {exc}") from None
    raise SpecError(f'{builtin}(): {arg} must be a duration like "10s"')
