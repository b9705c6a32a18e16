"""The self-contained HTML report (``faultbox test --html``, ``faultbox report``).

``write_html(doc, path)`` renders a result document (the ``--output`` JSON, or several merged
by :mod:`faultbox.report.merge`) into one file: the page's HTML, CSS and JavaScript
(``html_assets/``) inlined, and the results as one compact JSON blob. Nothing is loaded from
the network, so the file opens offline and can be attached to a CI run.

The blob (:func:`build_report_data`) interns every string of the events once (``strings``) and
stores each event as ``[seq, t_us, lane, type, [key, value, …], clock]`` (indexes into
``strings``; ``t_us`` from the test's first event; ``clock`` aligned with the test's
``hosts``). Causality arrows of the steps and the fault/partition windows are computed here,
so the page only draws them.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import json
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import IO, Any

from faultbox import __version__
from faultbox.trace.export_json import build_trace_output
from faultbox.trace.results import SuiteResult
from faultbox.trace.vocabulary import TEST_HOST, EventType, Field

__all__ = ["build_report_data", "render_html", "write_html", "write_suite_html"]

#: Bumped when the blob's layout changes (the page checks it).
DATA_VERSION = 1
ASSETS = ("report.html", "report.css", "report.js")
_MARKERS = re.compile(r"/\*@CSS@\*/|/\*@JS@\*/|@TITLE@|@DATA@")

_WINDOW_TYPES = {
    EventType.FAULT_APPLIED.value: ("fault", True),
    EventType.FAULT_REMOVED.value: ("fault", False),
    EventType.TRACE_APPLIED.value: ("trace", True),
    EventType.TRACE_REMOVED.value: ("trace", False),
}


def _parse_ns(stamp: str) -> int:
    """Nanoseconds since the epoch of an export timestamp (nine fraction digits, an offset)."""
    head, _, rest = stamp.partition(".")
    digits = "".join(c for c in rest[:9] if c.isdigit())
    zone = rest[len(digits) :] or "Z"
    base = _dt.datetime.fromisoformat(head + ("+00:00" if zone == "Z" else zone))
    return int(base.timestamp()) * 1_000_000_000 + int(digits.ljust(9, "0"))


class _Strings:
    """The blob's string table: every distinct string stored once."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def __call__(self, text: str) -> int:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.values)
            self.values.append(text)
        return i


def _hosts(events: list[dict[str, Any]]) -> list[str]:
    """Lanes: the test driver first, then services in order of appearance; ``""`` (suite
    events such as partitions) last, when there are any."""
    seen = dict.fromkeys([TEST_HOST])
    for ev in events:
        seen.setdefault(ev.get("service", ""), None)
        seen.update(dict.fromkeys(k for k in ev.get("vector_clock", {}) if k not in seen))
    hosts = [h for h in seen if h]
    if "" in seen:
        hosts.append("")
    return hosts


def _windows(events: list[dict[str, Any]], t: list[int], lane: dict[str, int],
             end_us: int) -> list[list[Any]]:  # fmt: skip
    """Fault, trace and partition windows: ``[lane, start_us, end_us, kind, text, first, last]``
    (``first``/``last``: the indexes of the events that opened and closed it).

    A ``*_removed`` event closes the newest open window of its service and kind (scopes
    nest); one never closed lasts until the test's last event.
    """
    open_: dict[tuple[str, str], list[tuple[int, str, int]]] = {}
    last = len(events) - 1
    out: list[list[Any]] = []
    for i, ev in enumerate(events):
        typ, svc = ev["type"], ev.get("service", "")
        fields = ev.get("fields", {})
        if typ in _WINDOW_TYPES:
            kind, starts = _WINDOW_TYPES[typ]
            stack = open_.setdefault((svc, kind), [])
            if starts:
                text = "; ".join(f"{k}={v}" for k, v in sorted(fields.items()))
                stack.append((t[i], text, i))
            elif stack:
                start, text, first = stack.pop()
                out.append([lane[svc], start, t[i], kind, text, first, i])
        elif typ in (EventType.PARTITION_APPLIED, EventType.PARTITION_REMOVED):
            between = fields.get(Field.BETWEEN, "")
            stack = open_.setdefault(("", "partition:" + between), [])
            if typ == EventType.PARTITION_APPLIED:
                stack.append((t[i], f"partition {between.replace(',', ' ↔ ')}", i))
            elif stack:
                start, text, first = stack.pop()
                out.extend(
                    [lane[h], start, t[i], "partition", text, first, i]
                    for h in between.split(",")
                    if h in lane
                )
    for (svc, kind), stack in open_.items():
        for start, text, first in stack:
            if kind.startswith("partition:"):
                hosts = kind.split(":", 1)[1].split(",")
                out.extend(
                    [lane[h], start, end_us, "partition", text, first, last]
                    for h in hosts
                    if h in lane
                )
            else:
                out.append([lane[svc], start, end_us, kind, text, first, last])
    return out


def _arrows(events: list[dict[str, Any]], lane: dict[str, int]) -> list[list[int]]:
    """Steps as arrows ``[from_event, to_event, from_lane, to_lane]`` from the vector clocks.

    ``step_send``: to the target's first event after it, if its clock has seen the test's
    previous tick (the target learns it when the step starts). ``step_recv``: from the target's
    event the test's clock has caught up with (the target's own component is its event count).
    An end is -1 when the target recorded nothing; the page then draws to its lane.
    """
    by_host: dict[str, list[int]] = {}
    for i, ev in enumerate(events):
        by_host.setdefault(ev.get("service", ""), []).append(i)
    out: list[list[int]] = []
    for i, ev in enumerate(events):
        if ev["type"] not in (EventType.STEP_SEND, EventType.STEP_RECV):
            continue
        target = ev.get("fields", {}).get(Field.TARGET, "")
        clock = ev.get("vector_clock", {})
        own = by_host.get(target, [])
        if ev["type"] == EventType.STEP_SEND:
            seen = clock.get(TEST_HOST, 1) - 1
            k = bisect.bisect_right(own, i)  # the target's first event after the send
            to = own[k] if k < len(own) else -1
            if to >= 0 and events[to].get("vector_clock", {}).get(TEST_HOST, 0) < seen:
                to = -1  # it has not heard of the step (cannot happen with rule 3)
            out.append([i, to, lane[TEST_HOST], lane.get(target, -1)])
        else:
            known = clock.get(target, 0)
            src = own[known - 1] if 0 < known <= len(own) else -1
            out.append([src, i, lane.get(target, -1), lane[TEST_HOST]])
    return out


def _events_blob(events: list[dict[str, Any]], strings: _Strings) -> dict[str, Any]:
    hosts = _hosts(events)
    lane = {h: i for i, h in enumerate(hosts)}
    stamps = [_parse_ns(ev["timestamp"]) for ev in events]
    t0 = min(stamps) if stamps else 0
    t_us = [(s - t0) // 1000 for s in stamps]
    rows = []
    for ev, t in zip(events, t_us, strict=True):
        flat: list[int] = []
        for k, v in ev.get("fields", {}).items():
            flat += (strings(k), strings(v))
        if "data" in ev and Field.DATA not in ev.get("fields", {}):
            data = ev["data"]
            text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
            flat += (strings(Field.DATA), strings(text))
        vc = ev.get("vector_clock", {})
        clock = [vc.get(h, 0) for h in hosts]
        while clock and clock[-1] == 0:
            clock.pop()
        rows.append([ev["seq"], t, lane[ev.get("service", "")], strings(ev["type"]), flat, clock])
    end_us = max(t_us, default=0)
    return {
        "hosts": hosts,
        "t0": events[0]["timestamp"] if events else "",
        "t0_ns": str(t0),  # a string: JavaScript numbers lose nanoseconds
        "end_us": end_us,
        "ev": rows,
        "windows": _windows(events, t_us, lane, end_us),
        "arrows": [a for a in _arrows(events, lane) if a[2] >= 0 and a[3] >= 0],
    }


_TEST_KEYS = ("name", "result", "reason", "failure_type", "location", "seed", "duration_ms",
              "return_value", "replay_command", "matrix", "run_index", "assertions", "labels",
              "faults", "syscall_summary", "diagnostics", "service_output", "faults_not_fired")  # fmt: skip


def build_report_data(doc: dict[str, Any], sources: Iterable[str] = ()) -> dict[str, Any]:
    """The page's data blob from a result document (``sources``: the files it came from)."""
    strings = _Strings()
    tests = []
    for test in doc.get("tests", []):
        entry = {k: test[k] for k in _TEST_KEYS if k in test}
        entry.update(_events_blob(test.get("events", []), strings))
        tests.append(entry)
    return {
        "data_version": DATA_VERSION,
        "star_file": doc.get("star_file", ""),
        "faultbox_version": doc.get("faultbox_version", ""),
        "report_version": __version__,
        "generated": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "sources": list(sources),
        "duration_ms": doc.get("duration_ms", 0),
        "pass": doc.get("pass", 0),
        "fail": doc.get("fail", 0),
        "matrix": doc.get("matrix"),
        "tests": tests,
        "strings": strings.values,
    }


def _asset(name: str) -> str:
    return resources.files("faultbox.report").joinpath("html_assets", name).read_text("utf-8")


def _blob_text(data: dict[str, Any]) -> str:
    """Compact JSON safe inside ``<script>``: ``<`` only occurs in strings, so ``\\u003c``
    keeps it valid JSON while no ``</script>`` or ``<!--`` can end the element early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_html(doc: dict[str, Any], sources: Iterable[str] = ()) -> str:
    """The whole page as text."""
    page, css, js = (_asset(name) for name in ASSETS)
    title = f"faultbox report: {doc.get('star_file') or 'results'}"
    title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    parts = {
        "/*@CSS@*/": css,
        "/*@JS@*/": js,
        "@TITLE@": title,
        "@DATA@": _blob_text(build_report_data(doc, sources)),
    }
    missing = [m for m in parts if m not in page]
    if missing:
        raise RuntimeError(f"html_assets/report.html lacks the markers {missing}")
    # One pass over the template: what is inserted (data, scripts) is never searched again.
    page = _MARKERS.sub(lambda m: parts[m.group(0)], page)
    return page


def write_html(
    doc: dict[str, Any], dest: str | Path | IO[str], sources: Iterable[str] = ()
) -> None:
    """Write the report of a result document to a path or text stream."""
    text = render_html(doc, sources)
    if isinstance(dest, (str, Path)):
        Path(dest).write_text(text, encoding="utf-8")
    else:
        dest.write(text)


def write_suite_html(suite: SuiteResult, dest: str | Path | IO[str]) -> None:
    """Write the report of a finished run (``faultbox test --html``)."""
    write_html(build_trace_output(suite), dest)
