"""One line per finished fault-matrix cell while the suite runs (on a terminal only)."""

from __future__ import annotations

from typing import TextIO

from faultbox.trace.results import TestResult

from .matrix_table import cell_status, is_terminal


class MatrixProgress:
    """``  [3/6] order_flow × disk_full PASS (208ms)`` per finished cell, on a terminal only."""

    def __init__(
        self, out: TextIO, total: int | None = None, *, enabled: bool | None = None
    ) -> None:
        self.out = out
        self.total = total
        self.done = 0
        self.enabled = is_terminal(out) if enabled is None else enabled

    def line(self, result: TestResult) -> str:
        """The progress line of ``result`` (a cell), with the count so far."""
        assert result.matrix is not None
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        return f"  [{count}] {result.matrix[0]} × {result.matrix[1]} {cell_status(result)}"

    def cell_done(self, result: TestResult) -> None:
        """Count a finished cell and, on a terminal, print its line."""
        if result.matrix is None:
            return
        self.done += 1
        if self.enabled:
            self.out.write(self.line(result) + "\n")
            self.out.flush()
