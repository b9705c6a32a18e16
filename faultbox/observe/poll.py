"""The reader behind ``poll(command=…)`` / ``poll(url=…)``: a ``poll`` event whenever the result
changes.

``command="GET session:active"`` runs a Redis command against the redis interface of the
service the source is attached to; ``.data = {"value": …}`` (strings for bulk replies, ``""``
for nil, ints for integer replies, lists for array replies). ``url=`` fetches over HTTP (a path
such as ``"/health"`` means the service's http interface); ``.data = {"status", "body"}``.

The first result is emitted when the source starts (before the test body), then one event per
change. A failed poll is not a ``poll`` event (so ``e.data.get("value") != ""`` cannot match an
outage): the first failure after a success emits one ``source_error`` event.

Drain guarantee: before every snapshot the source polls once more, synchronously (bounded by a
1 s timeout), so a change made before an assertion is in the trace when the assertion reads it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

from faultbox.common.clients import redis_client, redis_value
from faultbox.trace.events import EventLog
from faultbox.trace.vocabulary import EventType, Field

from ._background import BackgroundReader

POLL_TIMEOUT_S = 1.0
_MISSING = object()


def redis_fetcher(port: int, argv: list[str]) -> Any:
    """Run ``argv`` as a Redis command on 127.0.0.1:``port`` (``.data = {"value": …}``)."""
    client = redis_client(port, POLL_TIMEOUT_S)

    def fetch() -> tuple[dict[str, Any], dict[str, str]]:
        value = redis_value(client.execute_command(*argv))
        text = value if isinstance(value, str) else json.dumps(value)
        return {"value": value}, {"command": " ".join(argv), "value": text}

    fetch.close = client.close  # type: ignore[attr-defined]
    return fetch


def http_fetcher(url: str) -> Any:
    """GET ``url`` (``.data = {"status", "body"}``)."""
    import httpx  # third-party, loaded only by specs that poll over HTTP

    client = httpx.Client(timeout=POLL_TIMEOUT_S)

    def fetch() -> tuple[dict[str, Any], dict[str, str]]:
        resp = client.get(url)
        body = resp.text
        return {"status": resp.status_code, "body": body}, {
            "url": url,
            "status": str(resp.status_code),
            "body": body[:2048],
        }

    fetch.close = client.close  # type: ignore[attr-defined]
    return fetch


class PollRun(BackgroundReader):
    """One test's polling loop."""

    def __init__(
        self, log: EventLog, service: str, fetch: Any, interval_s: float, label: str
    ) -> None:
        super().__init__(log, service)
        self.fetch = fetch
        self.interval_s = max(interval_s, 0.01)
        self.label = label
        self._last: Any = _MISSING
        self._failing = False
        self._lock = threading.Lock()

    def start(self) -> None:
        self.poll_once()  # the starting value is in the trace before the test body runs
        self._run_in_background(self._loop, f"poll-{self.service}", self.poll_once)

    def stop(self) -> None:
        self._stop_background(POLL_TIMEOUT_S + 1)
        with contextlib.suppress(Exception):
            self.fetch.close()

    def _loop(self) -> None:
        next_at = time.monotonic() + self.interval_s
        while not self._stopping.wait(max(0.0, next_at - time.monotonic())):
            self.poll_once()
            next_at = max(next_at + self.interval_s, time.monotonic())

    def poll_once(self) -> None:
        """Poll now; emit a ``poll`` event if the result differs from the last one."""
        if self._stopping.is_set():
            return
        with self._lock:
            try:
                data, fields = self.fetch()
            except Exception as exc:
                if not self._failing:
                    self._failing = True
                    text = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                    self.log.emit(
                        EventType.SOURCE_ERROR,
                        self.service,
                        {Field.SOURCE: "poll", Field.ERROR: text},
                    )
                return
            self._failing = False
            if data == self._last:
                return
            self._last = data
            self.log.emit(EventType.POLL, self.service, fields, data=data)
