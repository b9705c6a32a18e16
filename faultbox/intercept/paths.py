"""Name what a notified syscall acts on: a file path, an fd's target, a socket address.

Everything here reads another task's state through /proc or process_vm_readv; the caller
must check NOTIF_ID_VALID afterwards (the task may have died and its tid been reused).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Sequence

from faultbox.intercept.ioctl import RemoteReader
from faultbox.intercept.syscalls import KIND_AT, KIND_AT2, KIND_FD, KIND_PATH0, KIND_SOCKADDR

_AT_FDCWD = 0xFFFFFF9C  # -100 as the low 32 bits of args[0]
_U32 = 0xFFFFFFFF
_MAX_DIRFDS = 512


def _fd_arg(value: int) -> int:
    """A C ``int`` fd from a 64-bit syscall argument (negative → -1)."""
    value &= _U32
    return value if value < 0x80000000 else -1


class PathResolver:
    """Per-supervisor-thread resolver with cached ``/proc/TID/fd`` directory fds.

    A ``/proc/TID/fd`` dirfd stays bound to its task: after the tid dies, lookups fail, and
    we reopen once (the tid may belong to a new task by then).
    """

    def __init__(self) -> None:
        self._fd_dirs: dict[int, int] = {}
        self._mem = RemoteReader()

    def close(self) -> None:
        """Close every cached directory fd."""
        for fd in self._fd_dirs.values():
            os.close(fd)
        self._fd_dirs.clear()

    def forget(self, tid: int) -> None:
        """Drop the cached dirfd of ``tid``."""
        fd = self._fd_dirs.pop(tid, None)
        if fd is not None:
            os.close(fd)

    def _fd_dir(self, tid: int) -> int:
        fd = self._fd_dirs.get(tid)
        if fd is None:
            if len(self._fd_dirs) >= _MAX_DIRFDS:  # many short-lived threads: start over
                self.close()
            fd = os.open(f"/proc/{tid}/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            self._fd_dirs[tid] = fd
        return fd

    def fd_target(self, tid: int, fd: int) -> str:
        """``readlink /proc/TID/fd/N``: ``/tmp/x.wal``, ``socket:[123]``, ``pipe:[4]``…"""
        if fd < 0:
            return ""
        name = str(fd)
        try:
            return os.readlink(name, dir_fd=self._fd_dir(tid))
        except OSError:
            pass
        # The fd may really be closed, or our cached dirfd belongs to a dead task: retry fresh.
        self.forget(tid)
        try:
            return os.readlink(name, dir_fd=self._fd_dir(tid))
        except OSError:
            self.forget(tid)
            return ""

    def read_memory(self, tid: int, addr: int, length: int) -> bytes:
        """Up to ``length`` (≤ 4096) bytes of ``tid``'s memory at ``addr`` (b"" if unreadable)."""
        return self._mem.read(tid, addr, length)

    def _cwd(self, tid: int) -> str:
        try:
            return os.readlink(f"/proc/{tid}/cwd")
        except OSError:
            return ""

    def string(self, tid: int, addr: int) -> str:
        """The C string at ``addr`` in ``tid``'s memory ("" if unreadable)."""
        raw = self._mem.c_string(tid, addr)
        return raw.decode("utf-8", "surrogateescape") if raw else ""

    def at_path(self, tid: int, dirfd: int, addr: int) -> str:
        """A path argument made absolute against ``dirfd`` (AT_FDCWD: the task's cwd)."""
        path = self.string(tid, addr)
        if not path or path[0] == "/":
            return path
        base = self._cwd(tid) if dirfd & _U32 == _AT_FDCWD else self.fd_target(tid, _fd_arg(dirfd))
        if not base.startswith("/"):
            return path
        return os.path.normpath(os.path.join(base, path))

    def sockaddr(self, tid: int, addr: int, length: int) -> tuple[str, int]:
        """(``"127.0.0.1:5432"`` / ``"[::1]:80"`` / ``"/run/x.sock"`` / ``"@abstract"``, port)."""
        raw = self._mem.read(tid, addr, min(length & _U32, 128))
        return decode_sockaddr(raw)

    def resolve(self, kind: int, tid: int, args: Sequence[int]) -> tuple[str, int]:
        """(path, destination port or -1) for a syscall of ``kind`` (see syscalls.py)."""
        if kind == KIND_FD:
            return self.fd_target(tid, _fd_arg(args[0])), -1
        if kind == KIND_AT:
            return self.at_path(tid, args[0], args[1]), -1
        if kind == KIND_PATH0:
            return self.at_path(tid, _AT_FDCWD, args[0]), -1
        if kind == KIND_SOCKADDR:
            return self.sockaddr(tid, args[1], args[2])
        if kind == KIND_AT2:
            return self.at_path(tid, args[1], args[2]), -1
        return "", -1


def decode_sockaddr(raw: bytes) -> tuple[str, int]:
    """Text form and port of a ``struct sockaddr`` (port -1 when it has none)."""
    if len(raw) < 2:
        return "", -1
    family = struct.unpack_from("=H", raw)[0]
    if family == socket.AF_INET and len(raw) >= 8:
        port = struct.unpack_from("!H", raw, 2)[0]
        return f"{socket.inet_ntop(socket.AF_INET, raw[4:8])}:{port}", port
    if family == socket.AF_INET6 and len(raw) >= 24:
        port = struct.unpack_from("!H", raw, 2)[0]
        return f"[{socket.inet_ntop(socket.AF_INET6, raw[8:24])}]:{port}", port
    if family == socket.AF_UNIX:
        path = raw[2:]
        if path[:1] == b"\0":
            return "@" + path[1:].split(b"\0", 1)[0].decode(errors="replace"), -1
        return path.split(b"\0", 1)[0].decode(errors="replace"), -1
    return f"family={family}", -1
