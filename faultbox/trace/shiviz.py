"""ShiViz log export (``--shiviz FILE``): reference §3.2.

One log for the whole suite. Each test's event log restarts its clocks at zero, so every
test's clocks are shifted per host by the largest value that host reached in earlier tests,
and each host's clock is merged with its own last printed clock; the result is monotonic for
every host across tests (ShiViz rejects a host whose own component goes backwards).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from .events import Event
from .results import SuiteResult

__all__ = ["SHIVIZ_REGEX", "format_clock", "format_shiviz", "shiviz_description", "write_shiviz"]

#: First line of the log: the parser regex ShiViz is given (JavaScript named groups).
SHIVIZ_REGEX = r"(?<host>\S+) (?<clock>\{.*?\}) (?<event>.*)"

TEST_HOST = "test"


def format_clock(clock: Mapping[str, int]) -> str:
    """``{"inventory": 5, "test": 2}`` (keys sorted); ``{}`` when empty."""
    return "{" + ", ".join(f"{json.dumps(k)}: {clock[k]}" for k in sorted(clock)) + "}"


def shiviz_description(ev: Event) -> str:
    """``syscall.write delay(100ms) [slow WAL] /tmp/inventory.wal (+100ms)``."""
    f = ev.fields
    text = ev.event_type
    if f.get("decision"):
        text += f" {f['decision']}"
    if f.get("label"):
        text += f" [{f['label']}]"
    if f.get("path"):
        text += f" {f['path']}"
    lat = f.get("latency_ms", "")
    if lat and lat != "0":
        text += f" (+{lat}ms)"
    if ev.type in ("step_send", "step_recv"):
        text += f" {f.get('method', '')}→{f.get('target', '')}"
    if ev.type == "service_exited":
        if f.get("signal"):
            text += f" signal={f['signal']}"
        elif f.get("exit_code"):
            text += f" exit_code={f['exit_code']}"
    return " ".join(text.split("\n"))


def format_shiviz(suite: SuiteResult) -> str:
    """The whole log: regex line, empty line, one line per event (with a service)."""
    lines = [SHIVIZ_REGEX, ""]
    base: dict[str, int] = {}  # per host: largest value printed so far for that host
    last: dict[str, dict[str, int]] = {}  # per host: last clock printed on that host
    for result in suite.results:
        start = dict(base)
        high: dict[str, dict[str, int]] = {}  # per host: latest clock in this test
        for ev in result.events:
            host = ev.service
            if not host:
                continue
            clock = {h: v + start.get(h, 0) for h, v in ev.vector_clock.items()}
            if host not in clock:  # an event without its own tick (synthetic logs)
                clock[host] = start.get(host, 0) + 1
            prev = last.get(host, {})
            for h, v in prev.items():
                if clock.get(h, 0) < v:
                    clock[h] = v
            if clock[host] <= prev.get(host, 0):
                clock[host] = prev.get(host, 0) + 1
            last[host] = clock
            high[host] = clock
            for h, v in clock.items():
                if base.get(h, 0) < v:
                    base[h] = v
            lines.append(f"{host} {format_clock(clock)} {shiviz_description(ev)}")
        if not result.passed:
            vclock: dict[str, int] = {}  # everything this test saw, then the test's own tick
            for c in [*high.values(), last.get(TEST_HOST, {})]:
                for h, v in c.items():
                    if vclock.get(h, 0) < v:
                        vclock[h] = v
            vclock[TEST_HOST] = max(vclock.get(TEST_HOST, 0), base.get(TEST_HOST, 0)) + 1
            last[TEST_HOST] = vclock
            base[TEST_HOST] = vclock[TEST_HOST]
            reason = " ".join((result.reason or "test failed").split())
            lines.append(f"{TEST_HOST} {format_clock(vclock)} VIOLATION [{result.name}] {reason}")
    return "\n".join(lines) + "\n"


def write_shiviz(suite: SuiteResult, path: str | Path) -> None:
    """Write :func:`format_shiviz`'s log to ``path`` (UTF-8)."""
    Path(path).write_text(format_shiviz(suite), encoding="utf-8")
