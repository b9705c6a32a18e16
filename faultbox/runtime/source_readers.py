"""Per-test readers for a service's event sources.

The spec declares sources (``starlark_env/source_values.py``: immutable, shared by every
test); for each test the session asks this module for fresh readers (``faultbox/observe``),
owns them and stops them at teardown. A reader that cannot start raises its own
``SourceStartError``; here it becomes the ``ServiceStartError`` that fails the test.
"""

from __future__ import annotations

import shlex
from typing import Any

from faultbox.common.clients import pick_interface
from faultbox.observe import LineReader, SourceStartError, decoders
from faultbox.observe.poll import PollRun, http_fetcher, redis_fetcher
from faultbox.observe.postgres_wal import WalReader, first_line, slot_name
from faultbox.observe.topic import TopicReader, consumer_group
from faultbox.starlark_env.source_values import (
    DecoderValue,
    PollSource,
    StreamSource,
    TopicSource,
    WalStream,
)
from faultbox.starlark_env.values import Service
from faultbox.trace.events import EventLog

from .process import LineCallback, ServiceStartError

_AUTO = DecoderValue("auto")


def _decoder(value: DecoderValue | None) -> decoders.Decoder:
    return decoders.raw if value is None else decoders.by_name(value.name, value.pattern)


def log_sources(svc: Service) -> list[StreamSource]:
    """The spec's stdout/stderr sources, plus the default one (decoded by ``auto``) for each
    stream the spec did not attach a source to: every service's output is recorded."""
    explicit = [s for s in svc.observe if isinstance(s, StreamSource)]
    named = {s.stream for s in explicit}
    defaults = [StreamSource(st, _AUTO) for st in ("stdout", "stderr") if st not in named]
    return [*explicit, *defaults]


def line_callbacks(log: EventLog, svc: Service) -> list[LineCallback]:
    """Output-line callbacks for the service's stdout/stderr sources (fed by the drains)."""
    return [
        LineReader(log, svc.name, src.stream, _decoder(src.decoder)).on_line
        for src in log_sources(svc)
    ]


def background_sources(svc: Service) -> list[Any]:
    """The declarations whose readers start once the service is ready (WAL, poll, topic)."""
    return [s for s in svc.observe if not isinstance(s, StreamSource)]


def start_reader(log: EventLog, svc: Service, decl: Any) -> Any:
    """Build and start the reader for ``decl``; it has ``stop()``. Raises ServiceStartError."""
    if isinstance(decl, PollSource):
        reader: Any = PollRun(
            log, svc.name, _poll_fetcher(svc, decl), decl.interval_s, decl.command or decl.url
        )
        reader.start()
        return reader
    if isinstance(decl, TopicSource):
        return _start_topic(log, svc, decl)
    if isinstance(decl, WalStream):
        return _start_wal(log, svc, decl)
    raise ServiceStartError(f'service "{svc.name}": unknown event source {decl!r}')


def _poll_fetcher(svc: Service, decl: PollSource) -> Any:
    if decl.command:
        iface = pick_interface(svc, "redis", decl.interface)
        if iface is None:
            raise ServiceStartError(
                f'service "{svc.name}": poll(command=…) needs a redis interface on the '
                'service it observes, e.g. interface("main", "redis", 6379)'
            )
        return redis_fetcher(iface.port, shlex.split(decl.command))
    url = decl.url
    if url.startswith("/"):
        iface = pick_interface(svc, "http", decl.interface)
        if iface is None:
            raise ServiceStartError(
                f'service "{svc.name}": poll(url="{url}") is a path, so the service needs an '
                'http interface (or give a full URL: "http://localhost:8080/path")'
            )
        url = f"http://127.0.0.1:{iface.port}{url}"
    return http_fetcher(url)


def _start_topic(log: EventLog, svc: Service, decl: TopicSource) -> TopicReader:
    iface = pick_interface(svc, "kafka", decl.interface)
    if iface is None:
        raise ServiceStartError(
            f'service "{svc.name}": topic({decl.name!r}) needs a kafka interface on the '
            'service it observes, e.g. interface("broker", "kafka", 9092)'
        )
    reader = TopicReader(
        log, svc.name, f"127.0.0.1:{iface.port}", decl.name, consumer_group(decl.group),
        _decoder(decl.decoder),
    )  # fmt: skip
    try:
        reader.start()
    except SourceStartError as exc:
        raise ServiceStartError(f'service "{svc.name}": topic({decl.name!r}): {exc}') from None
    return reader


def connection_params(svc: Service, iface_name: str, database: str, where: str) -> dict[str, Any]:
    """libpq keywords for the service's postgres interface (user/db/password from its env)."""
    iface = pick_interface(svc, "postgres", iface_name)
    if iface is None:
        raise ServiceStartError(
            f'service "{svc.name}": {where}() needs a postgres interface on the service it '
            f'observes, e.g. interface("main", "postgres", 5432)'
        )
    env = svc.env
    return {
        "host": "127.0.0.1",
        "port": iface.port,
        "user": env.get("POSTGRES_USER") or env.get("PGUSER") or "postgres",
        "password": env.get("POSTGRES_PASSWORD") or env.get("PGPASSWORD") or None,
        "dbname": database or env.get("POSTGRES_DB") or env.get("PGDATABASE") or "postgres",
    }


def _start_wal(log: EventLog, svc: Service, decl: WalStream) -> WalReader:
    """Create the slot and start streaming; returns once the slot exists."""
    conninfo = connection_params(svc, decl.interface, decl.database, "wal_stream")
    reader = WalReader(log, svc.name, conninfo, slot_name(decl.slot), decl.tables)
    try:
        reader.start()
    except SourceStartError as exc:
        raise ServiceStartError(f'service "{svc.name}": wal_stream(): {exc}') from None
    except Exception as exc:  # psycopg2 errors after the slot exists
        reader.stop()
        raise ServiceStartError(f'service "{svc.name}": wal_stream(): {first_line(exc)}') from None
    return reader


def source_notes(readers: list[Any]) -> list[tuple[str, str]]:
    """(service, note) for what the readers want said at the end of a test: a ``tables=``
    name that matched nothing, a topic that does not exist (call before teardown)."""
    out: list[tuple[str, str]] = []
    for reader in readers:
        notes = getattr(reader, "notes", None)
        if notes is None:
            continue
        try:
            out.extend((reader.service, text) for text in notes())
        except Exception:  # a note is a courtesy; the broker may be gone
            continue
    return out
