"""Start a service through the C launcher and take over its seccomp listener.

Protocol (see launcher.c): faultbox makes a socketpair, moves the child end to a high fd
number (the BPF exempts only that fd), and runs the launcher. With a filter the launcher
sends ``FD <n> <killable>``; we copy fd n with ``pidfd_getfd`` and send the 1-byte ACK. Then
EOF means exec succeeded (the socket is O_CLOEXEC) and ``ERR <msg>`` means it failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import queue
import resource
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from faultbox.intercept._build import launcher_path
from faultbox.intercept.errors import InterceptUnavailable, LaunchError
from faultbox.intercept.handshake import (
    AFTER_ACK,
    AFTER_ACK_USER,
    HandedOffProcess,
    RecordReader,
    parse_fd_record,
)
from faultbox.intercept.handshake import filter_for as _filter_for  # tests patch it here
from faultbox.intercept.handshake import raise_for as _raise_for
from faultbox.intercept.ioctl import pidfd_getfd
from faultbox.intercept.syscalls import host_arch, numbers_for

_HANDOFF_MIN_FD = 500

Stream = int | IO[Any] | None


class _Spawner:
    """One long-lived thread that forks every launcher.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process:
    forking from a short-lived test thread would SIGKILL the services when it ends.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], queue.SimpleQueue[Any]]]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[[], Any]) -> Any:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="faultbox-spawner", daemon=True
                )
                self._thread.start()
        reply: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._jobs.put((fn, reply))
        ok, value = reply.get()
        if not ok:
            raise value
        return value

    def _loop(self) -> None:
        while True:
            fn, reply = self._jobs.get()
            try:
                reply.put((True, fn()))
            except BaseException as e:  # handed back to the caller's thread
                reply.put((False, e))


_spawner = _Spawner()


class LaunchedProcess(HandedOffProcess):
    """A service process started by :func:`launch` (a small subset of ``Popen``)."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        pidfd: int,
        listener_fd: int | None,
        notify: tuple[str, ...],
        argv: tuple[str, ...],
        user: str | None,
        wait_killable: bool,
    ) -> None:
        super().__init__(pidfd, listener_fd, notify, wait_killable)
        self.popen = popen
        self.argv = argv
        self.user = user

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def pgid(self) -> int:
        """The process group (the launcher called setsid, so it equals the pid)."""
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    @property
    def stdout(self) -> IO[bytes] | None:
        return self.popen.stdout

    @property
    def stderr(self) -> IO[bytes] | None:
        return self.popen.stderr

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for exit; ``subprocess.TimeoutExpired`` on timeout."""
        return self.popen.wait(timeout)

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (services that fork stay in it unless they setsid)."""
        self.send_signal(sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def __repr__(self) -> str:
        return f"<LaunchedProcess pid={self.pid} argv0={self.argv[0]!r} notify={len(self.notify)}>"


def resolve_binary(prog: str, env: Mapping[str, str], cwd: str | None) -> str:
    """Absolute path of ``prog`` (PATH lookup without a slash); LaunchError if unusable."""
    if "/" in prog:
        path = prog if os.path.isabs(prog) else os.path.join(cwd or os.getcwd(), prog)
        if not os.path.exists(path):
            raise LaunchError(f"binary not found: {prog}")
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise LaunchError(f"not executable: {prog}")
        return path
    search = env.get("PATH", os.defpath)
    found = shutil.which(prog, path=search)
    if found:
        return found if os.path.isabs(found) else os.path.join(cwd or os.getcwd(), found)
    for d in search.split(os.pathsep):
        if os.path.exists(os.path.join(d or ".", prog)):
            raise LaunchError(f"not executable: {prog}")
    raise LaunchError(f"binary not found: {prog} (not in PATH)")


def _handoff_fd(sock: socket.socket) -> int:
    """Duplicate the child's socket end to a high fd number (the one the BPF exempts)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    low = _HANDOFF_MIN_FD if soft > _HANDOFF_MIN_FD + 64 else 3
    return fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD_CLOEXEC, low)


def launch(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | None = None,
    notify: Sequence[str] = (),
    stdout: Stream = None,
    stderr: Stream = None,
    user: str | None = None,
    timeout: float = 10.0,
) -> LaunchedProcess:
    """Start ``argv`` in a new session with PDEATHSIG=SIGKILL and a filter for ``notify``.

    ``stdout``/``stderr`` are passed to ``Popen`` (None inherits; ``subprocess.PIPE`` works,
    but then drain it elsewhere: never from the supervisor). The returned process's
    ``listener_fd`` must be attached to a :class:`Supervisor` (or closed) promptly: the
    service blocks on its first notified syscall until then.
    """
    argv = tuple(str(a) for a in argv)
    if not argv:
        raise LaunchError("empty argv")
    path = resolve_binary(argv[0], env, cwd)
    if user is not None:
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise LaunchError(f"unknown user: {user}") from None
    notify = tuple(dict.fromkeys(notify))
    arch = host_arch()
    numbers: list[int] = []
    if notify:
        if not arch:
            raise InterceptUnavailable("syscall interception supports x86_64 and aarch64 only")
        numbers = numbers_for(notify, arch)
    exe = str(launcher_path())

    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        hfd = _handoff_fd(child)
        child.close()
        cmd = [exe, "--ppid", str(os.getpid()), "--sock", str(hfd)]
        if numbers:
            cmd += ["--filter", _filter_for(numbers, arch, hfd).hex()]
        if user is not None:
            cmd += ["--user", user]
        blocking = AFTER_ACK | (AFTER_ACK_USER if user else frozenset())
        wait_exec = not (numbers and blocking.intersection(notify))
        if not wait_exec:
            cmd.append("--stderr-errors")
        cmd += ["--", path, *argv]

        def spawn() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                cmd,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(hfd,),
                close_fds=True,
            )

        try:
            popen = _spawner.run(spawn)
        except OSError as e:
            raise LaunchError(f"cannot start {argv[0]}: {e}") from e
        finally:
            os.close(hfd)
        pidfd = os.pidfd_open(popen.pid)
        try:
            listener, killable = _handshake(
                parent, popen, pidfd, argv[0], bool(numbers), wait_exec, timeout
            )
        except BaseException:
            _kill_and_reap(popen)
            os.close(pidfd)
            raise
    finally:
        parent.close()
        child.close()
    return LaunchedProcess(popen, pidfd, listener, notify, argv, user, killable)


def _handshake(
    sock: socket.socket,
    popen: subprocess.Popen[bytes],
    pidfd: int,
    argv0: str,
    filtered: bool,
    wait_exec: bool,
    timeout: float,
) -> tuple[int | None, bool]:
    """Take the listener (if any) and wait for the exec outcome; (listener, wait_killable)."""
    records = RecordReader(sock, time.monotonic() + timeout)
    listener: int | None = None
    killable = False
    try:
        if filtered:
            rec = records.next()
            if rec is None:
                rc = popen.wait(timeout)
                raise LaunchError(f"launcher exited ({rc}) before the hand-off")
            if not rec.startswith("FD "):
                _raise_for(rec, argv0)
            fd_number, killable = parse_fd_record(rec)
            listener = pidfd_getfd(pidfd, fd_number)
            sock.sendall(b"A")
        if wait_exec:
            rec = records.next()
            if rec is not None:
                _raise_for(rec, argv0)
    except BaseException:
        if listener is not None:
            os.close(listener)
        raise
    return listener, killable


def _kill_and_reap(popen: subprocess.Popen[bytes]) -> None:
    for kill in (lambda: os.killpg(popen.pid, signal.SIGKILL), popen.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(5)
