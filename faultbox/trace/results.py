"""Results of running tests: what the console, JSON, JUnit, ShiViz and normalize writers read."""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import Event


@dataclass(slots=True)
class RuleReport:
    """One fault/trace rule that was active during a test, with its hit count.

    ``key`` is the keyword as written in the spec (``write``, ``persist``); ``spec`` is the
    rule as written (``deny(EIO)``, ``delay(100ms)``, ``trace``); ``filter`` lists the
    syscalls it expanded to.
    """

    kind: str  # "fault" | "trace" | "partition"
    service: str
    key: str
    action: str  # "deny" | "delay" | "trace"
    spec: str  # deny(EIO) / delay(100ms) / trace
    filter: list[str]
    label: str = ""
    hits: int = 0
    errno: str = ""  # EIO, or the duration text for delays (JSON "errno" slot)
    path_glob: str = ""  # the rule's path= filter ("" = any path); used by diagnostics


@dataclass(slots=True)
class Diagnostic:
    level: str  # "info" | "warning" | "error" (the console prints info as NOTE:)
    code: str  # FAULT_NOT_FIRED, FAULT_FIRED_BUT_SUCCESS, SERVICE_CRASHED, ...
    message: str
    suggestion: str = ""
    service: str = ""
    syscall: str = ""


@dataclass(slots=True)
class TestResult:
    """The outcome of one test (or one matrix cell, or one run of a test with --runs)."""

    name: str
    passed: bool
    seed: int
    duration_ms: int
    reason: str = ""
    location: str = ""  # file:line of the failing statement, when known
    failure_type: str = ""  # assertion | timeout | service_start | monitor | error
    return_value: str | None = None
    replay_command: str = ""
    events: list[Event] = field(default_factory=list)
    rules: list[RuleReport] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Per service: the captured output shown with a failure (what says why, plus the last
    # lines; elided spans are marked, see faultbox/report/output_excerpt.py).
    service_output: dict[str, str] = field(default_factory=dict)
    matrix: tuple[str, str] | None = None  # (scenario, fault) for matrix cells
    run_index: int = 0
    # How many assertion builtins the test body called (assert_true, assert_eq, assert_*),
    # and how many of those were trace assertions (assert_eventually/never/before).
    # None = the runner did not count (diagnostics that need the count are then skipped).
    assertions: int | None = None
    trace_assertions: int | None = None
    # How many events the trace held when the body's last assertion builtin ran (None = not
    # recorded). An assertion after a step_recv may check what the caller saw (resp.status).
    last_assertion_seq: int | None = None
    # Free-form labels of the test (e.g. failure-mode or invariant ids): the console prints
    # them in the block, JSON writes them under "labels", JUnit as <property> elements.
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def result(self) -> str:
        return "pass" if self.passed else "fail"


@dataclass(slots=True)
class SuiteResult:
    star_file: str
    results: list[TestResult]
    duration_ms: int
    matrix_order: tuple[list[str], list[str]] | None = None  # declared scenarios, faults
    matrix_excluded: list[tuple[str, str]] = field(default_factory=list)
    shard: tuple[int, int, int] | None = None  # --shard K/N: (K, N, tests before sharding)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.passed)
