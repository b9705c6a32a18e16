"""Monitors: spec functions called for every matching event, off the supervisor's thread.

The event log's dispatcher thread delivers events; monitors run on their own Starlark thread
(a Starlark thread must never be shared between Python threads). The first failure of a
monitor is kept and fails the test with ``monitor violation: …``.
"""

from __future__ import annotations

import threading
from typing import Any

from starlark import EvalError

from faultbox.starlark_env import _interp
from faultbox.starlark_env.errors import error_message
from faultbox.starlark_env.queries import EventValue
from faultbox.trace.events import Event
from faultbox.trace.query import match_event
from faultbox.trace.vocabulary import QUERYABLE_TYPES


class MonitorSet:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.monitors: list[Any] = []
        self.violations: list[str] = []
        self._thread: Any = None
        self._lock = threading.Lock()
        self._subscribed = False

    def add(self, monitors: list[Any]) -> None:
        with self._lock:
            for m in monitors:
                if m not in self.monitors:
                    self.monitors.append(m)
            if self.monitors and not self._subscribed:
                self._subscribed = True
                self.session.log.subscribe(self._on_event)

    def _on_event(self, ev: Event) -> None:
        if self.violations:
            return
        queryable = ev.type in QUERYABLE_TYPES
        for m in list(self.monitors):
            # as in queries: a filter naming type= reaches every type (crash, unsynced_dropped)
            if not queryable and "type" not in (m.filters or {}):
                continue
            if m.filters and not match_event(ev, m.filters):
                continue
            if self._thread is None:
                spec = self.session.spec
                self._thread = _interp.new_thread(spec.main_name, spec.predeclared)
            try:
                _interp.call_starlark(m.fn, EventValue(ev), thread=self._thread)
            except EvalError as exc:
                self.violations.append(f"monitor violation: {m.name}: {error_message(exc)}")
                return
            except Exception as exc:  # a crash inside a monitor must not let the test pass
                self.violations.append(f"monitor violation: {m.name} crashed: {exc!r}")
                return

    def close(self) -> None:
        if self._thread is not None:
            _interp.release_thread(self._thread)
            self._thread = None
