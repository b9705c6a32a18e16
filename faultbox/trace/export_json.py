"""JSON trace export (``--output FILE``, ``--format json``): reference §3.1, version 2.

The document is validated by ``faultbox/schemas/trace.schema.json`` in the tests.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from faultbox import __version__

from .diagnostics import (
    diagnose,
    effective_rules,
    family_calls,
    not_fired_text,
    passed_without_fault,
    syscall_summary,
    unfired_faults,
)
from .events import Event
from .results import Diagnostic, RuleReport, SuiteResult, TestResult

__all__ = [
    "TRACE_FORMAT_VERSION",
    "build_trace_output",
    "classify_failure",
    "event_to_json",
    "format_timestamp",
    "replay_command",
    "write_json",
]

#: The original's code writes 2 (its docs say 1); we keep 2 so tools written for the
#: original's real output keep working. See docs/traces.md.
TRACE_FORMAT_VERSION = 2

_ASSERT_RX = re.compile(r"\b(assert_(?:eventually|never|before|true|eq)|expect_\w+)\b")


def format_timestamp(ns: int) -> str:
    """RFC 3339 with nanoseconds and the local UTC offset: ``2026-03-25T19:15:07.547123456+05:00``.

    Always nine fraction digits (Go's RFC3339Nano trims trailing zeros; fixed width sorts
    lexically). A zero offset is written ``Z``.
    """
    secs, frac = divmod(ns, 1_000_000_000)
    dt = _dt.datetime.fromtimestamp(secs).astimezone()
    off = dt.utcoffset() or _dt.timedelta(0)
    if off == _dt.timedelta(0):
        tz = "Z"
    else:
        total = int(off.total_seconds())
        sign = "+" if total >= 0 else "-"
        total = abs(total)
        tz = f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"
    return f"{dt.strftime('%Y-%m-%dT%H:%M:%S')}.{frac:09d}{tz}"


def classify_failure(reason: str) -> str:
    """The original's classification of a failure reason."""
    r = reason
    if any(
        k in r
        for k in (
            "assert_eq",
            "assert_true",
            "assert_eventually",
            "assert_never",
            "assert_before",
            "expect_",
        )
    ):
        return "assertion"
    if "timed out" in r or "timeout" in r:
        return "timeout"
    if "failed to start" in r:
        return "service_start"
    return "error"


def replay_command(star_file: str, result: TestResult) -> str:
    """``faultbox test <file> --test <name without test_> --seed <seed>``."""
    if result.replay_command:
        return result.replay_command
    name = result.name[5:] if result.name.startswith("test_") else result.name
    return f"faultbox test {star_file or '<file>'} --test {name} --seed {result.seed}"


def _jsonable(value: Any) -> Any:
    """A JSON-compatible copy of an event-source payload."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(b).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [_jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def event_to_json(ev: Event) -> dict[str, Any]:
    """One event object (omitempty rules of the original; ``data`` when not None)."""
    out: dict[str, Any] = {
        "seq": ev.seq,
        "timestamp": format_timestamp(ev.timestamp_ns),
        "type": ev.type,
        "event_type": ev.event_type,
    }
    if ev.service:
        out["partition_key"] = ev.service
        out["service"] = ev.service
    if ev.fields:
        out["fields"] = {str(k): str(v) for k, v in ev.fields.items()}
    if ev.vector_clock:
        out["vector_clock"] = dict(sorted(ev.vector_clock.items()))
    if ev.data is not None:
        out["data"] = _jsonable(ev.data)
    return out


def _fault_json(r: RuleReport) -> dict[str, Any]:
    out: dict[str, Any] = {
        "service": r.service,
        "syscall": r.key,
        "action": r.action,
        "errno": r.errno,
        "hits": r.hits,
        "label": r.label,
        "kind": r.kind or "fault",
        "filter": list(r.filter),
    }
    if r.path_glob:
        out["path"] = r.path_glob
    return out


def _diag_json(d: Diagnostic) -> dict[str, Any]:
    out: dict[str, Any] = {
        "level": d.level,
        "code": d.code,
        "message": d.message,
        "suggestion": d.suggestion,
    }
    if d.service:
        out["service"] = d.service
    if d.syscall:
        out["syscall"] = d.syscall
    return out


def _not_fired_json(r: RuleReport, events: list[Event]) -> dict[str, Any]:
    out: dict[str, Any] = {"service": r.service, "syscall": r.key, "spec": r.spec}
    if r.label:
        out["label"] = r.label
    out["calls"] = family_calls(r, events)
    out["message"] = not_fired_text(r, events)
    return out


def _test_json(star_file: str, r: TestResult) -> dict[str, Any]:
    out: dict[str, Any] = {"name": r.name, "result": r.result}
    if r.reason:
        out["reason"] = r.reason
    if r.location:  # file:line of the failing statement (the console's "at:")
        out["location"] = r.location
    failure_type = r.failure_type or ("" if r.passed else classify_failure(r.reason))
    if failure_type and not r.passed:
        out["failure_type"] = failure_type
    out["seed"] = r.seed
    out["duration_ms"] = r.duration_ms
    if r.return_value is not None:
        out["return_value"] = r.return_value
    if not r.passed:
        out["replay_command"] = replay_command(star_file, r)
        m = _ASSERT_RX.search(r.reason or "")
        out["error_detail"] = {
            "assertion_type": m.group(1) if m else failure_type,
            "message": r.reason or "test failed",
        }
    if r.matrix is not None:
        out["matrix"] = {"scenario": r.matrix[0], "fault": r.matrix[1]}
    if r.run_index:
        out["run_index"] = r.run_index
    if r.assertions is not None:
        out["assertions"] = r.assertions
    # trace rules are reported too, marked kind="trace" (the original listed faults only)
    out["faults"] = [_fault_json(rule) for rule in effective_rules(r)]
    out["syscall_summary"] = syscall_summary(r.events)
    out["diagnostics"] = [_diag_json(d) for d in (r.diagnostics or diagnose(r))]
    if r.service_output:
        out["service_output"] = dict(sorted(r.service_output.items()))
    if r.labels:
        out["labels"] = dict(sorted(r.labels.items()))
    unfired = [_not_fired_json(rule, r.events) for rule in unfired_faults(r)]
    if unfired:
        out["faults_not_fired"] = unfired
    out["events"] = [event_to_json(ev) for ev in r.events]
    return out


def _first_appearance(values: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


def _matrix_json(suite: SuiteResult) -> dict[str, Any] | None:
    cells_src = [r for r in suite.results if r.matrix is not None]
    if not cells_src and suite.matrix_order is None:
        return None
    used_s = _first_appearance([r.matrix[0] for r in cells_src])  # type: ignore[index]
    used_f = _first_appearance([r.matrix[1] for r in cells_src])  # type: ignore[index]
    if suite.matrix_order is not None:
        decl_s, decl_f = suite.matrix_order
        scenarios = list(decl_s) + [s for s in used_s if s not in decl_s]
        faults = list(decl_f) + [f for f in used_f if f not in decl_f]
    else:
        scenarios, faults = used_s, used_f
    cells = []
    for r in cells_src:
        cell: dict[str, Any] = {
            "scenario": r.matrix[0],  # type: ignore[index]
            "fault": r.matrix[1],  # type: ignore[index]
            "passed": r.passed,
            "duration_ms": r.duration_ms,
        }
        if r.reason:
            cell["reason"] = r.reason
        cell["faults_fired"] = not unfired_faults(r)
        cells.append(cell)
    passed = sum(1 for r in cells_src if r.passed)
    return {
        "scenarios": scenarios,
        "faults": faults,
        "cells": cells,
        "excluded": [{"scenario": s, "fault": f} for s, f in suite.matrix_excluded],
        "total": len(cells),
        "passed": passed,
        "failed": len(cells) - passed,
        "passed_without_fault": sum(1 for r in cells_src if passed_without_fault(r)),
    }


def build_trace_output(suite: SuiteResult) -> dict[str, Any]:
    """The JSON document for a suite (a plain dict, ready for ``json.dumps``)."""
    out: dict[str, Any] = {"version": TRACE_FORMAT_VERSION}
    if suite.star_file:
        out["star_file"] = suite.star_file
    out["duration_ms"] = suite.duration_ms
    out["pass"] = suite.passed
    out["fail"] = suite.failed
    out["tests"] = [_test_json(suite.star_file, r) for r in suite.results]
    matrix = _matrix_json(suite)
    if matrix is not None:
        out["matrix"] = matrix
    if suite.shard is not None:  # lets faultbox merge tell a missing shard (report/merge.py)
        k, n, of_tests = suite.shard
        out["shard"] = {"index": k, "total": n, "of_tests": of_tests}
    out["faultbox_version"] = __version__  # result files of one version merge (report/merge.py)
    return out


def write_json(suite: SuiteResult, dest: str | Path | IO[str]) -> None:
    """Write the JSON document (2-space indent, UTF-8, trailing newline) to a path or stream."""
    text = json.dumps(build_trace_output(suite), indent=2, ensure_ascii=False) + "\n"
    if isinstance(dest, (str, Path)):
        Path(dest).write_text(text, encoding="utf-8")
    else:
        dest.write(text)
