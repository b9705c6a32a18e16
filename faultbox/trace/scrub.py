"""Placeholders for what changes from one run to the next, for the normalized trace.

Two runs of the same test differ in names that faultbox or the kernel chose: the test's
temporary directory (``/tmp/faultbox-run-ab12cd34/faultbox-k3j9x2ab``), process and thread
ids, the replication slot a ``wal_stream`` creates (``faultbox_<faultbox pid>_<n>``), and — in
log lines and event payloads — wall-clock times, PostgreSQL LSNs and measured durations. A
:class:`Scrubber` replaces them by ``{tmpdir}`` (``{rundir}``: the run's directory itself),
``{pid}``, ``{tid}``, ``{slot}``, ``{time}``, ``{lsn}`` and ``{duration}`` (docs/traces.md,
"Normalized trace").

Paths and free text are scrubbed differently on purpose: a path component made only of
digits is a PostgreSQL relation file (``base/13572/2691``) far more often than a pid, so in
paths a pid is only recognised after ``/proc/`` or inside a longer name
(``pgsql_tmp13602.0``); log lines get the time/LSN/duration patterns too.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable

__all__ = ["Scrubber"]

# tempfile.mkdtemp names: eight characters of [a-z0-9_]. A test's directory is
# <TMPDIR>/faultbox-run-XXXXXXXX/faultbox-XXXXXXXX (runtime/watchdog.py, session.py); older
# runs and other callers made <TMPDIR>/faultbox-XXXXXXXX directly.
_RUN_NAME = r"/faultbox-run-[a-z0-9_]{8}"
_TMP_NAME = r"/faultbox-[a-z0-9_]{8}(?![a-z0-9_-])"
_SLOT_RX = re.compile(r"\bfaultbox_\d+_\d+\b")
_PROC_RX = re.compile(r"^/proc/\d+(?=/|$)")
_TASK_RX = re.compile(r"(?<=/task/)\d+(?=/|$)")
_SNAP_RX = re.compile(r"(?<=/snapshots/)[0-9A-F]+-[0-9A-F]+(?=\.snap)")  # pg_logical: LSN names
_DIGITS_RX = re.compile(r"\d+")

_TIME_RXS = (
    # 2026-12-01 14:02:20.663, 2026-12-01T14:02:20Z, '…+00', '…+05:30', Go's 2026/12/01 14:02:20
    re.compile(
        r"\d{4}([-/])\d{2}\1\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}(?::?\d{2})?)?(?!\d)"
    ),
    # 14:02:20[.123], with Redis's "01 Dec 2026 " or syslog's "Dec  1 " before it
    re.compile(
        r"(?:\d{1,2} [A-Z][a-z]{2} \d{4} |[A-Z][a-z]{2} +\d{1,2} )?"
        r"(?<![\d:])\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?![\d:])"
    ),
    # Unix time in s / ms / µs / ns, optionally fractional (JSON log "ts" fields).
    re.compile(r"(?<![\d.])1\d{9}(?:\d{3}){0,3}(?:\.\d+)?(?![\d.])"),
)
_LSN_RX = re.compile(r"(?<![\w/.])[0-9A-F]{1,8}/[0-9A-F]{4,8}(?![\w/])")
_DURATION_RX = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?)(?!\w)")
_PID_WORD_RX = re.compile(r"\b(pid)([ =:]+|\": ?)(\d+)", re.IGNORECASE)
_BRACKET_PID_RX = re.compile(r"(?<=[\w\s])\[\d+\](?=[\s:])")  # "UTC [13602] LOG:", "app[77]:"


class Scrubber:
    """Replaces one test's volatile names; ``pids`` are the process/thread ids it saw."""

    def __init__(self, pids: Iterable[int | str] = (), tmpdirs: Iterable[str] = ()) -> None:
        self.pids = frozenset(str(p) for p in pids if str(p).isdigit() and int(p) > 1)
        roots = {tempfile.gettempdir().rstrip("/"), "/tmp", *tmpdirs}
        alts = "|".join(sorted((re.escape(r) for r in roots if r), key=len, reverse=True))
        self._tmp_rx = re.compile(f"(?:{alts})(?:{_RUN_NAME})?{_TMP_NAME}")
        self._run_rx = re.compile(f"(?:{alts}){_RUN_NAME}(?![a-z0-9_-])")

    def _common(self, text: str) -> str:
        text = self._tmp_rx.sub("{tmpdir}", text)
        text = self._run_rx.sub("{rundir}", text)
        return _SLOT_RX.sub("{slot}", text)

    def _known_pid(self, m: re.Match[str]) -> str:
        return "{pid}" if m.group(0) in self.pids else m.group(0)

    def path(self, path: str) -> str:
        """``/tmp/faultbox-ab12cd34/postgres/x`` → ``{tmpdir}/postgres/x``; ``/proc/9/task/10``
        → ``/proc/{pid}/task/{tid}``; a known pid inside a file name → ``{pid}``."""
        path = self._common(path)
        if path.startswith("/proc/"):
            path = _PROC_RX.sub("/proc/{pid}", path)
            path = _TASK_RX.sub("{tid}", path)
        path = _SNAP_RX.sub("{lsn}", path)
        if not self.pids:
            return path
        parts = path.split("/")
        for i, part in enumerate(parts):
            if part and not part.isdigit():  # all-digit components are relation files
                parts[i] = _DIGITS_RX.sub(self._known_pid, part)
        return "/".join(parts)

    def text(self, text: str) -> str:
        """A log line or payload with every placeholder applied (times, LSNs, durations too)."""
        text = self._common(text)
        for rx in _TIME_RXS:
            text = rx.sub("{time}", text)
        text = _LSN_RX.sub("{lsn}", text)
        text = _DURATION_RX.sub("{duration}", text)
        text = _PID_WORD_RX.sub(lambda m: f"{m.group(1)}{m.group(2)}{{pid}}", text)
        text = _BRACKET_PID_RX.sub("[{pid}]", text)
        if self.pids:
            text = _DIGITS_RX.sub(self._known_pid, text)
        return text
