"""``poll(command=…)`` / ``poll(url=…)``: an event of type ``poll`` whenever a result changes.

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
import shlex
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from faultbox.starlark_env._interp import HostValue

from ._background import BackgroundReader
from .postgres_wal import pick_interface

POLL_TIMEOUT_S = 1.0
_MISSING = object()


def redis_value(value: Any) -> Any:
    """A Redis reply as a plain value: bytes → str, nil → "", arrays → lists."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [redis_value(v) for v in value]
    if isinstance(value, dict):
        return {str(redis_value(k)): redis_value(v) for k, v in value.items()}
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass(eq=False)
class PollSource(HostValue):
    """``poll(command=…, interval=…)`` or ``poll(url=…, interval=…)``."""

    command: str = ""
    url: str = ""
    interval_s: float = 1.0
    interface: str = ""
    _run: PollRun | None = field(default=None, repr=False)

    _starlark_type = "event_source"

    def __repr__(self) -> str:
        what = f"command={self.command!r}" if self.command else f"url={self.url!r}"
        return f"<poll {what}>"

    def start(self, session: Any, svc: Any) -> None:
        run = PollRun(session, svc.name, self._fetcher(svc), self.interval_s, self.command or "")
        run.start()
        self._run = run

    def stop(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            run.stop()

    def _fetcher(self, svc: Any) -> Any:
        from faultbox.runtime.process import ServiceStartError

        if self.command:
            iface = pick_interface(svc, "redis", self.interface)
            if iface is None:
                raise ServiceStartError(
                    f'service "{svc.name}": poll(command=…) needs a redis interface on the '
                    'service it observes, e.g. interface("main", "redis", 6379)'
                )
            return _redis_fetcher(iface.port, shlex.split(self.command))
        url = self.url
        if url.startswith("/"):
            iface = pick_interface(svc, "http", self.interface)
            if iface is None:
                raise ServiceStartError(
                    f'service "{svc.name}": poll(url="{url}") is a path, so the service needs an '
                    'http interface (or give a full URL: "http://localhost:8080/path")'
                )
            url = f"http://127.0.0.1:{iface.port}{url}"
        return _http_fetcher(url)


def redis_client(port: int, timeout_s: float) -> Any:
    """A redis-py client that shows replies as the server sent them and never retries.

    redis-py turns some replies into Python values (``SET`` → True) and, since 6.0, retries
    failed commands with backoff — seconds of hidden waiting when a fault kills the server.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
    client.response_callbacks.clear()
    return client


def _redis_fetcher(port: int, argv: list[str]) -> Any:
    client = redis_client(port, POLL_TIMEOUT_S)

    def fetch() -> tuple[dict[str, Any], dict[str, str]]:
        value = redis_value(client.execute_command(*argv))
        text = value if isinstance(value, str) else json.dumps(value)
        return {"value": value}, {"command": " ".join(argv), "value": text}

    fetch.close = client.close  # type: ignore[attr-defined]
    return fetch


def _http_fetcher(url: str) -> Any:
    import httpx

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
        self, session: Any, service: str, fetch: Any, interval_s: float, label: str
    ) -> None:
        super().__init__(session, service)
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
                    self.session.log.emit(
                        "source_error", self.service, {"source": "poll", "error": text}
                    )
                return
            self._failing = False
            if data == self._last:
                return
            self._last = data
            self.session.log.emit("poll", self.service, fields, data=data)
