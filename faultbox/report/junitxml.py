"""JUnit XML report in the shape pytest writes (for CI systems that render test results).

``<testsuites><testsuite name="faultbox" …><testcase classname="<spec stem>" name="test_x"
time="0.225"><failure message="…" type="assertion">details</failure></testcase>…``

One ``testcase`` per :class:`TestResult` (tests, matrix cells, runs); repeated names (``--runs``)
get a ``[run N]`` suffix so every case is distinct. Properties: ``scenario``/``fault``/``seed``
of matrix cells, the test's labels, and ``faults_not_fired`` when a fault never fired (also a
``warning:`` line in ``<system-out>``, where CI shows it for a passing case).
"""

from __future__ import annotations

import datetime as _dt
import re
import socket
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import IO

from faultbox.trace.diagnostics import not_fired_text, rule_text, unfired_faults
from faultbox.trace.export_json import classify_failure, replay_command
from faultbox.trace.results import SuiteResult, TestResult

from .trace_details import format_trace_details

__all__ = ["build_junit", "junit_xml", "write_junit"]

# Characters XML 1.0 cannot carry (even escaped).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _INVALID_XML.sub("\ufffd", text)


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"


def _case_name(r: TestResult, dup: Counter[str]) -> str:
    return f"{r.name}[run {r.run_index}]" if dup[r.name] > 1 else r.name


def _details(star_file: str, r: TestResult) -> str:
    lines = [r.reason or "test failed", f"replay: {replay_command(star_file, r)}"]
    lines.extend(format_trace_details(r, verbose=False))
    return "\n".join(lines)


# Failures of the harness rather than of the system under test: JUnit <error>, as pytest
# reports errors in setup. Assertions, monitors and timeouts are <failure>s.
ERROR_TYPES = frozenset({"service_start", "error"})


def _kind(r: TestResult) -> str:
    return "error" if (r.failure_type or classify_failure(r.reason)) in ERROR_TYPES else "failure"


def build_junit(suite: SuiteResult, *, timestamp: _dt.datetime | None = None) -> ET.Element:
    """The ``<testsuites>`` element for a suite."""
    kinds = Counter(_kind(r) for r in suite.results if not r.passed)
    classname = Path(suite.star_file).stem if suite.star_file else "faultbox"
    dup = Counter(r.name for r in suite.results)
    ts = (timestamp or _dt.datetime.now().astimezone()).isoformat(timespec="seconds")
    root = ET.Element("testsuites", {"name": "faultbox"})
    ts_el = ET.SubElement(
        root,
        "testsuite",
        {
            "name": "faultbox",
            "errors": str(kinds["error"]),
            "failures": str(kinds["failure"]),
            "skipped": "0",
            "tests": str(len(suite.results)),
            "time": _seconds(suite.duration_ms),
            "timestamp": ts,
            "hostname": socket.gethostname(),
        },
    )
    for r in suite.results:
        case = ET.SubElement(
            ts_el,
            "testcase",
            {
                "classname": classname,
                "name": _clean(_case_name(r, dup)),
                "time": _seconds(r.duration_ms),
            },
        )
        unfired_rules = unfired_faults(r)
        props = _properties(r, [rule_text(rule) for rule in unfired_rules])
        if props:
            props_el = ET.SubElement(case, "properties")
            for name, value in props:
                ET.SubElement(props_el, "property", {"name": name, "value": _clean(value)})
        if not r.passed:
            first_line = (r.reason or "test failed").splitlines()[0]
            failure = ET.SubElement(
                case,
                _kind(r),
                {
                    "message": _clean(first_line),
                    "type": r.failure_type or classify_failure(r.reason),
                },
            )
            failure.text = _clean(_details(suite.star_file, r))
        out_lines = [f"warning: {not_fired_text(rule, r.events)}" for rule in unfired_rules]
        out_lines.extend(f"--- {svc} ---\n{text}" for svc, text in sorted(r.service_output.items()))
        if out_lines:
            out = ET.SubElement(case, "system-out")
            out.text = _clean("\n".join(out_lines))
    return root


def _properties(r: TestResult, unfired: list[str]) -> list[tuple[str, str]]:
    props: list[tuple[str, str]] = []
    if r.matrix is not None:
        props += [("scenario", r.matrix[0]), ("fault", r.matrix[1]), ("seed", str(r.seed))]
    props.extend(sorted(r.labels.items()))
    if unfired:
        props.append(("faults_not_fired", "; ".join(unfired)))
    return props


def junit_xml(suite: SuiteResult, *, timestamp: _dt.datetime | None = None) -> str:
    """The XML document as text (with an XML declaration)."""
    root = build_junit(suite, timestamp=timestamp)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n"


def write_junit(suite: SuiteResult, path: str | Path | IO[str]) -> None:
    """Write the JUnit XML report to a path or text stream."""
    text = junit_xml(suite)
    if isinstance(path, (str, Path)):
        Path(path).write_text(text, encoding="utf-8")
    else:
        path.write(text)
