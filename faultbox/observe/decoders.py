"""Line decoders for log event sources: JSON, logfmt, regex (named groups)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Decoder = Callable[[str], dict[str, Any]]


def raw(line: str) -> dict[str, Any]:
    """No decoding: ``{"raw": line}``."""
    return {"raw": line}


def json_lines(line: str) -> dict[str, Any]:
    """A JSON object per line; anything else is kept as ``{"raw": line}``."""
    try:
        value = json.loads(line)
    except ValueError:
        return raw(line)
    return value if isinstance(value, dict) else raw(line)


_LOGFMT = re.compile(r'([A-Za-z0-9_.\-/]+)=("((?:[^"\\]|\\.)*)"|[^\s"]*)')


def logfmt(line: str) -> dict[str, Any]:
    """``level=INFO msg="SET key1 value1" op=SET`` → a dict of strings."""
    out: dict[str, Any] = {}
    for m in _LOGFMT.finditer(line):
        key, bare, quoted = m.group(1), m.group(2), m.group(3)
        out[key] = quoted.replace('\\"', '"').replace("\\\\", "\\") if quoted is not None else bare
    return out or raw(line)


def regex(pattern: str) -> Decoder:
    """Named groups ``(?P<name>…)`` of the first match become fields; no match → raw."""
    compiled = re.compile(pattern)

    def decode(line: str) -> dict[str, Any]:
        m = compiled.search(line)
        if m is None:
            return raw(line)
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        return groups or raw(line)

    return decode


def auto(line: str) -> dict[str, Any]:
    """The default for services without an explicit source: JSON objects decode, else raw."""
    if line.lstrip().startswith("{"):
        return json_lines(line)
    return raw(line)


def by_name(name: str, pattern: str = "") -> Decoder:
    """The decoder a spec's ``DecoderValue`` names: json, logfmt, regex (``pattern``), auto."""
    if name == "json":
        return json_lines
    if name == "logfmt":
        return logfmt
    if name == "regex":
        return regex(pattern)
    if name == "auto":
        return auto
    raise ValueError(f"unknown decoder {name!r}")
