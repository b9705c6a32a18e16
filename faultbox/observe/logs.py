"""stdout/stderr readers: every line of a service's stream becomes an event."""

from __future__ import annotations

import json
from typing import Any

from faultbox.trace.events import EventLog
from faultbox.trace.vocabulary import EventType, Field

from .decoders import Decoder


class LineReader:
    """Turns the lines of one stream of one service into events of that stream's type.

    :meth:`on_line` is called from the service's output drain thread. A line that cannot be
    decoded or recorded becomes a ``source_error`` event; the drain goes on.
    """

    def __init__(self, log: EventLog, service: str, stream: str, decode: Decoder) -> None:
        self.log = log
        self.service = service
        self.stream = stream  # "stdout" | "stderr"
        self.decode = decode

    def on_line(self, stream: str, line: str) -> None:
        """Record ``line`` if it came from this reader's stream (blank lines are skipped)."""
        if stream != self.stream or not line.strip():
            return
        try:
            data = self.decode(line)
            fields = {k: _field_text(v) for k, v in data.items() if k != Field.SYSCALL}
            fields[Field.DATA] = line
            self.log.emit(self.stream, self.service, fields, data=data)
        except Exception as exc:  # the trace says so; the drain goes on
            self.log.emit(
                EventType.SOURCE_ERROR,
                self.service,
                {Field.SOURCE: self.stream, Field.ERROR: f"could not decode a line: {exc}"},
            )


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
