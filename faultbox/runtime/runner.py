"""Run tests: one fresh session per test run, an enforced timeout, results as they complete."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlark import EvalError
from starlark.eval.values import str_starlark

from faultbox.report.output_excerpt import excerpt_text
from faultbox.starlark_env import _interp
from faultbox.starlark_env.context import set_active_session
from faultbox.starlark_env.errors import (
    AssertionFailure,
    TestTimeout,
    error_location,
    error_message,
)
from faultbox.starlark_env.loader import LoadedSpec
from faultbox.trace.diagnostics import diagnose, left_behind_diagnostic, source_note_diagnostic
from faultbox.trace.results import SuiteResult, TestResult

from . import interrupts
from .discovery import TestCase
from .process import ServiceStartError
from .session import Session
from .source_readers import source_notes

#: How long a test body may take to notice an abort before it is abandoned.
ABORT_GRACE_S = 5.0
#: Lines of a service's output searched for what explains a failure (a stream keeps 200).
OUTPUT_KEPT = 200


@dataclass
class RunOptions:
    seed: int | None = None
    runs: int = 1
    timeout_s: float = 60.0
    verbose: bool = False
    echo_to: Any = None  # where --verbose echoes service output (None: stdout)


@dataclass
class _Outcome:
    value: Any = None
    error: BaseException | None = None


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) arrived while a test ran; everything was cleaned up."""


def _run_body(session: Session, case: TestCase, thread: Any) -> Any:
    if case.kind != "fault_scenario":
        return _interp.call_starlark(case.fn, thread=thread)
    fs = case.fault_scenario
    assert fs is not None
    session.add_monitors(list(fs.monitors))
    with session.assumptions(fs.faults):
        value = _interp.call_starlark(fs.scenario, thread=thread)
        session.log.sync()
        if session.monitors.violations:
            return value
        if fs.expect is not None:
            _interp.call_starlark(fs.expect, value, thread=thread)
    return value


def _execute(session: Session, case: TestCase, timeout_s: float) -> _Outcome:
    """Run the body on its own thread; enforce the timeout; survive Ctrl-C."""
    spec = session.spec
    thread = _interp.new_thread(spec.main_name, spec.predeclared)
    outcome = _Outcome()
    timed_out = threading.Event()

    def on_timeout(_thread: Any) -> None:
        raise TestTimeout(f"test timed out after {timeout_s:g}s")

    def body() -> None:
        try:
            outcome.value = _run_body(session, case, thread)
        except BaseException as exc:  # reported as the test's failure
            outcome.error = exc

    worker = threading.Thread(target=body, name=f"test-{case.name}", daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout_s
    try:
        while worker.is_alive():
            worker.join(0.05)
            if session.aborted.is_set() and worker.is_alive():
                # Supervisor failure: services are gone; give the body a moment to notice.
                worker.join(ABORT_GRACE_S)
                break
            if time.monotonic() >= deadline and worker.is_alive():
                timed_out.set()
                thread.on_max_steps = on_timeout
                thread.max_steps = thread.steps  # the body stops at its next step
                session.abort()
                worker.join(ABORT_GRACE_S)
                break
    except KeyboardInterrupt:
        thread.max_steps = thread.steps
        session.abort()
        worker.join(ABORT_GRACE_S)
        raise Interrupted() from None
    finally:
        _interp.release_thread(thread)
    if timed_out.is_set():
        outcome.error = TestTimeout(f"test timed out after {timeout_s:g}s")
    return outcome


def _failure(exc: BaseException) -> tuple[str, str, str]:
    """(reason, failure_type, location) of an error raised by a test body."""
    if isinstance(exc, TestTimeout):
        return error_message(exc), "timeout", ""
    if isinstance(exc, AssertionFailure):
        return error_message(exc), "assertion", error_location(exc)
    if isinstance(exc, EvalError):
        return error_message(exc), "error", error_location(exc)
    return f"internal error: {type(exc).__name__}: {exc}", "error", ""


def spec_wide_monitors(spec: LoadedSpec) -> list[Any]:
    """Monitors created at the top level and attached to nothing: they watch every test."""
    reg = spec.registry
    attached = {id(m) for fa in reg.assumptions for m in fa.all_monitors()}
    attached |= {id(m) for fs in reg.fault_scenarios for m in fs.monitors}
    return [m for m in reg.monitors if id(m) not in attached]


def _kill_services(session: Session) -> None:
    """SIGKILL every service of ``session`` now (called from a signal handler)."""
    for proc in list(session.processes.values()):
        proc.kill()


def run_test(spec: LoadedSpec, case: TestCase, seed: int, opts: RunOptions) -> TestResult:
    """Run one test once on fresh services and return its result."""
    session = Session(spec, seed, echo_output=opts.verbose, echo_to=opts.echo_to)
    session.test_name = case.name  # labels the test's containers
    session.add_monitors(spec_wide_monitors(spec))
    if case.prepare is not None:  # e.g. a failure-lab stage's service variants
        case.prepare(session)
    set_active_session(session)
    started = time.monotonic()
    reason = failure_type = location = ""
    value: Any = None
    try:
        try:
            session.start_services()
        except ServiceStartError as exc:
            reason, failure_type = f"failed to start services: {exc}", "service_start"
        else:
            timeout = case.timeout_s or opts.timeout_s
            outcome = _execute(session, case, timeout)
            value = outcome.value
            if session.failure:
                reason, failure_type = session.failure, "error"
            elif outcome.error is not None:
                reason, failure_type, location = _failure(outcome.error)
            session.finish_rules()
            session.log.sync()
            if not reason and session.monitors.violations:
                reason, failure_type = session.monitors.violations[0], "monitor"
            if not reason:  # a service died by itself and the test never asserted on it
                reason = session.unexpected_exit()
                failure_type = "service_exited" if reason else ""
        notes = source_notes(session.sources)  # before teardown: a note may ask the server
        events = session.log.snapshot()
    finally:
        # Once started, teardown runs to completion (a signal is raised after it); a second
        # interrupt kills the services at once instead of waiting for their stop_timeout.
        with interrupts.deferred(lambda: _kill_services(session)):
            set_active_session(None)
            session.teardown()
    result = TestResult(
        name=case.name, passed=not reason, seed=seed,
        duration_ms=int((time.monotonic() - started) * 1000), reason=reason,
        failure_type=failure_type, events=events, rules=list(session.rule_reports),
        matrix=case.matrix, assertions=session.assertions,
        trace_assertions=session.trace_assertions, last_assertion_seq=session.last_assertion_seq,
    )  # fmt: skip
    result.location = location
    result.labels.update(session.labels)
    if value is not None:
        result.return_value = str_starlark(value)
    if not result.passed:
        result.replay_command = (
            f"faultbox test {spec.display_path} --test {case.short_name} --seed {seed}"
        )
        result.service_output = {
            # what says why (a panic, a traceback) and the last lines, of all that was kept
            name: excerpt_text(proc.recent_output(OUTPUT_KEPT))
            for name, proc in session.processes.items()
        }
    result.diagnostics = diagnose(result)
    if session.left_behind:
        result.diagnostics.append(left_behind_diagnostic(session.left_behind))
    result.diagnostics.extend(source_note_diagnostic(svc, text) for svc, text in notes)
    return result


def run_suite(
    spec: LoadedSpec,
    tests: list[TestCase],
    opts: RunOptions,
    on_result: Callable[[TestResult, int, int], None] | None = None,
) -> SuiteResult:
    """Run every test (``opts.runs`` times each, stopping a test at its first failing run)."""
    started = time.monotonic()
    results: list[TestResult] = []
    for case in tests:
        last, passed_runs = run_case(spec, case, opts)
        if on_result is not None:
            on_result(last, passed_runs, opts.runs)
        results.append(last)
    return suite_result(spec, results, started)


def run_case(spec: LoadedSpec, case: TestCase, opts: RunOptions) -> tuple[TestResult, int]:
    """Run one test ``opts.runs`` times (up to its first failure): its last result and how
    many runs passed. One test of :func:`run_suite`, or of a ``-j N`` worker."""
    last: TestResult | None = None
    passed_runs = 0
    for run_index in range(opts.runs):
        seed = opts.seed if opts.seed is not None else run_index
        last = run_test(spec, case, seed, opts)
        last.run_index = run_index
        if not last.passed:
            break
        passed_runs += 1
    assert last is not None
    return last, passed_runs


def suite_result(spec: LoadedSpec, results: list[TestResult], started: float) -> SuiteResult:
    """The suite of ``results`` (in the tests' order), timed from ``started`` (monotonic)."""
    suite = SuiteResult(
        star_file=spec.display_path, results=results,
        duration_ms=int((time.monotonic() - started) * 1000),
    )  # fmt: skip
    matrices = spec.registry.matrices
    if matrices:
        suite.matrix_order = (
            [s for m in matrices for s in m["scenarios"]],
            [f for m in matrices for f in m["faults"]],
        )
        suite.matrix_excluded = [pair for m in matrices for pair in m["excluded"]]
    return suite
