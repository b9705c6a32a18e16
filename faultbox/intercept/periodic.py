"""Deliver the supervisor's records every few milliseconds.

The loop only records into its preallocated buffer; nothing hands records to
Python per notification (that hand-off was the largest remaining cost of an intercepted call).
Readers of the trace flush first anyway; this thread bounds how late monitors see an event.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

#: Records reach the supervisor's sink at most this late (seconds).
FLUSH_EVERY_S = 0.005


class PeriodicFlush:
    """Call ``flush()`` every ``every_s`` seconds on a daemon thread until :meth:`stop`."""

    def __init__(self, flush: Callable[[], object], every_s: float = FLUSH_EVERY_S) -> None:
        self._flush = flush
        self._every = every_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faultbox-flush", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._every):
            self._flush()

    def stop(self) -> None:
        self._stopped.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(1.0)
