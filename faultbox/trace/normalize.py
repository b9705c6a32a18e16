"""Normalized trace (``--normalize FILE``): reference §3.3, for ``faultbox diff``.

Everything that changes between two runs of the same behaviour is dropped: sequence numbers,
timestamps, PIDs, vector clocks, latencies, labels, fields other than syscall/decision/path,
and the interleaving *between* services (each service's lines are grouped, services sorted).

Allowed calls on terminal/pipe/socket-like paths are dropped too, so the file is identical
whether faultbox's stdout is a terminal (service output resolves to ``/dev/pts/N``) or a
pipe (``pipe:[N]``) — the original's output differed between the two.
"""

from __future__ import annotations

import re
from pathlib import Path

from .events import Event
from .results import SuiteResult, TestResult

__all__ = ["normalize", "normalize_event", "normalize_path", "normalize_result", "write_normalized"]

_ANON_RX = re.compile(r"^(socket|pipe|anon_inode):\[\d+\]$")
_PROC_RX = re.compile(r"^/proc/\d+(?=/|$)")
_TASK_RX = re.compile(r"(?<=/task/)\d+(?=/|$)")

#: Allowed calls on these (normalized) paths are not kept.
_VOLATILE_EXACT = frozenset({"pipe", "socket", "/dev/null", "/dev/tty", "/dev/console"})
_VOLATILE_PREFIX = ("anon_inode", "/dev/pts/", "/dev/tty")

_KEEP_AS_TYPE = frozenset({"service_started", "service_ready", "fault_applied", "fault_removed"})


def normalize_path(path: str) -> str:
    """``socket:[123]`` → ``socket``, ``/proc/4242/fd/3`` → ``/proc/PID/fd/3``."""
    m = _ANON_RX.match(path)
    if m:
        return m.group(1)
    if path.startswith("/proc/"):
        path = _PROC_RX.sub("/proc/PID", path)
        path = _TASK_RX.sub("TID", path)
    return path


def _volatile(path: str) -> bool:
    return path in _VOLATILE_EXACT or path.startswith(_VOLATILE_PREFIX)


def normalize_event(ev: Event) -> str | None:
    """The normalized line of one event, or None when the event is dropped."""
    t = ev.type
    if t == "syscall":
        f = ev.fields
        decision = f.get("decision", "")
        path = normalize_path(f.get("path", ""))
        if decision == "allow (system path)":
            return None
        if decision in ("allow", "") and (not path or _volatile(path)):
            return None
        line = f"{f.get('syscall', '')} {decision}"
        return f"{line} {path}" if path else line
    if t in _KEEP_AS_TYPE:
        return t
    if t in ("step_send", "step_recv"):
        return f"{t} {ev.fields.get('target', '')}".rstrip()
    if t == "service_exited":
        if ev.fields.get("expected") == "true":
            return None  # faultbox's own teardown: how fast it stops varies
        sig = ev.fields.get("signal", "")
        return f"service_exited {sig or ev.fields.get('exit_code', '')}".rstrip()
    return None


def normalize_result(result: TestResult) -> list[str]:
    """``=== name ===`` then ``--- service ---`` sections (sorted) for one test."""
    groups: dict[str, list[str]] = {}
    for ev in result.events:
        line = normalize_event(ev)
        if line is not None:
            groups.setdefault(ev.service or "test", []).append(line)
    out = [f"=== {result.name} ==="]
    for svc in sorted(groups):
        out.append(f"--- {svc} ---")
        out.extend(groups[svc])
    return out


def normalize(suite: SuiteResult) -> str:
    """The normalized text of a suite (tests in result order), ending with a newline."""
    lines: list[str] = []
    for r in suite.results:
        lines.extend(normalize_result(r))
    return "\n".join(lines) + "\n" if lines else ""


def write_normalized(suite: SuiteResult, path: str | Path) -> None:
    Path(path).write_text(normalize(suite), encoding="utf-8")
