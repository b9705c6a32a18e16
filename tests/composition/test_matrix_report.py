"""The fault-matrix table (plain and rich) and the per-cell progress lines."""

from __future__ import annotations

import io

from faultbox.report.matrix_progress import MatrixProgress
from faultbox.report.matrix_table import render_matrix
from faultbox.report.terminal import Reporter
from faultbox.trace.results import RuleReport, SuiteResult
from faultbox.trace.results import TestResult as Result

FAULTS = [
    "db_down",
    "db_slow",
    "db_connection_reset",
    "disk_io_error",
    "disk_full",
    "fsync_failure",
]
DURATIONS = [212, 5215, 210, 210, 208, 210]

# Chapter 10, "Running generated tests" (verbatim).
SEED_TABLE = """\
Fault Matrix: 1 scenarios × 6 faults = 6 cells

                  │ db_down       │ db_slow       │ db_connection_reset │ disk_io_error │ disk_full     │ fsync_failure
──────────────────┼───────────────┼───────────────┼─────────────────────┼───────────────┼───────────────┼──────────────
order_flow        │ PASS (212ms)  │ PASS (5215ms) │ PASS (210ms)        │ PASS (210ms)  │ PASS (208ms)  │ PASS (210ms)

Result: 6/6 passed"""


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def cell(scenario: str, fault: str, ms: int = 100, passed: bool = True, reason: str = ""):
    return Result(
        name=f"test_matrix_{scenario}_{fault}", passed=passed, seed=0, duration_ms=ms,
        reason=reason, matrix=(scenario, fault),
    )  # fmt: skip


def ch10_suite(**kw) -> SuiteResult:
    # Results arrive sorted by test name; the table follows declaration order.
    results = sorted(
        (cell("order_flow", f, d) for f, d in zip(FAULTS, DURATIONS, strict=True)),
        key=lambda r: r.name,
    )
    return SuiteResult("x.star", results, 1, matrix_order=(["order_flow"], list(FAULTS)), **kw)


def test_plain_table_is_the_tutorials() -> None:
    assert render_matrix(ch10_suite(), io.StringIO()) == SEED_TABLE


def test_failures_and_exclusions() -> None:
    suite = ch10_suite(matrix_excluded=[("order_flow", "fsync_failure")])
    suite.results = [r for r in suite.results if r.matrix[1] != "fsync_failure"]
    down = next(r for r in suite.results if r.matrix[1] == "db_down")
    down.passed, down.reason = False, "assert_true: expected status >= 500\nsecond line"
    text = render_matrix(suite, io.StringIO())
    lines = text.splitlines()
    assert lines[0] == "Fault Matrix: 1 scenarios × 6 faults = 5 cells (1 excluded)"
    assert lines[4] == (
        "order_flow        │ FAIL          │ PASS (5215ms) │ PASS (210ms)        │ PASS (210ms)  "
        "│ PASS (208ms)  │ — (excluded)"
    )
    assert lines[6:] == [
        "Result: 4/5 passed, 1 failed",
        "Failures:",
        "  order_flow × db_down: assert_true: expected status >= 500",
    ]


def test_two_scenarios_rows_in_declaration_order() -> None:
    results = [
        cell("place_order", "persist_broken", 109), cell("place_order", "wal_broken", 90),
        cell("check_inventory", "persist_broken", 129),
        cell("check_inventory", "wal_broken", 95, passed=False, reason="expected failure"),
    ]  # fmt: skip
    results.sort(key=lambda r: r.name)  # check_inventory first, as the runner reports them
    suite = SuiteResult(
        "x", results, 1,
        matrix_order=(["place_order", "check_inventory"], ["persist_broken", "wal_broken"]),
    )  # fmt: skip
    assert render_matrix(suite, io.StringIO()).splitlines()[:6] == [
        "Fault Matrix: 2 scenarios × 2 faults = 4 cells",
        "",
        "                  │ persist_broken │ wal_broken",
        "──────────────────┼────────────────┼────────────",
        "place_order       │ PASS (109ms)   │ PASS (90ms)",
        "check_inventory   │ PASS (129ms)   │ FAIL",
    ]


def test_a_filtered_run_shows_only_what_ran() -> None:
    suite = ch10_suite()
    suite.results = [r for r in suite.results if r.matrix[1] == "db_slow"]
    lines = render_matrix(suite, io.StringIO()).splitlines()
    assert lines[0] == "Fault Matrix: 1 scenarios × 1 faults = 1 cells"
    assert lines[2].split("│")[1].strip() == "db_slow"


def test_no_matrix_cells_renders_nothing() -> None:
    plain = Result(name="test_x", passed=True, seed=0, duration_ms=1)
    assert render_matrix(SuiteResult("x", [plain], 1), io.StringIO()) == ""


def test_rich_table_on_a_terminal() -> None:
    suite = ch10_suite()
    suite.results[0].passed = False
    suite.results[0].reason = "boom"
    text = render_matrix(suite, Tty())
    assert "\x1b[" in text  # coloured
    assert "│" in text and "┼" in text and "─" in text
    for fault in FAULTS:
        assert fault in text
    assert "Result: 5/6 passed, 1 failed" in text
    assert "order_flow × db_connection_reset: boom" in text


def test_progress_lines_on_a_terminal_only() -> None:
    tty, pipe = Tty(), io.StringIO()
    for out in (tty, pipe):
        progress = MatrixProgress(out, total=6)
        progress.cell_done(cell("order_flow", "db_down", 212))
        progress.cell_done(cell("order_flow", "db_slow", 5215, passed=False))
        progress.cell_done(Result(name="test_other", passed=True, seed=0, duration_ms=1))
    assert tty.getvalue().splitlines() == [
        "  [1/6] order_flow × db_down PASS (212ms)",
        "  [2/6] order_flow × db_slow FAIL",
    ]
    assert pipe.getvalue() == ""
    unknown = MatrixProgress(Tty())
    unknown.cell_done(cell("a", "b"))
    assert unknown.out.getvalue() == "  [1] a × b PASS (100ms)\n"


def test_reporter_shows_progress_and_the_table() -> None:
    out = Tty()
    reporter = Reporter(out)
    reporter.matrix_cells = 6
    suite = ch10_suite()
    for r in suite.results:
        reporter.test_done(r, 1, 1)
    reporter.suite_done(suite)
    text = out.getvalue()
    assert "  [6/6] order_flow × fsync_failure PASS (210ms)" in text
    assert "--- PASS: test_matrix" not in text  # passing cells get no block
    assert "6 passed, 0 failed" in text


def test_reporter_in_a_pipe_prints_no_progress() -> None:
    out = io.StringIO()
    reporter = Reporter(out)
    suite = ch10_suite()
    for r in suite.results:
        reporter.test_done(r, 1, 1)
    reporter.suite_done(suite)
    assert out.getvalue() == "\n" + SEED_TABLE + "\n\n6 passed, 0 failed\n"


def db_down_rule(hits: int) -> RuleReport:
    return RuleReport(
        kind="fault", service="api", key="connect", action="deny", spec="deny(ECONNREFUSED)",
        filter=["connect"], hits=hits, errno="ECONNREFUSED",
    )  # fmt: skip


def unfired_suite() -> SuiteResult:
    """health_check × db_down passes, but /health never connects to db: the fault never fired."""
    fired = cell("order_flow", "db_down", 212)
    fired.rules = [db_down_rule(3)]
    quiet = cell("health_check", "db_down", 15)
    quiet.rules = [db_down_rule(0)]
    return SuiteResult(
        "x", [quiet, fired], 1, matrix_order=(["order_flow", "health_check"], ["db_down"])
    )


def test_a_cell_whose_fault_never_fired_is_marked() -> None:
    lines = render_matrix(unfired_suite(), io.StringIO()).splitlines()
    assert lines[4:6] == ["order_flow        │ PASS (212ms)", "health_check      │ PASS* (15ms)"]
    assert lines[6] == "* passed, but a fault of the cell never fired (see below)"
    assert lines[8:] == [
        "Result: 2/2 passed (1 passed without its fault firing)",
        "Faults that never fired:",
        "  health_check × db_down: connect=deny(ECONNREFUSED) on api",
    ]
    rich = render_matrix(unfired_suite(), Tty())
    assert "PASS* (15ms)" in rich and "1 passed without its fault firing" in rich


def test_progress_marks_the_cell_too() -> None:
    progress = MatrixProgress(Tty(), total=2)
    progress.cell_done(unfired_suite().results[0])
    assert progress.out.getvalue() == "  [1/2] health_check × db_down PASS* (15ms)\n"


def test_reporter_prints_the_block_of_a_cell_whose_fault_never_fired() -> None:
    out = io.StringIO()
    reporter = Reporter(out)
    suite = unfired_suite()
    for r in suite.results:
        reporter.test_done(r, 1, 1)
    text = out.getvalue()
    assert "--- PASS: test_matrix_health_check_db_down (15ms, seed=0) ---" in text
    assert (
        "  WARNING: fault rule connect=deny(ECONNREFUSED) on api was installed but never fired"
        " (0 hits), no connect call was intercepted" in text
    )
    assert "test_matrix_order_flow_db_down" not in text  # its fault fired: the table says it
    quiet = Reporter(io.StringIO(), show="fail")
    quiet.test_done(suite.results[0], 1, 1)
    assert quiet.out.getvalue() == ""  # --show fail: passing blocks stay hidden
