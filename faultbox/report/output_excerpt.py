"""The part of a service's captured output shown with a failure: what says why, and the end.

A crash explains itself in a few lines (``panic: …``, a Python ``Traceback`` and its exception,
``FATAL:``), often well before the last lines, which are then shutdown noise. :func:`excerpt`
keeps those lines with what follows them, keeps the last lines too, and marks every span it
leaves out with ``… N lines elided …``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["LAST_LINES", "excerpt", "excerpt_text", "is_telling"]

#: Lines kept from the end of the output, always.
LAST_LINES = 10
#: Lines kept after a telling line (a panic's goroutine header and first frames).
AFTER_TELLING = 4
#: At most this many lines of a traceback (its head and its end: the exception is last).
TRACEBACK_LINES = 24
#: At most this many lines picked before the last lines (the first problems matter most).
PICKED_LINES = 40

# Severity words in upper case as loggers write them (PostgreSQL "FATAL:", Python logging
# "ERROR", Go "[ERROR]"), Go's runtime ("panic: ", "fatal error: "), JSON/logfmt levels.
_TELLING = re.compile(
    r"\b(?:PANIC|FATAL|ERROR|CRITICAL)\b"
    r"|^\s*(?:panic|fatal error): "
    r'|"level"\s*:\s*"(?:error|fatal|panic|critical)"'
    r"|\blevel=(?:error|fatal|panic|critical)\b",
)
_TRACEBACK = re.compile(r"^\s*Traceback \(most recent call last\):")
_CHAINED = re.compile(r"^(During handling of the above exception|The above exception was)")


def is_telling(line: str) -> bool:
    """A line that says why a service failed (a panic, an error or fatal log line)."""
    return bool(_TELLING.search(line))


def _traceback_end(lines: Sequence[str], start: int) -> int:
    """Index after a Python traceback starting at ``start``: its indented frames, then the
    exception line (the first line that is not indented), then chained tracebacks."""
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if line.startswith((" ", "\t")) or not line.strip():
            i += 1
            continue
        i += 1  # the exception line: "ValueError: …"
        # "During handling of the above exception…" / "The above exception was the direct
        # cause…" (between blank lines) introduce another traceback of the same crash.
        if i + 1 < len(lines) and _CHAINED.match(lines[i + 1]):
            nxt = next(
                (j for j in range(i + 2, min(i + 4, len(lines))) if _TRACEBACK.match(lines[j])),
                None,
            )
            if nxt is not None:
                i = nxt + 1
                continue
        break
    return i


def _picked(lines: Sequence[str]) -> set[int]:
    keep: set[int] = set()
    i = 0
    while i < len(lines):
        if _TRACEBACK.match(lines[i]):
            end = _traceback_end(lines, i)
            span = list(range(i, end))
            if len(span) > TRACEBACK_LINES:  # its first line, then its end
                span = [i, *span[-(TRACEBACK_LINES - 1) :]]
            keep.update(span)
            i = end
            continue
        if is_telling(lines[i]):
            keep.update(range(i, min(i + 1 + AFTER_TELLING, len(lines))))
        i += 1
    return keep


def excerpt(lines: Sequence[str], last: int = LAST_LINES) -> list[str]:
    """The telling lines (with what follows them) and the last ``last`` lines, in order;
    each gap of two lines or more is one ``… N lines elided …`` line."""
    n = len(lines)
    tail_start = max(0, n - last)
    picked = sorted(i for i in _picked(lines) if i < tail_start)[:PICKED_LINES]
    keep = [*picked, *range(tail_start, n)]
    # A marker in place of a single line would hide it and save nothing: show that line.
    single = {i + 1 for i, j in zip([-1, *keep], keep, strict=False) if j - i == 2}
    keep = sorted({*keep, *single})
    out: list[str] = []
    prev = -1
    for i in keep:
        if i > prev + 1:
            gap = i - prev - 1
            out.append(f"… {gap} lines elided …")
        out.append(lines[i])
        prev = i
    return out


def excerpt_text(lines: Sequence[str], last: int = LAST_LINES) -> str:
    """:func:`excerpt` joined with newlines (the form ``TestResult.service_output`` keeps)."""
    return "\n".join(excerpt(lines, last))
