"""The lifecycle shared by event-source readers that run on their own thread (WAL, topic, poll)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from faultbox.trace.events import EventLog


class BackgroundReader:
    """A reader thread plus an event-log drain, for one service in one test.

    Subclasses call :meth:`_run_in_background` at the end of their ``start()`` and
    :meth:`_stop_background` at the start of their ``stop()``; the loop watches ``_stopping``.
    """

    def __init__(self, log: EventLog, service: str) -> None:
        self.log = log
        self.service = service
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._drain: Callable[[], None] | None = None

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
