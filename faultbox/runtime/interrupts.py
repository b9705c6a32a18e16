"""Ctrl-C and SIGTERM: one orderly stop, exit 130, whenever the signal arrives.

Python's default (a ``KeyboardInterrupt`` wherever the main thread happens to be, and death
by SIGTERM) cut teardowns short, left temporary directories and printed tracebacks while
modules were still importing. faultbox handles both signals itself, from its first line:

* **start-up** (imports, before :func:`arm`): the signal is only recorded; ``arm()`` raises
  it as ``KeyboardInterrupt`` inside ``main``'s handler, so it ends as exit 130;
* **running** (armed): the first signal raises ``KeyboardInterrupt`` once — the runner then
  aborts the test and tears it down; later signals are only recorded. Not inside importlib,
  a weakref callback or a ``__del__``, where Python would print "Exception ignored" and drop
  it: there the signal is delivered again 5 ms later;
* **teardown** (inside :func:`deferred`): recorded, teardown runs to completion and the
  interrupt is raised after it; a second signal while a teardown runs forces it (services
  are SIGKILLed at once instead of waiting for their ``stop_timeout``), which still removes
  every directory;
* **exiting** (after :func:`finish`): both signals are ignored; the exit code is 130 if any
  signal arrived at all.

Signal handlers run on the main thread only; a teardown on another thread (tests driving
the runner in-process) is not deferred, and without :func:`install` nothing changes.
"""

from __future__ import annotations

import _thread
import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import NoReturn

__all__ = [
    "arm",
    "deferred",
    "exit_interrupted",
    "finish",
    "install",
    "install_if_command",
    "received",
]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_installed = False
_armed = False
_raised = False  # KeyboardInterrupt is raised at most once: its unwinding must not be cut
_received = 0  # signals since install()
_pending = False  # a signal not yet raised
_force: list[Callable[[], None] | None] = []  # innermost deferred() block last
_depth = 0
_retries = 0  # re-deliveries scheduled by _retry_later and not yet handled
_RETRY_S = 0.005
_FRAMES_CHECKED = 12


def install() -> None:
    """Handle SIGINT and SIGTERM from now on (idempotent; main thread only)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    for sig in _SIGNALS:
        signal.signal(sig, _on_signal)
    _installed = True


def install_if_command() -> None:
    """:func:`install` now if this process is the ``faultbox`` command (``import faultbox``
    calls this, so the imports that follow are covered); a library user is left alone."""
    argv = list(getattr(sys, "orig_argv", sys.argv))
    as_module = any(a == "-m" and argv[i + 1 : i + 2] in (["faultbox.cli"], ["faultbox"])
                    for i, a in enumerate(argv))  # fmt: skip
    if as_module or os.path.basename(sys.argv[0]) == "faultbox":
        install()


def received() -> int:
    """How many SIGINT/SIGTERM arrived since :func:`install`."""
    return _received


def _say(text: str) -> None:
    # os.write, not print: the handler may interrupt a write to sys.stderr (reentrancy).
    with contextlib.suppress(OSError):
        os.write(2, text.encode())


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _received, _pending, _retries
    retry = _retries > 0  # our own re-delivery (_retry_later), not one more signal
    if retry:
        _retries -= 1
    else:
        _received += 1
    if _depth:
        _pending = _pending or not _raised
        if retry or not any(_force):  # a short critical section, not a teardown
            pass
        elif _received == 1:
            _say("\ninterrupted: stopping the services (interrupt again to kill them now)\n")
        else:
            _say("\ninterrupted again: killing the services\n")
            for force in list(_force):
                with contextlib.suppress(Exception):
                    if force is not None:
                        force()
        return
    if _raised:
        return
    _pending = True
    if not _armed:
        return
    if _swallowed_in(frame):
        _retry_later(signum)
        return
    _raise()


def _swallowed_in(frame: FrameType | None) -> bool:
    """Whether an exception raised in ``frame`` could be lost or break an import: the code
    of importlib (its module-lock weakref callback prints "Exception ignored" and drops it),
    of weakref callbacks, of a ``__del__``."""
    for _ in range(_FRAMES_CHECKED):
        if frame is None:
            return False
        code = frame.f_code
        if code.co_name == "__del__" or code.co_filename.startswith("<frozen importlib"):
            return True
        if code.co_filename.endswith(("weakref.py", "_weakrefset.py")):
            return True
        frame = frame.f_back
    return False


def _retry_later(signum: int) -> None:
    """Deliver the signal to the main thread again shortly, at (we hope) a safe point."""
    global _retries
    _retries += 1
    timer = threading.Timer(_RETRY_S, _thread.interrupt_main, (signum,))
    timer.daemon = True
    timer.start()


def _raise() -> None:
    global _raised, _pending
    _raised, _pending = True, False
    raise KeyboardInterrupt


def arm() -> None:
    """From now on a signal raises ``KeyboardInterrupt`` (now, if one came during start-up)."""
    global _armed
    _armed = True
    if _pending and not _raised and not _depth:
        _raise()


def finish() -> bool:
    """Ignore both signals from now on (the exit must not be cut); True if any arrived."""
    global _armed
    _armed = False
    if _installed:
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
    return _received > 0


def exit_interrupted() -> NoReturn:
    """Exit 130 now: atexit functions run, streams are flushed, the interpreter is not
    finalized. CPython (3.11) marks a ``KeyboardInterrupt`` that passed through ``exec()`` of
    a string (dataclasses, namedtuple) as *unhandled* even when caught later, and then kills
    the process with SIGINT at the end of a normal exit; ``os._exit`` cannot be overridden."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(130)


@contextlib.contextmanager
def deferred(force: Callable[[], None] | None = None) -> Iterator[None]:
    """Run the block to completion whatever signals arrive; ``force`` runs on a second one.

    An interrupt that arrived inside the block is raised when the block ends. Without
    ``force`` the block is a short critical section (creating a directory and registering
    its removal) and signals pass silently.
    """
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    _force.append(force)
    try:
        yield
    finally:
        _force.pop()
        _depth -= 1
        if not _depth and _pending and _armed and not _raised:
            _raise()
