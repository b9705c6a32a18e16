"""JUnit XML report in the shape pytest writes (for CI systems that render test results).

``<testsuites><testsuite name="faultbox" …><testcase classname="<spec stem>" name="test_x"
time="0.225"><failure message="…" type="assertion">details</failure></testcase>…``

One ``testcase`` per :class:`TestResult` (tests, matrix cells, runs); repeated names (``--runs``)
get a ``[run N]`` suffix so every case is distinct.
"""

from __future__ import annotations

import datetime as _dt
import re
import socket
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import IO

from .console import format_trace_details
from .export_json import classify_failure, replay_command
from .results import SuiteResult, TestResult

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
        if r.matrix is not None:
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", {"name": "scenario", "value": _clean(r.matrix[0])})
            ET.SubElement(props, "property", {"name": "fault", "value": _clean(r.matrix[1])})
            ET.SubElement(props, "property", {"name": "seed", "value": str(r.seed)})
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
        if r.service_output:
            out = ET.SubElement(case, "system-out")
            out.text = _clean(
                "\n".join(
                    f"--- {svc} ---\n{text}" for svc, text in sorted(r.service_output.items())
                )
            )
    return root


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
