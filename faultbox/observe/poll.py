"""The reader behind ``poll(command=…)`` / ``poll(url=…)``: a ``poll`` event whenever the result
changes.

``command="GET session:active"`` runs a Redis command against the redis interface of the
service the source is attached to; ``.data = {"value": …}`` (strings for bulk replies, ``""``
for nil, ints for integer replies, lists for array replies). ``url=`` fetches over HTTP (a path
such as ``"/health"`` means the service's http interface); ``.data = {"status", "body"}``.

The first result is emitted when the source starts (before the test body), then one event per
change. A failed poll is not a ``poll`` event (so ``e.data.get("value") != ""`` cannot match an
outage): the first failure after a success emits one ``source_error`` event. The first failure
of the test is the source's :attr:`~._background.BackgroundReader.failure`: a query over poll
events cannot be proven once values may have been missed. A command the server rejects
(``ERR unknown command``, ``WRONGTYPE``) is reported with the server's error.

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


class PollRejected(Exception):
    """The server answered the poll with an error (the message is the server's)."""


class PollConnectionLost(Exception):
    """The server did not answer (refused, closed, timed out)."""


def redis_fetcher(port: int, argv: list[str]) -> Any:
    """Run ``argv`` as a Redis command on 127.0.0.1:``port`` (``.data = {"value": …}``)."""
    import redis  # third-party; redis_client has imported it already

    client = redis_client(port, POLL_TIMEOUT_S)

    def fetch() -> tuple[dict[str, Any], dict[str, str]]:
        try:
            reply = client.execute_command(*argv)
        except redis.ResponseError as exc:
            code = getattr(exc, "status_code", None)  # redis-py strips ERR, WRONGPASS, …
            text = str(exc).strip()
            raise PollRejected(f"{code} {text}" if code else text) from None
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise PollConnectionLost(_first_line(exc)) from None
        value = redis_value(reply)
        text = value if isinstance(value, str) else json.dumps(value)
        return {"value": value}, {"command": " ".join(argv), "value": text}

    fetch.close = client.close  # type: ignore[attr-defined]
    fetch.fields = frozenset({"command", "value"})  # type: ignore[attr-defined]
    return fetch


def http_fetcher(url: str) -> Any:
    """GET ``url`` (``.data = {"status", "body"}``)."""
    import httpx  # third-party, loaded only by specs that poll over HTTP

    client = httpx.Client(timeout=POLL_TIMEOUT_S)

    def fetch() -> tuple[dict[str, Any], dict[str, str]]:
        try:
            resp = client.get(url)
        except httpx.TransportError as exc:
            raise PollConnectionLost(_first_line(exc)) from None
        body = resp.text
        return {"status": resp.status_code, "body": body}, {
            "url": url,
            "status": str(resp.status_code),
            "body": body[:2048],
        }

    fetch.close = client.close  # type: ignore[attr-defined]
    fetch.fields = frozenset({"url", "status", "body"})  # type: ignore[attr-defined]
    return fetch


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PollRun(BackgroundReader):
    """One test's polling loop."""

    source = "poll"
    event_type = EventType.POLL

    def __init__(
        self, log: EventLog, service: str, fetch: Any, interval_s: float, what: str
    ) -> None:
        super().__init__(log, service)
        self.fetch = fetch
        self.interval_s = max(interval_s, 0.01)
        self.what = what  # the command or URL, for messages
        self.event_fields = getattr(fetch, "fields", frozenset())
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
                    self._report(exc)
                return
            self._failing = False
            if data == self._last:
                return
            self._last = data
            self.log.emit(EventType.POLL, self.service, fields, data=data)

    @property
    def label(self) -> str:
        return f"poll({json.dumps(self.what)})"

    def _report(self, exc: Exception) -> None:
        """The first failure becomes the source's failure; a later outage is one more event."""
        if isinstance(exc, PollRejected):
            verb, detail = "was rejected by the server", str(exc)
        elif isinstance(exc, PollConnectionLost):
            verb, detail = "lost its connection", str(exc)
        else:
            verb, detail = "failed", _first_line(exc)
        what = {"command" if "command" in self.event_fields else "url": self.what}
        if self.failure is None:
            self._fail(verb, detail, **what)
        else:
            self.log.emit(
                EventType.SOURCE_ERROR,
                self.service,
                {Field.SOURCE: self.source, **what, Field.ERROR: f"{verb}: {detail}"},
            )
