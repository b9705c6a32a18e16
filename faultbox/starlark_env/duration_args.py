"""Duration arguments as specs and flags write them: Go-style strings ("500ms", "1m30s").

Every duration a spec (or ``--timeout``) gives is bounded by :data:`MAX_DURATION_NS` (24h):
nothing faultbox waits for needs longer, and beyond that the values overflow the timers and
the supervisor's poll timeouts deep inside a running test. So ``delay("600h")`` or
``stop_timeout="3000000h"`` is a load error at its line instead.
"""

from __future__ import annotations

import math

from faultbox.intercept import format_go_duration, parse_duration

from .errors import SpecError

EXAMPLES = '"100ms", "2s", "1m30s"'
MAX_DURATION_NS = 24 * 3600 * 1_000_000_000
MAX_DURATION_TEXT = "24h"


class DurationTooLong(ValueError):
    """A well-formed duration beyond :data:`MAX_DURATION_NS`."""


def _too_long(text: str) -> DurationTooLong:
    return DurationTooLong(f"duration {text} is longer than the maximum of {MAX_DURATION_TEXT}")


def duration_ns(text: str) -> int:
    """Parse a Go-style duration of 0..24h into nanoseconds (ValueError otherwise)."""
    ns = parse_duration(text.strip())
    if ns < 0:
        raise ValueError(f"duration {text!r} is negative")
    if ns > MAX_DURATION_NS:
        raise _too_long(repr(text))
    return ns


def duration_arg(value: object, builtin: str, arg: str) -> float:
    """A duration argument in seconds: a string like ``"10s"`` or a number of seconds."""
    if isinstance(value, bool):
        raise SpecError(f'{builtin}(): {arg} must be a duration like "10s", got bool')
    if isinstance(value, int | float):
        if value < 0:
            raise SpecError(f"{builtin}(): {arg} must not be negative")
        if not math.isfinite(value) or value * 1e9 > MAX_DURATION_NS:
            raise SpecError(f"{builtin}(): {arg}: {_too_long(f'{value}s')}")
        return float(value)
    if isinstance(value, str):
        try:
            return duration_ns(value) / 1e9
        except ValueError as exc:
            raise SpecError(f"{builtin}(): {arg}: {exc}") from None
    raise SpecError(f'{builtin}(): {arg} must be a duration like "10s"')


def rule_duration(text: object, builtin: str) -> tuple[int, str]:
    """The duration of a ``delay()`` rule: nanoseconds and its Go spelling."""
    if not isinstance(text, str):
        raise SpecError(f'{builtin}(): duration must be a string like "100ms"')
    try:
        ns = duration_ns(text)
    except DurationTooLong as exc:
        raise SpecError(f"{builtin}(): {exc}") from None
    except ValueError:
        raise SpecError(f"{builtin}(): invalid duration {text!r} (write e.g. {EXAMPLES})") from None
    return ns, format_go_duration(ns)
