"""Connection redirection: a service's ``connect()`` to a proxied port gets a socket that is
already connected to faultbox's proxy, and the call returns 0.

How (docs/protocol-faults.md): faultbox connects a socket of its own to the proxy listener
(after telling the proxy which service and destination that socket's local port stands for),
installs it over the target's fd number with ``SECCOMP_IOCTL_NOTIF_ADDFD`` +
``SECCOMP_ADDFD_FLAG_SETFD``, and answers the notification with 0. The target's own socket is
closed by the kernel (like dup2). File status flags are per open file, so O_NONBLOCK is copied;
a non-stream socket or an address that is not loopback is not redirected.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from fcntl import ioctl

from faultbox.intercept.ioctl import pidfd_getfd

NOTIF_ADDFD = 0x40182103
ADDFD = struct.Struct("=QIIII")  # id, flags, srcfd, newfd, newfd_flags
ADDFD_FLAG_SETFD = 1
_PIDFD_THREAD = os.O_EXCL  # pidfd_open(2): a pidfd for a thread, not only a group leader
_libc = ctypes.CDLL(None, use_errno=True)
_NR_PIDFD_OPEN = 434  # same on x86_64 and aarch64
_UPSTREAM_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Redirect:
    """Connections to ``port`` (from any service but ``owner``) go to the proxy."""

    port: int
    owner: str
    proxy_ports: dict[int, int]  # address family -> proxy port on that family's loopback
    # (local port of our socket to the proxy, service, socket connected to the real server)
    expect: Callable[[int, str, socket.socket], None]


def split_address(text: str) -> tuple[int, str] | None:
    """``127.0.0.1:5432`` / ``[::1]:5432`` → (family, host) if the host is a loopback."""
    host = text.rsplit(":", 1)[0]
    family = socket.AF_INET
    if host.startswith("["):
        host, family = host[1:-1], socket.AF_INET6
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return None
    mapped = getattr(addr, "ipv4_mapped", None)
    if not (addr.is_loopback or addr.is_unspecified or (mapped and mapped.is_loopback)):
        return None
    return family, host


def _pidfd_open(tid: int) -> int:
    for flags in (_PIDFD_THREAD, 0):
        fd = _libc.syscall(_NR_PIDFD_OPEN, tid, flags)
        if fd >= 0:
            return int(fd)
    err = ctypes.get_errno()
    raise OSError(err, f"pidfd_open: {os.strerror(err)}")


def _target_socket_flags(tid: int, target_fd: int) -> tuple[bool, bool, bool] | None:
    """(is a stream socket, non-blocking, close-on-exec) of the target's fd, or None."""
    pidfd = _pidfd_open(tid)
    try:
        copy = pidfd_getfd(pidfd, target_fd)
    finally:
        os.close(pidfd)
    try:
        sock = socket.socket(fileno=copy)
        try:
            stream = sock.type == socket.SOCK_STREAM
            nonblocking = not os.get_blocking(copy)
        finally:
            sock.detach()
    finally:
        os.close(copy)
    cloexec = False
    with open(f"/proc/{tid}/fdinfo/{target_fd}", encoding="ascii") as info:
        for line in info:
            if line.startswith("flags:"):
                cloexec = bool(int(line.split()[1], 8) & os.O_CLOEXEC)
    return stream, nonblocking, cloexec


def redirect_connect(
    listener: int, nid: int, tid: int, target_fd: int, address: str, service: str, r: Redirect
) -> int | None:
    """Hand the target a socket connected to the proxy. None: leave the connect alone (the
    caller answers CONTINUE); else the value to answer with: 0, or -errno when the real
    server refused us (the target must see that refusal from its own connect, so that it
    tries its next address, e.g. 127.0.0.1 after ::1).
    """
    where = split_address(address)
    if where is None or where[0] not in r.proxy_ports:
        return None
    family, host = where
    try:
        flags = _target_socket_flags(tid, target_fd)
    except OSError:
        return None  # the task is gone or the fd is not there: let the kernel answer
    if flags is None or not flags[0]:
        return None
    _stream, nonblocking, cloexec = flags
    upstream = socket.socket(family, socket.SOCK_STREAM)
    try:
        upstream.settimeout(_UPSTREAM_TIMEOUT_S)
        upstream.connect((host, r.port))  # a loopback server: answered at once
        upstream.settimeout(None)
    except OSError as e:
        upstream.close()
        return -(e.errno or errno.ECONNREFUSED)
    loopback = "127.0.0.1" if family == socket.AF_INET else "::1"
    ours = socket.socket(family, socket.SOCK_STREAM)
    try:
        ours.bind((loopback, 0))
        r.expect(ours.getsockname()[1], service, upstream)
        ours.connect((loopback, r.proxy_ports[family]))  # a local listener: accepted at once
        ours.setblocking(not nonblocking)
        req = ADDFD.pack(nid, ADDFD_FLAG_SETFD, ours.fileno(), target_fd,
                         os.O_CLOEXEC if cloexec else 0)  # fmt: skip
        ioctl(listener, NOTIF_ADDFD, req)
        return 0
    except OSError:
        upstream.close()  # the task died meanwhile (ENOENT): the proxy sees EOF and lets go
        return None
    finally:
        with contextlib.suppress(OSError):
            ours.close()
