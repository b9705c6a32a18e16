"""stdout/stderr event sources: every line of a service's stream becomes an event."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from faultbox.starlark_env._interp import HostValue

from .decoders import Decoder, raw


@dataclass(eq=False)
class DecoderValue(HostValue):
    """A decoder as specs hold it: ``json_decoder()``, ``decoder("logfmt")`` …"""

    name: str
    decode: Decoder

    _starlark_type = "decoder"

    def __repr__(self) -> str:
        return f"<decoder {self.name}>"


@dataclass(eq=False)
class StreamSource(HostValue):
    """``stdout(decoder=…)`` / ``stderr(…)``: events of type ``stdout`` / ``stderr``."""

    stream: str  # "stdout" | "stderr"
    decoder: DecoderValue | None = None

    _starlark_type = "event_source"

    def __repr__(self) -> str:
        return f"<{self.stream} source>"

    @property
    def line_stream(self) -> str:
        return self.stream

    def on_line(self, session: Any, service: str, line: str) -> None:
        if not line.strip():
            return
        data = self.decoder.decode(line) if self.decoder else raw(line)
        fields = {k: _field_text(v) for k, v in data.items() if k != "syscall"}
        fields["data"] = line
        session.log.emit(self.stream, service, fields, data=data)


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))
