"""The fault-matrix table printed after a suite.

``render_matrix(suite, out)`` returns the table (reference §3.5, in the tutorial's layout and in
**declaration order**): plain text when ``out`` is not a terminal, a rich box-drawing table with
colours when it is. A cell that passed while one of its faults never fired reads ``PASS*``; a
legend line and the summary say so, and list the faults that never fired.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from typing import TextIO

from faultbox.trace.diagnostics import passed_without_fault, rule_text, unfired_faults
from faultbox.trace.results import SuiteResult, TestResult

#: Minimum width of the scenario column's text and of a fault column's text.
SCENARIO_WIDTH = 16
CELL_WIDTH = 13
EXCLUDED = "— (excluded)"
NOT_RUN = "—"


#: Marks a passing cell whose fault never fired; explained by LEGEND.
UNFIRED_MARK = "*"
LEGEND = f"{UNFIRED_MARK} passed, but a fault of the cell never fired (see below)"


def is_terminal(out: TextIO | None) -> bool:
    """Whether ``out`` is a terminal (progress lines and colours only then)."""
    try:
        return bool(out is not None and out.isatty())
    except (AttributeError, ValueError):
        return False


@dataclass
class MatrixTable:
    """The cells of the table: rows × columns, each a status text (or None = not run)."""

    scenarios: list[str]
    faults: list[str]
    cells: dict[tuple[str, str], TestResult]
    excluded: set[tuple[str, str]]

    @property
    def results(self) -> list[TestResult]:
        return [
            self.cells[(s, f)] for s in self.scenarios for f in self.faults if (s, f) in self.cells
        ]

    def text(self, scenario: str, fault: str) -> str:
        result = self.cells.get((scenario, fault))
        if result is not None:
            return cell_status(result)
        return EXCLUDED if (scenario, fault) in self.excluded else NOT_RUN

    @property
    def unfired(self) -> list[TestResult]:
        """Passing cells with a fault that never fired, in table order."""
        return [r for r in self.results if passed_without_fault(r)]


def cell_status(result: TestResult) -> str:
    """``PASS (212ms)``, ``PASS* (212ms)`` (a fault never fired) or ``FAIL``."""
    if not result.passed:
        return "FAIL"
    mark = UNFIRED_MARK if passed_without_fault(result) else ""
    return f"PASS{mark} ({result.duration_ms}ms)"


def build_table(suite: SuiteResult) -> MatrixTable | None:
    """Rows and columns in declaration order; only scenarios and faults that have a cell."""
    cells = {r.matrix: r for r in suite.results if r.matrix is not None}
    if not cells:
        return None
    declared_s, declared_f = suite.matrix_order or ([], [])
    scenarios = list(dict.fromkeys([*declared_s, *(s for s, _ in cells)]))
    faults = list(dict.fromkeys([*declared_f, *(f for _, f in cells)]))
    excluded = set(map(tuple, suite.matrix_excluded))
    # Keep what ran or was excluded (a --test filter leaves the rest out of the table).
    shown = set(cells) | excluded
    scenarios = [s for s in scenarios if any((s, f) in shown for f in faults)]
    faults = [f for f in faults if any((s, f) in shown for s in scenarios)]
    return MatrixTable(scenarios, faults, cells, excluded)  # type: ignore[arg-type]


def _title(table: MatrixTable) -> str:
    n_cells = len(table.cells)
    excluded = sum(1 for s in table.scenarios for f in table.faults if (s, f) in table.excluded)
    extra = f" ({excluded} excluded)" if excluded else ""
    return (
        f"Fault Matrix: {len(table.scenarios)} scenarios × {len(table.faults)} faults"
        f" = {n_cells} cells{extra}"
    )


def _summary(table: MatrixTable) -> list[str]:
    results = table.results
    failed = [r for r in results if not r.passed]
    unfired = table.unfired
    line = f"Result: {len(results) - len(failed)}/{len(results)} passed"
    if failed:
        line += f", {len(failed)} failed"
    if unfired:
        n = len(unfired)
        line += f" ({n} passed without {'its' if n == 1 else 'their'} fault firing)"
    out = [line]
    if failed:
        out.append("Failures:")
        for r in failed:
            assert r.matrix is not None
            reason = (r.reason.splitlines() or [""])[0]
            out.append(f"  {r.matrix[0]} × {r.matrix[1]}: {reason}")
    if unfired:
        out.append("Faults that never fired:")
        for r in unfired:
            assert r.matrix is not None
            rules = ", ".join(rule_text(rule) for rule in unfired_faults(r))
            out.append(f"  {r.matrix[0]} × {r.matrix[1]}: {rules}")
    return out


def _legend(table: MatrixTable) -> list[str]:
    return [LEGEND] if table.unfired else []


def render_plain(table: MatrixTable) -> str:
    """The tutorial's layout: ``│`` between columns, a ``─``/``┼`` rule under the header."""
    label_w = max([SCENARIO_WIDTH, *(len(s) for s in table.scenarios)]) + 2
    widths = [
        max([CELL_WIDTH, len(f), *(len(table.text(s, f)) for s in table.scenarios)])
        for f in table.faults
    ]

    def row(label: str, texts: list[str]) -> str:
        cells = "".join(f"│ {t.ljust(w)} " for t, w in zip(texts, widths, strict=True))
        return label.ljust(label_w) + cells

    header = row("", table.faults)
    rows = [row(s, [table.text(s, f) for f in table.faults]) for s in table.scenarios]
    # The rule runs as far as the longest line once trailing blanks are stripped.
    width = max(len(line.rstrip()) for line in [header, *rows])
    rule = "".join("┼" if c == "│" else "─" for c in header)[:width]
    lines = [_title(table), "", header.rstrip(), rule, *(r.rstrip() for r in rows), *_legend(table)]
    return "\n".join([*lines, "", *_summary(table)])


def render_rich(table: MatrixTable, width: int | None = None) -> str:
    """The same table drawn by rich with colours (for a terminal)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    styles = {"PASS": "green", "PASS" + UNFIRED_MARK: "yellow", "FAIL": "bold red"}
    grid = Table(box=box.MINIMAL, show_edge=False, pad_edge=False, header_style="bold")
    grid.add_column("")
    for f in table.faults:
        grid.add_column(f, no_wrap=True)
    for s in table.scenarios:
        texts = [table.text(s, f) for f in table.faults]
        grid.add_row(s, *(Text(t, style=styles.get(t.split(" ")[0], "dim")) for t in texts))
    buf = io.StringIO()
    console = Console(
        file=buf,
        force_terminal=True,
        width=width or shutil.get_terminal_size((120, 24)).columns,
        highlight=False,
    )
    console.print(Text(_title(table), style="bold"))
    console.print()
    console.print(grid)
    for line in _legend(table):
        console.print(Text(line, style="yellow"))
    console.print()
    summary = _summary(table)
    colour = "bold red" if any(not r.passed for r in table.results) else "bold green"
    console.print(Text(summary[0], style="bold yellow" if table.unfired else colour))
    for line in summary[1:]:
        console.print(line, markup=False)
    return buf.getvalue().rstrip("\n")


def render_matrix(suite: SuiteResult, out: TextIO | None = None) -> str:
    """The fault-matrix table of ``suite`` ("" if it ran no matrix cell)."""
    table = build_table(suite)
    if table is None:
        return ""
    return render_rich(table) if is_terminal(out) else render_plain(table)
