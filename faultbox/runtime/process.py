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
import os
import signal
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LineCallback = Callable[[str, str], None]  # (stream name, line)


class ServiceStartError(Exception):
    """A service could not be started or never became ready. The message says why."""


@dataclass
class OutputCapture:
    """Drains one pipe into a ring of recent lines and per-line callbacks."""

    stream: str
    fd: int
    keep: int = 200
    callbacks: list[LineCallback] = field(default_factory=list)
    echo: Callable[[str], None] | None = None

    def __post_init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=self.keep)
        self.done = threading.Event()
        self._busy = False
        self.thread = threading.Thread(target=self._run, name=f"out-{self.stream}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        buf = b""
        try:
            while True:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                self._busy = True
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    self._line(raw)
                self._busy = False
            if buf:
                self._line(buf)
        finally:
            self.done.set()

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

    def settle(self, timeout_s: float = 0.5) -> None:
        """Wait until every byte already written to the pipe has been turned into lines.

        Readers of the trace call this first, so a log line the service wrote before it
        answered a request is an event by the time the test looks (bounded by ``timeout_s``).
        """
        deadline = time.monotonic() + timeout_s
        pending = array.array("i", [0])
        while not self.done.is_set() and time.monotonic() < deadline:
            try:
                fcntl.ioctl(self.fd, termios.FIONREAD, pending, True)
            except OSError:
                return
            if pending[0] == 0 and not self._busy:
                return
            time.sleep(0.001)

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
        from faultbox.intercept import InterceptUnavailable, LaunchError, launch

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
            echo = (lambda line, s=stream: self.echo(self.name, line)) if self.echo else None
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
