"""Event-source declarations: the immutable values a service's ``observe=[…]`` holds.

``stdout()``, ``wal_stream()``, ``poll()``, ``topic()`` and the decoders return these. They
only describe a source; the session builds a reader for each one per test
(``runtime/source_readers.py`` → ``faultbox/observe``), so one declaration serves many tests
and nothing of a run is kept in the spec's values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlark import StarlarkList

from ._builtin import type_name
from ._interp import HostValue
from .errors import SpecError


@dataclass(eq=False, frozen=True)
class DecoderValue(HostValue):
    """A decoder as specs hold it: ``json_decoder()``, ``decoder("logfmt")`` …

    ``name`` is ``json``, ``logfmt``, ``regex`` (with ``pattern``) or ``auto`` (the default
    of every service's own stdout/stderr: JSON objects decode, other lines stay raw).
    """

    name: str
    pattern: str = ""

    _starlark_type = "decoder"

    def __repr__(self) -> str:
        return f"<decoder {self.name}>"


@dataclass(eq=False, frozen=True)
class StreamSource(HostValue):
    """``stdout(decoder=…)`` / ``stderr(…)``: events of type ``stdout`` / ``stderr``."""

    stream: str  # "stdout" | "stderr"
    decoder: DecoderValue | None = None

    _starlark_type = "event_source"

    def __repr__(self) -> str:
        return f"<{self.stream} source>"


@dataclass(eq=False, frozen=True)
class WalStream(HostValue):
    """``wal_stream(tables=[…], slot=…)``: PostgreSQL row changes as ``wal`` events."""

    tables: tuple[str, ...] = ()
    slot: str = ""
    database: str = ""
    interface: str = ""

    _starlark_type = "event_source"

    def __repr__(self) -> str:
        return f"<wal_stream tables={list(self.tables)!r}>"


@dataclass(eq=False, frozen=True)
class PollSource(HostValue):
    """``poll(command=…, interval=…)`` or ``poll(url=…, interval=…)``."""

    command: str = ""
    url: str = ""
    interval_s: float = 1.0
    interface: str = ""

    _starlark_type = "event_source"

    def __repr__(self) -> str:
        what = f"command={self.command!r}" if self.command else f"url={self.url!r}"
        return f"<poll {what}>"


@dataclass(eq=False, frozen=True)
class TopicSource(HostValue):
    """``topic("order-events", decoder=json_decoder())``: Kafka messages as ``topic`` events."""

    name: str
    decoder: DecoderValue | None = None
    group: str = ""
    interface: str = ""

    _starlark_type = "event_source"

    def __repr__(self) -> str:
        return f"<topic {self.name!r}>"


#: What ``service(observe=[…])`` accepts.
SOURCE_TYPES: tuple[type, ...] = (StreamSource, WalStream, PollSource, TopicSource)


def check_observe_list(service_name: str, value: Any) -> list[Any]:
    """Validate ``observe=[…]`` of a service."""
    if not isinstance(value, StarlarkList | list | tuple):
        raise SpecError(f"service({service_name!r}): observe= must be a list of event sources")
    out = []
    for item in value:
        if not isinstance(item, SOURCE_TYPES):
            raise SpecError(
                f"service({service_name!r}): observe= items must be event sources such as "
                f"stdout(decoder=json_decoder()), got {type_name(item)}"
            )
        out.append(item)
    return out
