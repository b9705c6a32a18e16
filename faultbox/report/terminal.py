"""Console output of ``faultbox test``: one block per test as it completes, then the totals."""

from __future__ import annotations

import sys
from typing import TextIO

from faultbox.trace.diagnostics import passed_without_fault
from faultbox.trace.results import SuiteResult, TestResult

from .matrix_progress import MatrixProgress
from .matrix_table import render_matrix
from .trace_details import format_trace_details


class Reporter:
    """Prints results to ``out`` (stderr by default, so stdout stays free for --format json).

    Set ``matrix_cells`` (the number of matrix cells selected) before the run to show the
    total in the progress lines.
    """

    def __init__(
        self, out: TextIO | None = None, *, verbose: bool = False, show: str = "all"
    ) -> None:
        self.out = out or sys.stderr
        self.verbose = verbose
        self.show = show
        self.matrix_cells: int | None = None
        self.matrix_progress: MatrixProgress | None = None

    def _print(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def test_done(self, result: TestResult, passed_runs: int, runs: int) -> None:
        """Print the block of a finished test (a passing matrix cell only if it says more
        than the table: a fault that never fired, or ``--verbose``)."""
        if result.matrix is not None:
            if self.matrix_progress is None:
                self.matrix_progress = MatrixProgress(self.out, self.matrix_cells)
            self.matrix_progress.cell_done(result)
            if result.passed and not self.verbose and not passed_without_fault(result):
                return  # matrix cells are summarised by the matrix table
        if self.show == "fail" and result.passed:
            return
        for line in self.block(result, passed_runs, runs):
            self._print(line)

    def block(self, result: TestResult, passed_runs: int = 1, runs: int = 1) -> list[str]:
        """The lines of a test's block, starting with an empty line and its header."""
        status = "PASS" if result.passed else "FAIL"
        if runs > 1 and result.passed:
            lines = [f"\n--- {status}: {result.name} ({passed_runs}/{runs} runs) ---"]
        else:
            lines = [
                f"\n--- {status}: {result.name} ({result.duration_ms}ms, seed={result.seed}) ---"
            ]
        if result.return_value is not None and self.verbose:
            lines.append(f"  return: {result.return_value}")
        if not result.passed:
            reason_lines = result.reason.splitlines() or [""]
            lines.append(f"  reason: {reason_lines[0]}")
            lines.extend(f"  {line}" for line in reason_lines[1:])
            if result.location:
                lines.append(f"  at: {result.location}")
            lines.append(f"  replay: {result.replay_command}")
            if runs > 1:
                lines.append(f"  ({passed_runs}/{runs} runs passed before failure)")
        lines.extend(format_trace_details(result, verbose=self.verbose))
        if not result.passed:
            for name, text in result.service_output.items():
                if text.strip():
                    # An excerpt: what says why (a panic, a traceback) and the last lines.
                    lines.append(f"  output of {name}:")
                    lines.extend(f"    {line}" for line in text.splitlines())
        return lines

    def suite_done(self, suite: SuiteResult) -> None:
        """The fault-matrix table (if any cell ran) and the ``N passed, N failed`` line."""
        table = render_matrix(suite, self.out)
        if table:
            self._print()
            self._print(table)
        self._print(f"\n{suite.passed} passed, {suite.failed} failed")
