"""A :class:`SuiteResult` rebuilt from a result document (``--output`` JSON, or one merged
from shards by ``report/merge.py``), so the console's matrix table and the JUnit writer can
report tests that ran in other processes or on other machines.

What the document holds comes back: names, verdicts, seeds, durations, reasons, replay
commands, matrix cells, rules with their hits, diagnostics, labels, service output excerpts
and the events (with their timestamps, fields, clocks and data).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from faultbox.trace.events import Event
from faultbox.trace.results import Diagnostic, RuleReport, SuiteResult, TestResult

__all__ = ["suite_from_doc"]


def _timestamp_ns(text: str) -> int:
    """``2026-03-25T19:15:07.547123456+05:00`` (or ``…Z``) → ns since the epoch."""
    head, _, rest = text.partition(".")
    digits = "".join(c for c in rest[:9] if c.isdigit())
    zone = rest[len(digits) :] or "Z"
    try:
        when = _dt.datetime.fromisoformat(head + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return 0
    return int(when.timestamp()) * 1_000_000_000 + int(digits.ljust(9, "0") or 0)


def _spec_text(rule: dict[str, Any]) -> str:
    action, slot = rule.get("action", ""), rule.get("errno", "")
    if action in ("deny", "delay", "partial"):
        return f"{action}({slot})"
    return "allow()" if action == "allow" else "trace"


def _rule(d: dict[str, Any]) -> RuleReport:
    return RuleReport(
        kind=d.get("kind", "fault"), service=d.get("service", ""), key=d.get("syscall", ""),
        action=d.get("action", ""), spec=_spec_text(d), filter=list(d.get("filter", [])),
        label=d.get("label", ""), hits=int(d.get("hits", 0)), errno=d.get("errno", ""),
        path_glob=d.get("path", ""),
    )  # fmt: skip


def _event(d: dict[str, Any]) -> Event:
    return Event(
        seq=int(d.get("seq", 0)), timestamp_ns=_timestamp_ns(d.get("timestamp", "")),
        type=d.get("type", ""), service=d.get("service", ""), fields=dict(d.get("fields", {})),
        vector_clock=dict(d.get("vector_clock", {})), data=d.get("data"),
    )  # fmt: skip


def _diagnostic(d: dict[str, Any]) -> Diagnostic:
    return Diagnostic(
        level=d.get("level", "info"), code=d.get("code", ""), message=d.get("message", ""),
        suggestion=d.get("suggestion", ""), service=d.get("service", ""),
        syscall=d.get("syscall", ""),
    )  # fmt: skip


def _test(d: dict[str, Any]) -> TestResult:
    matrix = d.get("matrix")
    r = TestResult(
        name=d["name"], passed=d.get("result") == "pass", seed=int(d.get("seed", 0)),
        duration_ms=int(d.get("duration_ms", 0)), reason=d.get("reason", ""),
        failure_type=d.get("failure_type", ""), return_value=d.get("return_value"),
        replay_command=d.get("replay_command", ""),
        events=[_event(e) for e in d.get("events", [])],
        rules=[_rule(x) for x in d.get("faults", [])],
        diagnostics=[_diagnostic(x) for x in d.get("diagnostics", [])],
        service_output=dict(d.get("service_output", {})),
        matrix=(matrix["scenario"], matrix["fault"]) if isinstance(matrix, dict) else None,
        run_index=int(d.get("run_index", 0)), assertions=d.get("assertions"),
    )  # fmt: skip
    r.labels.update(d.get("labels", {}))
    return r


def suite_from_doc(doc: dict[str, Any]) -> SuiteResult:
    """The suite a result document describes (tests in the document's order)."""
    suite = SuiteResult(
        star_file=doc.get("star_file", ""),
        results=[_test(t) for t in doc.get("tests", [])],
        duration_ms=int(doc.get("duration_ms", 0)),
    )
    matrix = doc.get("matrix")
    if isinstance(matrix, dict):
        suite.matrix_order = (list(matrix.get("scenarios", [])), list(matrix.get("faults", [])))
        suite.matrix_excluded = [(e["scenario"], e["fault"]) for e in matrix.get("excluded", [])]
    return suite
