"""The trace details of a test block: what follows ``--- PASS/FAIL: test ---`` and its reason.

:mod:`faultbox.report.terminal` prints the header, ``reason:`` and ``replay:`` lines;
:func:`format_trace_details` returns the rest of the block (reference §3.5), one string per
line, without newlines. JUnit puts the same lines in a failure's text.
"""

from __future__ import annotations

from faultbox.trace.diagnostics import diagnose, effective_rules, is_allowed, syscall_summary
from faultbox.trace.events import Event
from faultbox.trace.results import Diagnostic, RuleReport, TestResult

__all__ = [
    "format_diagnostic",
    "format_labels",
    "format_rule",
    "format_syscall_line",
    "format_trace_details",
]

# "info" reads as a note: e.g. a service that exited while the test passed anyway.
_LEVEL = {"error": "ERROR", "warning": "WARNING", "info": "NOTE"}


def format_syscall_line(ev: Event) -> str:
    """``    #72  db           write            deny(input/output error)  [label]  path  (+5ms)``"""
    f = ev.fields
    sc = f.get("syscall", "")
    op = f.get("op", "")
    name = f"{op}({sc})" if op and op != sc else sc
    line = f"    #{ev.seq:d}  {ev.service:<12s} {name:<16s} {f.get('decision', '')}"
    if f.get("label"):
        line += f"  [{f['label']}]"
    if f.get("path"):
        line += f"  {f['path']}"
    lat = f.get("latency_ms", "")
    if lat and lat != "0":
        line += f"  (+{lat}ms)"
    return line


def format_rule(r: RuleReport) -> str:
    """``fault rule on db: write=deny(EIO) → filter:[write,writev] label="x" (2 hits)``"""
    kind = r.kind or "fault"
    line = f"  {kind} rule on {r.service}: {r.key}={r.spec} → filter:[{','.join(r.filter)}]"
    if r.path_glob:
        line += f' path="{r.path_glob}"'
    if r.label:
        line += f' label="{r.label}"'
    if r.hits > 0:
        line += f" ({r.hits} hit{'s' if r.hits != 1 else ''})"
    return line


def format_diagnostic(d: Diagnostic) -> list[str]:
    """``  WARNING: message`` followed by ``    hint: …`` lines (one per suggestion line)."""
    lines = [f"  {_LEVEL.get(d.level, d.level.upper())}: {d.message}"]
    lines.extend(f"    hint: {s}" for s in d.suggestion.splitlines() if s.strip())
    return lines


def format_labels(labels: dict[str, str]) -> list[str]:
    """``  labels: k=v k2=v2`` for one-line values; a multi-line value (evidence) gets
    ``  <key>:`` and its lines indented below."""
    short = {k: v for k, v in sorted(labels.items()) if "\n" not in v}
    lines = ["  labels: " + " ".join(f"{k}={v}" for k, v in short.items())] if short else []
    for key, value in sorted(labels.items()):
        if key not in short:
            lines.append(f"  {key}:")
            lines.extend(f"    {line}" for line in value.splitlines())
    return lines


def format_trace_details(result: TestResult, *, verbose: bool = False) -> list[str]:
    """The body of a test block: syscall trace, rules, diagnostics, failure summary.

    The test's labels come first, if any. Only syscall events whose decision is not an allow
    are listed, unless ``verbose``
    (``--verbose``), which lists every syscall event. The per-service summary is printed for
    failed tests only. Diagnostics come from ``result.diagnostics``, or are computed with
    :func:`diagnose` if the runner left that list empty.
    """
    lines: list[str] = []
    lines.extend(format_labels(result.labels))
    syscalls = [ev for ev in result.events if ev.type == "syscall"]
    listed = [
        format_syscall_line(ev)
        for ev in syscalls
        if verbose or not is_allowed(ev.fields.get("decision", ""))
    ]
    rules = effective_rules(result)
    # A test that faulted or traced nothing gets no trace header: the services may still be
    # intercepted (for other tests of the spec), but there is nothing to say about this one.
    if syscalls and (listed or rules):
        lines.append(f"  syscall trace ({len(syscalls)} events):")
        lines.extend(listed)
    for r in rules:
        lines.append(format_rule(r))
    diags = result.diagnostics or diagnose(result)
    for d in diags:
        lines.extend(format_diagnostic(d))
    if not result.passed:
        summary = syscall_summary(result.events)
        if summary:
            lines.append("  per-service syscall summary:")
            for svc, s in summary.items():
                breakdown = " ".join(f"{k}:{v}" for k, v in s["breakdown"].items())
                lines.append(
                    f"    {svc:<12s} {s['total']} total, {s['faulted']} faulted  [{breakdown}]"
                )
    return lines
