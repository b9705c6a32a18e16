"""What the supervisor keeps per attached service, and answering what a listener still holds."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from fcntl import ioctl
from typing import Protocol

from faultbox.intercept.decide import ServiceRules
from faultbox.intercept.ioctl import FLAG_CONTINUE, NOTIF, NOTIF_RECV, NOTIF_SEND, RESP
from faultbox.intercept.journal import ServiceJournal

ZERO_NOTIF = bytes(NOTIF.size)  # the RECV buffer: the kernel requires it zeroed


class Attachable(Protocol):
    """What ``Supervisor.attach`` reads from a process: ``LaunchedProcess`` (spawn.py) and
    ``InterceptedContainerProcess`` (container_handoff.py) both provide it."""

    @property
    def pidfd(self) -> int: ...  # the main process (dup'ed: the caller keeps its own)
    @property
    def pgid(self) -> int: ...  # killpg target of the failure policy (host pid namespace)
    @property
    def notify(self) -> tuple[str, ...]: ...  # the syscalls the filter notifies

    def take_listener(self) -> int | None:
        """Hand the listener over (the supervisor closes it)."""

    def kill_group(self, sig: int = ...) -> None:
        """SIGKILL the process (group): attach refuses after a supervisor failure."""


class SupervisorFailure(Exception):
    """The loop cannot go on (a listener error); the reason becomes ``Supervisor.failure``."""


class Attached:
    """One attached service process."""

    __slots__ = (
        "service", "proc", "listener", "pidfd", "pgid", "rules", "open", "exited", "journal",
        "closed",
    )  # fmt: skip

    def __init__(
        self, service: str, proc: Attachable, listener: int | None, rules: ServiceRules
    ) -> None:
        self.service = service
        self.proc = proc
        self.listener = listener if listener is not None else -1  # -1: started unfiltered
        self.pidfd = os.dup(proc.pidfd)  # our own copy: the caller may close theirs
        self.pgid = proc.pgid
        self.rules = rules
        self.open = listener is not None
        self.exited = False
        # crash(lose_unsynced=True) needs it: its notifications are decided in Python
        self.journal: ServiceJournal | None = None
        self.closed = threading.Event()  # set when every filtered task has exited
        if not self.open:
            self.closed.set()


def quiet_continue(fd: int, nid: int) -> None:
    """Answer CONTINUE, ignoring a notification that is no longer valid (its task died)."""
    with contextlib.suppress(OSError):
        ioctl(fd, NOTIF_SEND, RESP.pack(nid, 0, 0, FLAG_CONTINUE))


def answer_queued(
    listeners: dict[int, Attached], budget_s: float
) -> list[tuple[Attached | None, int, int]]:
    """CONTINUE every notification already queued on ``listeners``, for at most ``budget_s``.

    Returns ``(attached, syscall number, tid)`` of each one answered, in order.
    """
    answered: list[tuple[Attached | None, int, int]] = []
    deadline = time.monotonic() + budget_s
    waiter = select.poll()  # not the supervisor's epoll: the native loop keeps listeners out
    for fd in listeners:
        waiter.register(fd, select.POLLIN)
    while time.monotonic() < deadline:
        ready = [
            (fd, listeners.get(fd))
            for fd, mask in waiter.poll(0)
            if mask & select.POLLIN and fd in listeners
        ]
        if not ready:
            break
        for fd, att in ready:
            try:
                data = ioctl(fd, NOTIF_RECV, ZERO_NOTIF)
            except OSError:
                continue
            nid, tid, _flags, nr, *_ = NOTIF.unpack(data)
            quiet_continue(fd, nid)
            answered.append((att, nr, tid))
    return answered
