"""Event-source builtins beyond logs: ``wal_stream``, ``poll``, ``topic``.

They return declarations (``source_values.py``) for a service's ``observe=[…]``; the readers
that run them per test live in ``faultbox.observe`` (docs/event-sources.md).
"""

from __future__ import annotations

import re
from typing import Any

from ._builtin import builtin, want
from .duration_args import duration_arg
from .errors import SpecError
from .log_sources import decoder_arg
from .source_values import PollSource, TopicSource, WalStream
from .topology import _str_list

_SLOT = re.compile(r"^[a-z0-9_]{1,63}$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


@builtin("wal_stream")
def wal_stream(
    tables: Any = None, slot: str = "", database: str = "", interface: str = ""
) -> WalStream:
    """PostgreSQL row changes (INSERT/UPDATE/DELETE) of ``tables`` as ``wal`` events."""
    names = _str_list(tables, "wal_stream", "tables") if tables is not None else []
    want(slot, str, "wal_stream", "slot", "a string")
    want(database, str, "wal_stream", "database", "a string")
    want(interface, str, "wal_stream", "interface", "a string")
    if slot and not _SLOT.match(slot):
        raise SpecError(
            f"wal_stream(): slot {slot!r} is not a valid replication slot name "
            "(lower-case letters, digits and _, at most 63)"
        )
    return WalStream(tables=tuple(names), slot=slot, database=database, interface=interface)


@builtin("poll")
def poll(command: str = "", url: str = "", interval: Any = "1s", interface: str = "") -> PollSource:
    """Poll a Redis command or an HTTP URL; a ``poll`` event each time the result changes."""
    want(command, str, "poll", "command", "a string")
    want(url, str, "poll", "url", "a string")
    want(interface, str, "poll", "interface", "a string")
    if bool(command) == bool(url):
        raise SpecError(
            'poll(): give exactly one of command= (Redis, e.g. command="GET session:active") '
            'or url= (HTTP, e.g. url="/health" or url="http://localhost:8080/status")'
        )
    if url and not (url.startswith("/") or url.startswith(("http://", "https://"))):
        raise SpecError(f'poll(): url {url!r} must be a path ("/status") or an http:// URL')
    seconds = duration_arg(interval, "poll", "interval")
    if seconds < 0.01:
        raise SpecError('poll(): interval must be at least "10ms"')
    return PollSource(command=command, url=url, interval_s=seconds, interface=interface)


@builtin("topic")
def topic(
    name: str = "",
    decoder: Any = None,
    group: str = "",
    interface: str = "",
    topic: str = "",
) -> TopicSource:
    """Every message of a Kafka topic as a ``topic`` event: ``topic("orders", decoder=…)``."""
    want(name, str, "topic", "name", "a string")
    want(topic, str, "topic", "topic", "a string")
    want(group, str, "topic", "group", "a string")
    want(interface, str, "topic", "interface", "a string")
    if name and topic and name != topic:
        raise SpecError("topic(): the topic name is given twice")
    name = name or topic
    if not name:
        raise SpecError('topic(): the topic name is required, e.g. topic("order-events")')
    if not _TOPIC.match(name):
        raise SpecError(f"topic(): {name!r} is not a valid topic name (letters, digits, . _ -)")
    dec = decoder_arg(decoder, "topic()")
    return TopicSource(name=name, decoder=dec, group=group, interface=interface)
