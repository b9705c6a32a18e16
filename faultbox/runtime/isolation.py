"""Namespaces for one test cell of a parallel run (``faultbox test -j N``).

Specs bind fixed ports (``interface("main", "tcp", 5432)``) and write fixed paths
(``/tmp/inventory.wal``), so two cells can only run at the same time if neither sees the
other. A worker process calls :func:`enter_cell_namespaces` right after it was forked:

* a **network namespace** of its own with only loopback, brought up — every cell's services
  bind the same ports on their own ``127.0.0.1``;
* a **mount namespace** in which ``/tmp`` is an overlay: the host's ``/tmp`` below (the spec,
  a ``bin`` link, a ``TMPDIR`` under ``/tmp`` stay visible), a fresh tmpfs above that takes
  every write. What one cell writes to ``/tmp`` no other cell and not the host sees, and it
  vanishes with the namespace — also when faultbox is SIGKILLed, since the namespace dies
  with its last process.

Both die with the worker's processes; nothing needs tearing down. Needs CAP_SYS_ADMIN
(root): :func:`probe` says why it cannot work, so the command can fall back to ``-j 1``.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

__all__ = ["IsolationUnavailable", "enter_cell_namespaces", "probe"]

_CLONE_NEWNS = 0x00020000
_CLONE_NEWNET = 0x40000000
_MS_REC = 0x4000
_MS_PRIVATE = 1 << 18
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sH14x"  # struct ifreq: the name, then ifr_flags (a short) in the union

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationUnavailable(Exception):
    """This process cannot get namespaces of its own (no privileges, no kernel support)."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise IsolationUnavailable(f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str) -> None:
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {fstype or 'propagation'} on {target}",
    )


def _private_tmp() -> None:
    """``/tmp`` becomes an overlay: the host's /tmp read below, a private tmpfs written above."""
    # The host /tmp is reached through a descriptor: once the tmpfs covers /tmp, its path
    # leads to the tmpfs, and the overlay's upper layer must not lie inside its lower one.
    lower = os.open("/tmp", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _mount("faultbox-cell", "/tmp", "tmpfs", 0, "mode=1777")
        os.mkdir("/tmp/.upper", 0o755)
        os.mkdir("/tmp/.work", 0o700)
        os.chmod("/tmp/.upper", 0o1777)  # the overlay's root takes the upper dir's mode
        options = f"lowerdir=/proc/self/fd/{lower},upperdir=/tmp/.upper,workdir=/tmp/.work"
        _mount("faultbox-cell", "/tmp", "overlay", 0, options)
    finally:
        os.close(lower)


def _loopback_up() -> None:
    """Bring ``lo`` up in the new network namespace (it starts down: nothing could bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            got = fcntl.ioctl(sock, _SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0))
            flags = struct.unpack(_IFREQ, got)[1]
            fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))
        except OSError as exc:
            raise IsolationUnavailable(f"cannot bring loopback up: {exc.strerror}") from None


def enter_cell_namespaces() -> None:
    """Move this (single-threaded, freshly forked) process into a network and a mount
    namespace of its own, with loopback up and a private ``/tmp``."""
    _check(_libc.unshare(_CLONE_NEWNET | _CLONE_NEWNS), "unshare(CLONE_NEWNET|CLONE_NEWNS)")
    # Mounts made from here on must not propagate back to the host's namespace.
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, "")
    _private_tmp()
    _loopback_up()


def probe() -> str | None:
    """None if cells can be isolated here, else why not (tried in a throw-away child)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: try, report, vanish (its namespaces with it)
        os.close(read_fd)
        message = b""
        try:
            enter_cell_namespaces()
        except IsolationUnavailable as exc:
            message = str(exc).encode() or b"failed"
        except BaseException as exc:  # anything: the parent must hear of it, not hang
            message = f"{type(exc).__name__}: {exc}".encode()
        os.write(write_fd, message)
        os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 4096):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    text = b"".join(chunks).decode(errors="replace")
    return text or None
