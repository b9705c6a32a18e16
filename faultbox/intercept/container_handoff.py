"""Syscall interception inside a container: the static launcher as the entrypoint wrapper.

A container's processes are not faultbox's children, so the socketpair of :func:`launch`
cannot reach them. Instead faultbox listens on a unix socket in a private directory that is
bind-mounted into the container next to the static launcher (``faultbox-launcher-static``),
and the container's entrypoint becomes ``launcher --connect SOCKET --sock FD --filter HEX --
ENTRYPOINT…``. The launcher connects, moves the connection to fd FD (the number the BPF
program exempts), installs the filter and sends ``FD <n> <k>`` as in launcher.c; faultbox
takes the peer's pid from ``SO_PEERCRED`` (the kernel translates it into faultbox's pid
namespace: the host pid), copies the listener with ``pidfd_open`` + ``pidfd_getfd`` and sends
the ACK. The launcher then execs the image's entrypoint; the filter covers its whole process
tree, whatever user it switches to.

Usage (runtime/containers.py)::

    handoff = prepare(notify, run_dir)         # None when nothing is notified
    mounts, entrypoint = handoff.mounts, handoff.wrap(image_entrypoint + cmd)
    ... start the container (host network) with them ...
    proc = handoff.accept(timeout, exited=lambda: None if running else "exit status 1")
    supervisor.attach(name, proc)
    handoff.close()
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import struct
import tempfile
import time
from collections.abc import Callable, Sequence

from faultbox.intercept._build import static_launcher_path
from faultbox.intercept.errors import InterceptUnavailable, LaunchError
from faultbox.intercept.handshake import (
    AFTER_ACK,
    HandedOffProcess,
    RecordReader,
    filter_for,
    parse_fd_record,
    raise_for,
)
from faultbox.intercept.ioctl import pidfd_getfd
from faultbox.intercept.syscalls import host_arch, numbers_for

#: Where the hand-off lives inside the container (created by the engine as mount points).
CONTAINER_DIR = "/.faultbox"
LAUNCHER_IN_CONTAINER = f"{CONTAINER_DIR}/launcher"
SOCKET_DIR_IN_CONTAINER = f"{CONTAINER_DIR}/handoff"
SOCKET_NAME = "launcher.sock"
#: The fd number the launcher moves its connection to; the BPF program exempts its hand-off
#: write/read on exactly this fd. High, so the entrypoint's own I/O never matches.
HANDOFF_FD = 500
_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid
_LISTENER_LINK = "anon_inode:seccomp notify"  # readlink of a seccomp listener fd
_EXIT_CHECK_S = 0.1  # how often accept() asks whether the container is still running

#: ``exited()``: None while the container runs, else how it ended ("exit status 1").
ExitProbe = Callable[[], "str | None"]


class InterceptedContainerProcess(HandedOffProcess):
    """A container's init after the hand-off; what ``Supervisor.attach`` takes."""

    def __init__(
        self,
        pid: int,
        pidfd: int,
        pgid: int,
        listener: int,
        notify: tuple[str, ...],
        killable: bool,
    ) -> None:
        super().__init__(pidfd, listener, notify, killable)
        #: host pid of the launcher, then of the entrypoint it exec'd (the container's init)
        self.pid = pid
        self.pgid = pgid

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the init and its process group (SIGKILL of the init ends the container)."""
        self.send_signal(sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def exited(self) -> bool:
        """Whether the container's init has exited (its pidfd is readable)."""
        return bool(select.select([self.pidfd], [], [], 0)[0])

    def __repr__(self) -> str:
        return f"<InterceptedContainerProcess pid={self.pid} notify={len(self.notify)}>"


class ContainerHandoff:
    """One container's hand-off: the listening socket, the mounts and the wrapped entrypoint."""

    def __init__(self, notify: tuple[str, ...], filter_hex: str, run_dir: str) -> None:
        self.notify = notify
        self._filter_hex = filter_hex
        # exec-related syscalls notified: the launcher's exec waits for the supervisor, so
        # accept() cannot wait for the exec outcome (same rule as launch()).
        self._wait_exec = not AFTER_ACK.intersection(notify)
        self.launcher = str(static_launcher_path())
        self._sock: socket.socket | None = None
        try:
            self.socket_dir = tempfile.mkdtemp(prefix="fb-handoff-", dir=run_dir)
        except OSError as e:
            what = f"cannot make the container hand-off directory in {run_dir}"
            raise LaunchError(f"{what}: {e}") from e
        try:
            os.chmod(self.socket_dir, 0o755)  # an image running as a non-root user must reach it
            self._sock = _listen(self.socket_dir)
        except OSError as e:
            self.close()
            raise LaunchError(f"cannot listen on {self.socket_dir}/{SOCKET_NAME}: {e}") from e
        except BaseException:
            self.close()
            raise
        #: (host path, container path, "ro"|"rw") bind mounts the container needs
        self.mounts: list[tuple[str, str, str]] = [
            (self.launcher, LAUNCHER_IN_CONTAINER, "ro"),
            (self.socket_dir, SOCKET_DIR_IN_CONTAINER, "ro"),
        ]

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """The container's entrypoint + command: the launcher, then ``argv`` (resolved by the
        launcher's ``execvp`` with the container's PATH, as the engine would)."""
        argv = [str(a) for a in argv]
        if not argv:
            raise LaunchError("the image has no entrypoint or command to run")
        cmd = [
            LAUNCHER_IN_CONTAINER,
            "--connect",
            f"{SOCKET_DIR_IN_CONTAINER}/{SOCKET_NAME}",
            "--sock",
            str(HANDOFF_FD),
            "--filter",
            self._filter_hex,
        ]
        if not self._wait_exec:
            cmd.append("--stderr-errors")
        return [*cmd, "--", argv[0], *argv]

    def accept(
        self, timeout: float, exited: ExitProbe | None = None
    ) -> InterceptedContainerProcess:
        """Wait for the launcher of the started container and take its listener.

        ``exited`` (optional) tells whether the container already ended, so that a container
        that dies before the hand-off is reported at once instead of at the timeout.
        """
        if self._sock is None:
            raise LaunchError("container hand-off already used or closed")
        deadline = time.monotonic() + timeout
        listening, self._sock = self._sock, None
        try:
            conn = _wait_connection(listening, deadline, exited, timeout)
        finally:
            listening.close()  # one container per hand-off: nobody else may connect
        with conn:
            return self._handshake(conn, deadline)

    def _handshake(self, conn: socket.socket, deadline: float) -> InterceptedContainerProcess:
        pid, _uid, _gid = _UCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        )
        if pid <= 0:
            raise InterceptUnavailable(
                "the container's process is not visible in faultbox's pid namespace "
                "(faultbox must run in the Docker engine's pid namespace, or an ancestor)"
            )
        records = RecordReader(conn, deadline)
        rec = records.next()  # first: a launcher that failed has said why, and may be gone
        if rec is None:
            raise LaunchError("the container's launcher exited before the hand-off")
        if not rec.startswith("FD "):
            raise_for(rec, "container entrypoint")
        try:
            pidfd = os.pidfd_open(pid)  # it waits for our ACK: alive, its pid not reused
        except OSError as e:
            raise LaunchError(f"the container's launcher (pid {pid}) is gone: {e}") from e
        listener: int | None = None
        try:
            fd_number, killable = parse_fd_record(rec)
            pgid = os.getpgid(pid)  # after its setsid(): the launcher waits for our ACK
            listener = pidfd_getfd(pidfd, fd_number)
            # anyone who can reach the socket could connect: take only a real listener
            if os.readlink(f"/proc/self/fd/{listener}") != _LISTENER_LINK:
                raise LaunchError(f"pid {pid} handed over fd {fd_number}: not a seccomp listener")
            conn.sendall(b"A")
            if self._wait_exec:
                rec = records.next()
                if rec is not None:
                    raise_for(rec, "container entrypoint")
        except BaseException:
            if listener is not None:
                os.close(listener)
            os.close(pidfd)
            raise
        return InterceptedContainerProcess(pid, pidfd, pgid, listener, self.notify, killable)

    def close(self) -> None:
        """Close the socket and remove its directory; idempotent. The container keeps its
        bind mount of the (then empty, deleted) directory."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def prepare(notify: Sequence[str], run_dir: str) -> ContainerHandoff | None:
    """A hand-off for a container whose filter notifies ``notify``; None if that is empty.

    ``run_dir`` must be visible to the Docker engine (its mount namespace): the socket's
    directory is created there and bind-mounted. ``InterceptUnavailable`` if the static
    launcher cannot be built or the architecture is not supported.
    """
    names = tuple(dict.fromkeys(notify))
    if not names:
        return None
    arch = host_arch()
    if not arch:
        raise InterceptUnavailable("syscall interception supports x86_64 and aarch64 only")
    filter_hex = filter_for(numbers_for(names, arch), arch, HANDOFF_FD).hex()
    return ContainerHandoff(names, filter_hex, run_dir)


def _listen(directory: str) -> socket.socket:
    """A listening socket at ``directory/SOCKET_NAME``, bound through ``/proc/self/fd`` so a
    long run directory never exceeds ``sun_path``'s 108 bytes."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    dfd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.bind(f"/proc/self/fd/{dfd}/{SOCKET_NAME}")
        # connect() needs write permission on the socket: the entrypoint may run as any user
        os.chmod(SOCKET_NAME, 0o777, dir_fd=dfd)
        sock.listen(1)
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(dfd)
    return sock


def _wait_connection(
    listening: socket.socket, deadline: float, exited: ExitProbe | None, timeout: float
) -> socket.socket:
    """The launcher's connection; LaunchError if the container ended or the time ran out."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LaunchError(
                f"no hand-off from the container's launcher within {timeout:g}s (was the "
                "entrypoint wrapped, with the mounts? does the engine see the run directory?)"
            )
        wait = min(left, _EXIT_CHECK_S) if exited is not None else left
        if select.select([listening], [], [], wait)[0]:
            conn, _ = listening.accept()
            conn.setblocking(True)
            return conn
        how = exited() if exited is not None else None
        if how is not None:
            raise LaunchError(f"the container exited before the hand-off ({how})")
