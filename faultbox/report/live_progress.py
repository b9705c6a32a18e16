"""The live line of a parallel run on a terminal: ``12/24 done · 4 running · 1 failed``.

Test blocks are printed above it as the tests finish (:attr:`LiveProgress.stream` is the
stream to give the :class:`~faultbox.report.terminal.Reporter`); the line disappears when
the run ends, before the matrix table and the totals. Off a terminal nothing is drawn and
the stream writes straight through.
"""

from __future__ import annotations

import io
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.text import Text

from faultbox.trace.results import TestResult

from .matrix_table import is_terminal


class _AboveLive(io.TextIOBase):
    """A text stream whose whole lines go above the live line while it is shown."""

    def __init__(self, owner: LiveProgress) -> None:
        self._owner = owner
        self._pending = ""

    def write(self, text: str) -> int:
        live = self._owner.live
        if live is None:
            return self._owner.out.write(text)
        self._pending += text
        if "\n" in self._pending:
            done, _, self._pending = self._pending.rpartition("\n")
            live.console.print(Text(done), soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        if self._owner.live is None:
            self._owner.out.flush()

    def isatty(self) -> bool:
        return is_terminal(self._owner.out)


class LiveProgress:
    """Counts started and finished tests; draws them on a terminal (a context manager)."""

    def __init__(self, out: TextIO, total: int, *, enabled: bool | None = None) -> None:
        self.out = out
        self.total = total
        self.running = 0
        self.done = 0
        self.failed = 0
        self.enabled = is_terminal(out) if enabled is None else enabled
        self.live: Live | None = None
        self.stream: TextIO = _AboveLive(self)  # type: ignore[assignment]

    def text(self) -> str:
        """The line: tests done of the total, running now, failed so far."""
        return f"{self.done}/{self.total} done · {self.running} running · {self.failed} failed"

    def started(self, _name: str) -> None:
        self.running += 1
        self._refresh()

    def finished(self, result: TestResult) -> None:
        self.running = max(0, self.running - 1)
        self.done += 1
        self.failed += 0 if result.passed else 1
        self._refresh()

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(Text(self.text()), refresh=True)

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            console = Console(file=self.out, force_terminal=True)
            # No refresh thread: the parallel runner forks workers, which must not copy
            # a thread; the line is redrawn when a count changes.
            self.live = Live(Text(self.text()), console=console, auto_refresh=False,
                             transient=True)  # fmt: skip
            self.live.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Any:  # fmt: skip
        if self.live is not None:
            rest = self.stream._pending  # type: ignore[attr-defined]
            if rest:  # a last line without its newline
                self.live.console.print(Text(rest), soft_wrap=True)
            self.live.stop()
            self.live = None
        return None
