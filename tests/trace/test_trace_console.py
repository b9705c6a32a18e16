from __future__ import annotations

from tracekit import make_result, slow_wal_rule

from faultbox.report.trace_details import format_rule, format_trace_details
from faultbox.trace.results import Diagnostic, RuleReport


def test_pass_block_lists_only_non_allow_events() -> None:
    r = make_result(rules=[slow_wal_rule()], trace_assertions=1)
    lines = format_trace_details(r, verbose=False)
    assert lines[0] == "  syscall trace (6 events):"
    evs = [ln for ln in lines if ln.startswith("    #")]
    assert len(evs) == 2
    seq = evs[0].split()[0]
    assert evs[0] == (
        f"    {seq}  inventory    write            delay(100ms)  [slow WAL]  /tmp/inventory.wal"
        "  (+100ms)"
    )
    assert lines[3] == (
        "  fault rule on inventory: write=delay(100ms) → filter:[write,writev,pwrite64] "
        'label="slow WAL" (2 hits)'
    )
    assert not any("per-service" in ln for ln in lines)


def test_verbose_lists_everything() -> None:
    r = make_result(rules=[slow_wal_rule()], trace_assertions=1)
    lines = format_trace_details(r, verbose=True)
    assert sum(1 for ln in lines if ln.startswith("    #")) == 6


def test_op_and_rule_variants() -> None:
    from tracekit import TraceBuilder

    b = TraceBuilder()
    b.syscall(
        "db",
        "write",
        "deny(input/output error)",
        op="persist",
        path="socket:[12345]",
        label="disk failure",
        latency_ms="0",
    )
    r = make_result(events=b.events(), passed=False, reason="boom")
    lines = format_trace_details(r, verbose=False)
    assert lines[1] == (
        "    #1  db           persist(write)   deny(input/output error)  [disk failure]"
        "  socket:[12345]"
    )
    t = RuleReport("trace", "inventory", "openat", "trace", "trace", ["openat", "openat2"])
    assert format_rule(t) == "  trace rule on inventory: openat=trace → filter:[openat,openat2]"
    one = RuleReport("fault", "db", "persist", "deny", "deny(EIO)", ["write"], hits=1)
    assert format_rule(one).endswith("filter:[write] (1 hit)")


def test_fail_block_has_summary_and_diagnostics() -> None:
    diag = Diagnostic(
        "warning",
        "FAULT_NOT_FIRED",
        "fault rules were installed but no injections fired",
        "line one\nline two",
    )
    r = make_result(passed=False, reason="x", rules=[slow_wal_rule()], diagnostics=[diag])
    lines = format_trace_details(r, verbose=False)
    i = lines.index("  WARNING: fault rules were installed but no injections fired")
    assert lines[i + 1 : i + 3] == ["    hint: line one", "    hint: line two"]
    j = lines.index("  per-service syscall summary:")
    assert lines[j + 1] == "    inventory    5 total, 2 faulted  [fsync:1 openat:1 write:3]"
    assert lines[j + 2] == "    orders       1 total, 0 faulted  [connect:1]"


def test_no_syscalls_no_header() -> None:
    r = make_result(events=[], rules=[])
    assert format_trace_details(r, verbose=False) == []


def test_computed_diagnostics_are_printed() -> None:
    rule = slow_wal_rule(hits=0)
    r = make_result(rules=[rule])
    lines = format_trace_details(r, verbose=False)
    assert any(
        ln.startswith("  WARNING: fault rule write=delay(100ms) on inventory") for ln in lines
    )
    assert "    hint: run with --verbose to see all intercepted syscalls" in lines


def test_info_is_a_note_and_labels_come_first() -> None:
    note = Diagnostic("info", "SERVICE_CRASHED", "service db exited during the test (exit code 1)")
    r = make_result(events=[], diagnostics=[note], labels={"invariant": "I-2", "mode": "FM-1"})
    assert format_trace_details(r) == [
        "  labels: invariant=I-2 mode=FM-1",
        "  NOTE: service db exited during the test (exit code 1)",
    ]


def test_a_multi_line_label_gets_lines_of_its_own() -> None:
    labels = {"verdict": "reproduced", "evidence": "INV_001 violated\n    #118 queue stdout: j1"}
    r = make_result(events=[], labels=labels)
    assert format_trace_details(r)[:3] == [
        "  labels: verdict=reproduced",
        "  evidence:",
        "    INV_001 violated",
    ]
    assert format_trace_details(r)[3] == "        #118 queue stdout: j1"
