"""The lifecycle shared by event-source readers that run on their own thread (WAL, topic, poll),
and what they tell the queries about their health.

A reader that errors or loses its connection records one ``source_error`` event
(:meth:`BackgroundReader._fail`) and keeps it as :attr:`BackgroundReader.failure`. The query
builtins ask every reader whether a query is over its events (:meth:`BackgroundReader.covers`);
if it is and the reader failed, the query cannot be proven and fails with
:meth:`BackgroundReader.failure_text`. Notes (a ``tables=`` filter that matched nothing, a
topic that does not exist) come from :meth:`BackgroundReader.notes`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from faultbox.intercept.globs import value_matches
from faultbox.trace.events import EventLog
from faultbox.trace.vocabulary import EventType, Field

#: Filter keys that select events by their envelope rather than by a field.
_ENVELOPE_KEYS = frozenset({"type", "event_type", "service"})


class BackgroundReader:
    """A reader thread plus an event-log drain, for one service in one test.

    Subclasses set :attr:`source` (the builtin's name), :attr:`event_type` and
    :attr:`event_fields` (the field keys their events carry), call :meth:`_run_in_background`
    at the end of their ``start()`` and :meth:`_stop_background` at the start of their
    ``stop()``; the loop watches ``_stopping``.
    """

    source = ""
    event_type = ""
    event_fields: frozenset[str] = frozenset()

    def __init__(self, log: EventLog, service: str) -> None:
        self.log = log
        self.service = service
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._drain: Callable[[], None] | None = None
        self._fail_lock = threading.Lock()
        #: (seq of the source_error event, what happened) once the source failed.
        self.failure: tuple[int, str] | None = None

    # -------------------------------------------------------------- what the queries ask

    @property
    def label(self) -> str:
        """How messages name the source: ``wal_stream``, ``poll("GET k")``, ``topic("t")``."""
        return self.source

    def covers(self, filters: Mapping[str, str]) -> bool:
        """Whether a query with these keyword filters could match an event of this source.

        ``type=`` (or ``event_type=``) must match the source's event type and ``service=``
        its service, when given; any other key must be a field its events carry. A query
        with no keyword filter (``where=`` only) covers every source.
        """
        for key in ("type", "event_type"):
            pattern = filters.get(key)
            if pattern and not value_matches(pattern)(self.event_type):
                return False
        pattern = filters.get("service")
        if pattern and not value_matches(pattern)(self.service):
            return False
        return all(
            key in _ENVELOPE_KEYS or key in self.event_fields or value == ""
            for key, value in filters.items()
        )

    def failure_text(self) -> str | None:
        """``the wal_stream of postgres lost its connection at #41: …`` (None: no failure)."""
        if self.failure is None:
            return None
        seq, what = self.failure
        verb, _, detail = what.partition(": ")
        return f"the {self.label} of {self.service} {verb} at #{seq}: {detail}"

    def notes(self) -> list[str]:
        """What a person should know about the source's events so far (cheap, no I/O)."""
        return []

    def final_notes(self) -> list[str]:
        """The notes at the end of the test (may ask the server; called before teardown)."""
        return self.notes()

    # -------------------------------------------------------------- failures

    def _fail(self, verb: str, detail: str, **extra: str) -> None:
        """Record the source's first failure: one ``source_error`` event, kept as
        :attr:`failure`. ``verb`` reads after the source (``lost its connection``)."""
        with self._fail_lock:
            if self.failure is not None or self._stopping.is_set():
                return
            fields = {Field.SOURCE: self.source, **extra, Field.ERROR: f"{verb}: {detail}"}
            ev = self.log.emit(EventType.SOURCE_ERROR, self.service, fields)
            self.failure = (ev.seq, f"{verb}: {detail}")

    # -------------------------------------------------------------- lifecycle

    def _run_in_background(
        self, loop: Callable[[], None], name: str, drain: Callable[[], None]
    ) -> None:
        """Start ``loop`` on its own thread; readers of the trace call ``drain`` first."""
        self._thread = threading.Thread(target=loop, name=name, daemon=True)
        self._thread.start()
        self._drain = drain
        self.log.add_drain(drain)

    def _stop_background(self, join_timeout_s: float) -> None:
        """Unregister the drain, ask the loop to stop and wait for it (bounded)."""
        if self._drain is not None:
            self.log.remove_drain(self._drain)
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(join_timeout_s)
