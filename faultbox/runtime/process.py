"""One running service process: launch, output capture, exit watch, stop.

Output is drained by one thread per stream (never by the supervisor: a blocked pipe must not
hold up syscall decisions). Each stream keeps its last lines for error messages and feeds
line callbacks (event sources such as ``stdout(decoder=…)``).
"""

from __future__ import annotations

import array
import collections
import contextlib
import fcntl
import functools
import os
import select
import signal
import termios
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faultbox.intercept import InterceptUnavailable, LaunchError, launch

LineCallback = Callable[[str, str], None]  # (stream name, line)


class ServiceStartError(Exception):
    """A service could not be started or never became ready. The message says why."""


@dataclass
class OutputCapture:
    """Drains one pipe into a ring of recent lines and per-line callbacks.

    Two byte counters make :meth:`settle` exact: ``_read`` (bytes taken out of the pipe) and
    ``_processed`` (bytes whose complete lines have been handed to the callbacks). A read and
    its ``_read`` increment happen under ``_cond``'s lock, so ``_read`` + the bytes still in
    the pipe, measured under that lock, is everything the service has written so far.
    """

    stream: str
    fd: int
    keep: int = 200
    callbacks: list[LineCallback] = field(default_factory=list)
    echo: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=self.keep)
        self.done = threading.Event()
        self._cond = threading.Condition()
        self._read = 0
        self._processed = 0
        self.thread = threading.Thread(target=self._run, name=f"out-{self.stream}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        buf = b""
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        try:
            while True:
                # Wait without the lock (settle must not block on an idle pipe), then read
                # what is there under it: a read never blocks once poll said readable.
                try:
                    poller.poll()
                    with self._cond:
                        chunk = os.read(self.fd, 65536)
                        self._read += len(chunk)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    self._line(raw)
                with self._cond:
                    self._processed += len(chunk)
                    self._cond.notify_all()
            if buf:
                self._line(buf)
        finally:
            with self._cond:
                self.done.set()
                self._cond.notify_all()

    def close(self) -> None:
        """Close the read end once the drain has finished (never under a running reader)."""
        if self.done.wait(1.0):
            with contextlib.suppress(OSError):
                os.close(self.fd)

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        self.lines.append(line)
        if self.echo is not None:
            self.echo(line)
        for cb in self.callbacks:
            # An event source that fails on one line must never stop the drain.
            with contextlib.suppress(Exception):
                cb(self.stream, line)

    def settle(self, timeout_s: float = 2.0) -> None:
        """Wait until every byte already written to the pipe has been turned into lines.

        Readers of the trace call this first, so a log line the service wrote before it
        answered a request is an event by the time the test looks. The wait is bounded by
        ``timeout_s`` (a line callback that hangs must not hang the test) and covers only
        bytes written before the call, however fast the service keeps writing.
        """
        if threading.current_thread() is self.thread:
            return  # a line callback reading the trace: its own line is being processed
        pending = array.array("i", [0])
        with self._cond:
            if self.done.is_set():
                return
            try:
                fcntl.ioctl(self.fd, termios.FIONREAD, pending, True)
            except OSError:
                return
            target = self._read + pending[0]
            self._cond.wait_for(lambda: self._processed >= target or self.done.is_set(), timeout_s)

    def tail(self, n: int = 10) -> list[str]:
        return list(self.lines)[-n:]


class ServiceProcess:
    """A launched service: pid, pidfd, listener, captured output and exit status."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        *,
        cwd: str | None,
        notify: set[str],
        user: str = "",
        line_callbacks: list[LineCallback] | None = None,
        echo: Callable[[str, str], None] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.notify = notify
        self.user = user
        self.line_callbacks = line_callbacks or []
        self.echo = echo
        self.proc: Any = None
        self.outputs: dict[str, OutputCapture] = {}
        self.exit_callbacks: list[Callable[[int], None]] = []
        self._exit_code: int | None = None
        self._exited = threading.Event()
        self.stopping = False

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> None:
        """Launch the process (raises ServiceStartError with a clear message)."""
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            self.proc = launch(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                notify=sorted(self.notify),
                stdout=out_w,
                stderr=err_w,
                user=self.user or None,
            )
        except (LaunchError, InterceptUnavailable) as exc:
            for fd in (out_r, out_w, err_r, err_w):
                os.close(fd)
            raise ServiceStartError(f'service "{self.name}" failed to start: {exc}') from None
        os.close(out_w)
        os.close(err_w)
        for stream, fd in (("stdout", out_r), ("stderr", err_r)):
            echo = functools.partial(self.echo, self.name) if self.echo else None
            self.outputs[stream] = OutputCapture(
                stream, fd, callbacks=list(self.line_callbacks), echo=echo
            )
        threading.Thread(target=self._wait, name=f"wait-{self.name}", daemon=True).start()

    def _wait(self) -> None:
        code = self.proc.wait()
        self._exit_code = code
        self._exited.set()
        for cb in list(self.exit_callbacks):
            with contextlib.suppress(Exception):
                cb(code)

    @property
    def exited(self) -> bool:
        return self._exited.is_set()

    @property
    def exit_code(self) -> int | None:
        return self._exit_code

    def describe_exit(self) -> str:
        code = self._exit_code
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def settle_output(self) -> None:
        """See :meth:`OutputCapture.settle` (registered as an event-log drain)."""
        for cap in self.outputs.values():
            cap.settle()

    def recent_output(self, n: int = 10) -> list[str]:
        """The last ``n`` lines of stderr (or stdout if stderr is empty)."""
        for stream in ("stderr", "stdout"):
            cap = self.outputs.get(stream)
            if cap is not None and cap.lines:
                return cap.tail(n)
        return []

    def stop(self, grace_s: float = 2.0) -> None:
        """SIGTERM the process group, SIGKILL after ``grace_s``; wait for output to drain."""
        if self.proc is None:
            return
        self.stopping = True
        if not self._exited.is_set():
            self._signal_group(signal.SIGTERM)
            if not self._exited.wait(grace_s):
                self._signal_group(signal.SIGKILL)
                self._exited.wait(5.0)
        # The group may hold children that outlived the leader.
        self._signal_group(signal.SIGKILL)
        for cap in self.outputs.values():
            cap.close()
        self.proc.close()  # the pidfd (the supervisor closes the listener it took)

    def kill(self) -> None:
        self.stopping = True
        self._signal_group(signal.SIGKILL)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
