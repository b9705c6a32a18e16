"""The launcher hand-off, shared by launch() (spawn.py) and containers (container_handoff.py).

The launcher (launcher.c) writes fixed-size records on its hand-off socket: ``FD <n> <k>``
after installing the filter (faultbox copies fd n with ``pidfd_getfd`` and sends the 1-byte
ACK), ``ERR <msg>`` when it fails, ``UNAVAILABLE <msg>`` when interception cannot work here.
EOF after the ACK means the exec succeeded (the socket is O_CLOEXEC).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import time

from faultbox.intercept import bpf
from faultbox.intercept.errors import InterceptUnavailable, LaunchError
from faultbox.intercept.syscalls import AUDIT_ARCH, syscall_number

# Syscalls the launcher itself makes after the ACK. If one of them is notified, it blocks
# until the caller attaches the listener to a Supervisor, so the caller cannot wait for the
# exec outcome (it would deadlock); exec errors then go to the service's stderr (exit 127).
AFTER_ACK = frozenset({"execve", "execveat", "exit_group"})
AFTER_ACK_USER = frozenset({"setgroups", "setgid", "setuid", "prctl", "getppid"})


class RecordReader:
    """Reads the launcher's fixed-size records from faultbox's end of the hand-off socket."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline, self.buf = sock, deadline, b""

    def next(self) -> str | None:
        """The next record's text, or None at EOF; LaunchError after the deadline."""
        while len(self.buf) < bpf.RECORD_LEN:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                raise LaunchError("launcher did not answer in time")
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buf += chunk
        rec, self.buf = self.buf[: bpf.RECORD_LEN], self.buf[bpf.RECORD_LEN :]
        return rec.split(b"\0", 1)[0].decode(errors="replace")


def raise_for(rec: str, argv0: str) -> None:
    """Raise the error a non-``FD`` record stands for."""
    if rec.startswith("UNAVAILABLE "):
        raise InterceptUnavailable(rec.removeprefix("UNAVAILABLE "))
    if rec.startswith("ERR "):
        raise LaunchError(f"{argv0}: {rec.removeprefix('ERR ')}")
    raise LaunchError(f"{argv0}: unexpected launcher record {rec!r}")


def parse_fd_record(rec: str) -> tuple[int, bool]:
    """``FD <n> <killable>`` → (fd number in the launcher, wait_killable)."""
    _, fd_text, killable_text = rec.split()
    return int(fd_text), killable_text == "1"


def filter_for(numbers: list[int], arch: str, hfd: int) -> bytes:
    """The BPF program, with the launcher's hand-off write/read on ``hfd`` exempted."""
    exempt = {}
    for name, count in (("write", bpf.RECORD_LEN), ("read", bpf.ACK_READ_LEN)):
        nr = syscall_number(name, arch)
        if nr is not None:
            exempt[nr] = count
    return bpf.build_filter(numbers, AUDIT_ARCH[arch], hfd, exempt)


class HandedOffProcess:
    """A process whose seccomp listener faultbox copied: owns its pidfd and, until a
    Supervisor takes it, the listener. Base of LaunchedProcess and of a container's init."""

    def __init__(
        self, pidfd: int, listener_fd: int | None, notify: tuple[str, ...], killable: bool
    ):
        self.pidfd = pidfd
        self.listener_fd = listener_fd
        self.notify = notify
        #: True when held syscalls ignore non-fatal signals (WAIT_KILLABLE_RECV, 5.19+).
        self.wait_killable = killable
        self._listener_taken = False
        self._closed = False

    def take_listener(self) -> int | None:
        """Hand the listener over (to a Supervisor, which then closes it)."""
        self._listener_taken = True
        return self.listener_fd

    def send_signal(self, sig: int) -> None:
        """Signal the process (race-free through the pidfd)."""
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(self.pidfd, sig)

    def close(self) -> None:
        """Close the pidfd, and the listener unless a supervisor took it."""
        if self._closed:
            return
        self._closed = True
        fds = [self.pidfd]
        if self.listener_fd is not None and not self._listener_taken:
            fds.append(self.listener_fd)
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
