"""Normalized trace (``--normalize FILE``): reference §3.3, for ``faultbox diff``.

Everything that changes between two runs of the same behaviour is dropped or replaced by a
placeholder (:mod:`.scrub`): sequence numbers, timestamps, pids, vector clocks, latencies,
labels, fields other than syscall/decision/path, faultbox's temporary directory and slot
names, and the interleaving *between* services (each service's lines are grouped, services
sorted).

Event-source events (log lines, ``wal``, ``topic``, ``poll``, ``source_error``) arrive on
their own threads, so where they fall among a service's syscalls depends on scheduling; each
stream therefore gets a section of its own (``--- postgres wal ---``) after the services'
sections, in stream order.

Allowed calls on terminal/pipe/socket-like paths are dropped too, so the file is identical
whether faultbox's stdout is a terminal (service output resolves to ``/dev/pts/N``) or a
pipe (``pipe:[N]``) — the original's output differed between the two.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .events import Event
from .results import SuiteResult, TestResult
from .scrub import Scrubber
from .vocabulary import TEST_HOST, EventType, Field

__all__ = [
    "SOURCE_TYPES",
    "normalize",
    "normalize_event",
    "normalize_path",
    "normalize_result",
    "scrubber_for",
    "write_normalized",
]

_ANON_RX = re.compile(r"^(socket|pipe|anon_inode):\[\d+\]$")

#: Allowed calls on these (normalized) paths are not kept.
_VOLATILE_EXACT = frozenset({"pipe", "socket", "/dev/null", "/dev/tty", "/dev/console"})
_VOLATILE_PREFIX = ("anon_inode", "/dev/pts/", "/dev/tty")

_KEEP_AS_TYPE = frozenset({EventType.SERVICE_STARTED, EventType.SERVICE_READY,
                           EventType.FAULT_APPLIED, EventType.FAULT_REMOVED})  # fmt: skip

#: Event types that get a section of their own per service (``--- <service> <type> ---``).
SOURCE_TYPES: tuple[str, ...] = tuple(t.value for t in (
    EventType.STDOUT, EventType.STDERR, EventType.WAL, EventType.TOPIC, EventType.POLL,
    EventType.SOURCE_ERROR))  # fmt: skip

_MAX_VALUE = 200  # poll bodies and similar payloads are cut here (the start identifies them)
_NO_SCRUB = Scrubber()


def normalize_path(path: str, scrubber: Scrubber = _NO_SCRUB) -> str:
    """``socket:[123]`` → ``socket``, ``/proc/4242/fd/3`` → ``/proc/{pid}/fd/3``,
    ``/tmp/faultbox-ab12cd34/db/x`` → ``{tmpdir}/db/x``."""
    m = _ANON_RX.match(path)
    if m:
        return m.group(1)
    return scrubber.path(path)


def _volatile(path: str) -> bool:
    return path in _VOLATILE_EXACT or path.startswith(_VOLATILE_PREFIX)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def _wal_line(ev: Event, s: Scrubber) -> str:
    f, data = ev.fields, ev.data
    head = f"{f.get('table', '')} {f.get('action', '')}"
    if not isinstance(data, dict):
        return f"{head} {s.text(f.get(Field.DATA, ''))}".rstrip()
    cols = [f"{k}={s.text(_value_text(v))}" for k, v in sorted(data.items())
            if k not in ("table", "action")]  # fmt: skip
    if "old" in f:
        cols.append(f"old={s.text(f['old'])}")
    return " ".join([head, *cols])


def _source_line(ev: Event, s: Scrubber) -> str:
    """One line for an event-source event (docs/traces.md lists what each keeps)."""
    f = ev.fields
    if ev.type == EventType.WAL:
        return _wal_line(ev, s)
    if ev.type == EventType.TOPIC:
        key = f" key={s.text(f['key'])}" if f.get("key") else ""
        return f"{f.get('topic', '')}{key} {s.text(f.get(Field.DATA, ''))[:_MAX_VALUE]}".rstrip()
    if ev.type == EventType.POLL:
        if "command" in f:
            return f"{f['command']} value={s.text(f.get('value', ''))[:_MAX_VALUE]}"
        body = s.text(f.get("body", ""))[:_MAX_VALUE]
        return f"{f.get('url', '')} status={f.get('status', '')} body={body}"
    if ev.type == EventType.SOURCE_ERROR:
        return f"{f.get(Field.SOURCE, '')} {s.text(f.get(Field.ERROR, ''))}".rstrip()
    return s.text(f.get(Field.DATA, ""))  # stdout / stderr: the line as the service wrote it


def normalize_event(ev: Event, scrubber: Scrubber = _NO_SCRUB) -> str | None:
    """The normalized line of one event, or None when the event is dropped."""
    t = ev.type
    if t == EventType.SYSCALL:
        f = ev.fields
        decision = f.get(Field.DECISION, "")
        path = normalize_path(f.get(Field.PATH, ""), scrubber)
        if decision == "allow (system path)":
            return None
        if decision in ("allow", "") and (not path or _volatile(path)):
            return None
        line = f"{f.get(Field.SYSCALL, '')} {decision}"
        return _one_line(f"{line} {path}" if path else line)
    if t in _KEEP_AS_TYPE:
        return t
    if t in (EventType.STEP_SEND, EventType.STEP_RECV):
        return f"{t} {ev.fields.get(Field.TARGET, '')}".rstrip()
    if t == EventType.SERVICE_EXITED:
        if ev.fields.get(Field.EXPECTED) == "true":
            return None  # faultbox's own teardown: how fast it stops varies
        sig = ev.fields.get(Field.SIGNAL, "")
        return f"{t} {sig or ev.fields.get(Field.EXIT_CODE, '')}".rstrip()
    if t in SOURCE_TYPES:
        return _one_line(_source_line(ev, scrubber))
    return None


def scrubber_for(result: TestResult) -> Scrubber:
    """A :class:`Scrubber` knowing every pid/tid the test's events name."""
    pids = {ev.fields.get(Field.PID, "") for ev in result.events
            if ev.type in (EventType.SYSCALL, EventType.SERVICE_STARTED)}  # fmt: skip
    return Scrubber(pids)


def normalize_result(result: TestResult) -> list[str]:
    """``=== name ===``, then ``--- service ---`` sections (sorted), then one
    ``--- service type ---`` section per event-source stream (sorted), for one test."""
    scrubber = scrubber_for(result)
    groups: dict[str, list[str]] = {}
    streams: dict[tuple[str, str], list[str]] = {}
    for ev in result.events:
        line = normalize_event(ev, scrubber)
        if line is None:
            continue
        svc = ev.service or TEST_HOST
        if ev.type in SOURCE_TYPES:
            streams.setdefault((svc, ev.type), []).append(line)
        else:
            groups.setdefault(svc, []).append(line)
    out = [f"=== {result.name} ==="]
    for svc in sorted(groups):
        out.append(f"--- {svc} ---")
        out.extend(groups[svc])
    for svc, typ in sorted(streams):
        out.append(f"--- {svc} {typ} ---")
        out.extend(streams[(svc, typ)])
    return out


def normalize(suite: SuiteResult) -> str:
    """The normalized text of a suite (tests in result order), ending with a newline."""
    lines: list[str] = []
    for r in suite.results:
        lines.extend(normalize_result(r))
    return "\n".join(lines) + "\n" if lines else ""


def write_normalized(suite: SuiteResult, path: str | Path) -> None:
    """Write :func:`normalize`'s text to ``path`` (UTF-8)."""
    Path(path).write_text(normalize(suite), encoding="utf-8")
