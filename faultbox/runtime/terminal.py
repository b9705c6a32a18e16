"""Console output of ``faultbox test``: one block per test as it completes, then the totals."""

from __future__ import annotations

import sys
from typing import TextIO

from faultbox.trace.console import format_trace_details
from faultbox.trace.results import SuiteResult, TestResult


class Reporter:
    """Prints results to ``out`` (stderr by default, so stdout stays free for --format json)."""

    def __init__(self, out: TextIO | None = None, *, verbose: bool = False, show: str = "all"):
        self.out = out or sys.stderr
        self.verbose = verbose
        self.show = show

    def _print(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def test_done(self, result: TestResult, passed_runs: int, runs: int) -> None:
        if result.matrix is not None:
            from .matrix_report import MatrixProgress

            progress = getattr(self, "matrix_progress", None)
            if progress is None:  # total: set reporter.matrix_cells before the run to show it
                progress = MatrixProgress(self.out, getattr(self, "matrix_cells", None))
                self.matrix_progress = progress
            progress.cell_done(result)
            if result.passed and not self.verbose:
                return  # matrix cells are summarised by the matrix table
        if self.show == "fail" and result.passed:
            return
        status = "PASS" if result.passed else "FAIL"
        if runs > 1 and result.passed:
            self._print(f"\n--- {status}: {result.name} ({passed_runs}/{runs} runs) ---")
        else:
            self._print(
                f"\n--- {status}: {result.name} ({result.duration_ms}ms, seed={result.seed}) ---"
            )
        if result.return_value is not None and self.verbose:
            self._print(f"  return: {result.return_value}")
        if not result.passed:
            reason_lines = result.reason.splitlines() or [""]
            self._print(f"  reason: {reason_lines[0]}")
            for line in reason_lines[1:]:
                self._print(f"  {line}")
            if result.location:
                self._print(f"  at: {result.location}")
            self._print(f"  replay: {result.replay_command}")
            if runs > 1:
                self._print(f"  ({passed_runs}/{runs} runs passed before failure)")
        for line in format_trace_details(result, verbose=self.verbose):
            self._print(line)
        if not result.passed:
            for name, text in result.service_output.items():
                if text.strip():
                    self._print(f"  output of {name} (last lines):")
                    for line in text.splitlines():
                        self._print(f"    {line}")

    def suite_done(self, suite: SuiteResult) -> None:
        if any(r.matrix is not None for r in suite.results):
            from .matrix_report import render_matrix

            self._print()
            self._print(render_matrix(suite, self.out))
        self._print(f"\n{suite.passed} passed, {suite.failed} failed")
