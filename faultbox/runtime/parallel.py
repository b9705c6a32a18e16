"""``faultbox test -j N``: every test (every matrix cell) in a worker process of its own.

The spec is loaded once, in faultbox; for each test faultbox forks a worker, which enters
namespaces of its own (``isolation.py``: own loopback, private ``/tmp``), becomes the
subreaper of what its services fork, runs the test exactly as ``-j 1`` does
(``runner.run_case``: services, supervisor, event log, teardown) and sends its
``TestResult`` back pickled over a pipe. At most N workers run at once, started in the
tests' order or in a ``start_order`` (the command passes longest first when it knows earlier
durations: the longest test must not start last and run alone); results are reported as
they arrive and returned in the tests' order.

Cleanup. A worker dies with faultbox (``PR_SET_PDEATHSIG``); its services carry the run's
``FAULTBOX_RUN_ID`` mark, so the watchdog kills them should both die at once; the
namespaces (and the private ``/tmp`` with everything written there) end with their last
process. On Ctrl-C (or SIGTERM) faultbox passes SIGTERM to every worker, which stops its
test like ``-j 1`` does; a second Ctrl-C is passed on too (the workers kill their services
at once). Workers are in process groups of their own: a terminal's Ctrl-C reaches only
faultbox, which decides.

Tests named by ``--serial`` (tests that reach servers outside the spec, which a namespace
with only loopback cannot see) run in faultbox's own namespaces, one at a time, while the
isolated ones go on beside them.
"""

from __future__ import annotations

import contextlib
import ctypes
import fnmatch
import os
import pickle
import selectors
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from faultbox.report.live_progress import LiveProgress
from faultbox.report.terminal import Reporter
from faultbox.starlark_env.loader import LoadedSpec
from faultbox.trace.results import SuiteResult, TestResult

from . import interrupts, reaper
from .discovery import TestCase
from .isolation import IsolationUnavailable, enter_cell_namespaces
from .runner import Interrupted, RunOptions, run_case, suite_result
from .watchdog import RUN_ID_ENV, ensure_watchdog

__all__ = ["ParallelHooks", "is_serial", "run_parallel", "run_reported"]

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class ParallelHooks:
    """What the console learns while a parallel run goes on."""

    on_start: Callable[[str], None] | None = None  # a test's worker started
    on_result: Callable[[TestResult, int, int], None] | None = None  # (result, passed, runs)


@dataclass
class _Worker:
    case: TestCase
    pid: int
    fd: int
    host: bool  # runs in faultbox's own namespaces (--serial)
    chunks: list[bytes] = field(default_factory=list)


def is_serial(case: TestCase, patterns: Iterable[str]) -> bool:
    """Whether ``case`` matches one of the ``--serial`` patterns (with or without test_)."""
    return any(
        fnmatch.fnmatchcase(case.name, p) or fnmatch.fnmatchcase(case.short_name, p)
        for p in patterns
    )


def _send(fd: int, payload: object) -> None:
    try:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an event-source payload pickle cannot carry: send its text
        result = payload[1] if isinstance(payload, tuple) else None
        if isinstance(result, TestResult):
            for ev in result.events:
                if ev.data is not None:
                    ev.data = str(ev.data)
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _child(spec: LoadedSpec, case: TestCase, opts: RunOptions, isolate: bool, fd: int,
           parent: int, run_id: str) -> None:  # fmt: skip
    """The worker: namespaces, subreaper, the test, the result down the pipe. Never returns."""
    try:
        os.setpgid(0, 0)  # a terminal's Ctrl-C goes to faultbox only; it tells us
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # faultbox died before the line above took effect
            os._exit(1)
        # Whatever the worker runs carries the run's mark (the watchdog's criterion).
        os.environ[RUN_ID_ENV] = run_id
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)  # blocked by _fork's caller
        if isolate:
            enter_cell_namespaces()
        # fork() clears the subreaper flag; the module's memo of it was copied: reset both.
        reaper._subreaper = False
        reaper.become_subreaper()
        result, passed_runs = run_case(spec, case, opts)
        _send(fd, ("result", result, passed_runs))
    except (Interrupted, KeyboardInterrupt):
        _send(fd, ("interrupted", None, 0))
    except IsolationUnavailable as exc:
        _send(fd, ("error", f"cannot isolate the test: {exc}", 0))
    except BaseException as exc:  # a bug: the test fails with it, the run goes on
        _send(fd, ("error", f"internal error in the worker: {type(exc).__name__}: {exc}", 0))
    finally:
        os._exit(0)  # no atexit (the run directory is faultbox's), no flushing of copies


def _fork(spec: LoadedSpec, case: TestCase, opts: RunOptions, host: bool,
          run_id: str) -> _Worker:  # fmt: skip
    """Start the worker of ``case``."""
    for stream in (sys.stdout, sys.stderr):  # else the child would print our buffers again
        with contextlib.suppress(Exception):
            stream.flush()
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(spec, case, opts, not host, write_fd, parent, run_id)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    return _Worker(case, pid, read_fd, host)


_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """SIGINT/SIGTERM wait (blocked, not lost) until the block ends; a child forked inside
    starts with them blocked too and unblocks them once it is set up. (Not
    ``interrupts.deferred``: the child would inherit a deferral it never leaves.)"""
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _died(case: TestCase, status: int, what: str = "") -> TestResult:
    """The result of a test whose worker ended without a result."""
    if not what:
        if os.WIFSIGNALED(status):
            what = f"the worker process was killed by {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            what = f"the worker process exited with status {os.waitstatus_to_exitcode(status)}"
    return TestResult(
        name=case.name, passed=False, seed=0, duration_ms=0, reason=what,
        failure_type="error", matrix=case.matrix,
    )  # fmt: skip


class _Pool:
    """The running workers and the tests still waiting for one."""

    def __init__(self, spec: LoadedSpec, opts: RunOptions, jobs: int, serial: list[str],
                 hooks: ParallelHooks) -> None:  # fmt: skip
        self.spec, self.opts, self.jobs, self.serial, self.hooks = spec, opts, jobs, serial, hooks
        self.run_id = ensure_watchdog()  # before any fork: every worker shares this run
        self.selector = selectors.DefaultSelector()
        self.running: dict[int, _Worker] = {}  # by pipe fd
        self.results: dict[str, TestResult] = {}
        self.interrupted = False

    def start_next(self, waiting: list[TestCase]) -> None:
        host_busy = any(w.host for w in self.running.values())
        while waiting and len(self.running) < self.jobs:
            pick = next(
                (i for i, c in enumerate(waiting)
                 if not (host_busy and is_serial(c, self.serial))),
                None,
            )  # fmt: skip
            if pick is None:
                return  # only --serial tests wait, and one of them runs
            case = waiting.pop(pick)
            host = is_serial(case, self.serial)
            with _signals_blocked():  # a Ctrl-C must not lose a forked worker
                worker = _fork(self.spec, case, self.opts, host, self.run_id)
                self.running[worker.fd] = worker
                self.selector.register(worker.fd, selectors.EVENT_READ)
            host_busy = host_busy or host
            if self.hooks.on_start is not None:
                self.hooks.on_start(case.name)

    def pump(self, timeout: float | None) -> None:
        """Read what workers sent; collect the ones that finished."""
        for key, _ in self.selector.select(timeout):
            worker = self.running[int(key.fd)]
            while True:
                try:
                    chunk = os.read(worker.fd, 1 << 16)
                except BlockingIOError:
                    break
                if not chunk:
                    self._finish(worker)
                    break
                worker.chunks.append(chunk)

    def _finish(self, worker: _Worker) -> None:
        with interrupts.deferred():
            self.selector.unregister(worker.fd)
            os.close(worker.fd)
            del self.running[worker.fd]
            _, status = os.waitpid(worker.pid, 0)
        result, passed_runs = self._decode(worker, status)
        if result is None:
            return
        self.results[worker.case.name] = result
        if self.hooks.on_result is not None:
            self.hooks.on_result(result, passed_runs, self.opts.runs)

    def _decode(self, worker: _Worker, status: int) -> tuple[TestResult | None, int]:
        data = b"".join(worker.chunks)
        if not data:
            return _died(worker.case, status), 0
        try:
            kind, value, passed_runs = pickle.loads(data)
        except Exception as exc:
            return _died(worker.case, status, f"unreadable result from the worker: {exc}"), 0
        if kind == "result":
            return value, passed_runs
        if kind == "interrupted":
            self.interrupted = True
            return None, 0
        return _died(worker.case, status, str(value)), 0

    def signal_all(self, sig: int = signal.SIGTERM) -> None:
        for worker in list(self.running.values()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, sig)

    def drain(self) -> None:
        """Wait for every running worker to finish (their tests were told to stop)."""
        while self.running:
            self.pump(None)


def run_parallel(
    spec: LoadedSpec,
    tests: list[TestCase],
    opts: RunOptions,
    jobs: int,
    *,
    serial: list[str] | None = None,
    hooks: ParallelHooks | None = None,
    start_order: list[TestCase] | None = None,
) -> SuiteResult:
    """Run ``tests`` in up to ``jobs`` isolated workers; the suite in the tests' order.

    ``start_order`` (the same tests, e.g. longest first) is the order in which workers are
    started; by default the tests' order. Raises :class:`Interrupted` after every worker
    stopped when Ctrl-C/SIGTERM arrived.
    """
    started = time.monotonic()
    pool = _Pool(spec, opts, max(1, jobs), list(serial or []), hooks or ParallelHooks())
    waiting = list(tests) if start_order is None else list(start_order)
    if sorted(c.name for c in waiting) != sorted(c.name for c in tests):
        raise ValueError("start_order must hold exactly the tests to run")
    try:
        while waiting or pool.running:
            pool.start_next(waiting)
            pool.pump(None)
            if pool.interrupted:  # a worker was signalled by someone else: stop like Ctrl-C
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        pool.signal_all()
        # A second Ctrl-C is passed on: the workers kill their services at once.
        with interrupts.deferred(pool.signal_all):
            pool.drain()
        raise Interrupted() from None
    results = [pool.results[c.name] for c in tests]
    return suite_result(spec, results, started)


def run_reported(spec: LoadedSpec, tests: list[TestCase], opts: RunOptions, jobs: int, *,
                 serial: list[str], reporter: Reporter,
                 start_order: list[TestCase] | None = None) -> SuiteResult:  # fmt: skip
    """:func:`run_parallel` with ``reporter`` printing each block as its test finishes and,
    on a terminal, a live line of tests done / running / failed below them."""
    real_out = reporter.out
    progress = LiveProgress(real_out, len(tests))

    def done(result: TestResult, passed_runs: int, runs: int) -> None:
        progress.finished(result)
        reporter.test_done(result, passed_runs, runs)

    hooks = ParallelHooks(on_start=progress.started, on_result=done)
    reporter.out = progress.stream  # blocks go above the live line
    try:
        with progress:
            return run_parallel(spec, tests, opts, jobs, serial=serial, hooks=hooks,
                                start_order=start_order)  # fmt: skip
    finally:
        reporter.out = real_out
