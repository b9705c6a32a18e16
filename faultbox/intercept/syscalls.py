"""Syscall names, numbers, families and the argument layout faultbox needs to name a path.

Specs use names (``write``, ``fsync``); the filter and the supervisor use numbers of the host
architecture. A name known on either supported architecture is *known* (so a spec stays
portable); a name the host lacks (``open`` on aarch64) is silently left out of the filter.
"""

from __future__ import annotations

import platform

from faultbox.intercept import _table_aarch64, _table_x86_64

#: The kernel's AUDIT_ARCH_* value for each supported architecture (checked by the BPF).
AUDIT_ARCH: dict[str, int] = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
TABLES: dict[str, dict[str, int]] = {
    "x86_64": _table_x86_64.NUMBERS,
    "aarch64": _table_aarch64.NUMBERS,
}

#: Keyword → syscalls it stands for (the original's families, plus the newer variants).
FAMILIES: dict[str, tuple[str, ...]] = {
    "write": ("write", "writev", "pwrite64", "pwritev", "pwritev2"),
    "read": ("read", "readv", "pread64", "preadv", "preadv2"),
    "open": ("open", "openat", "openat2"),
    "fsync": ("fsync", "fdatasync"),
    "sendto": ("sendto", "sendmsg"),
    "recvfrom": ("recvfrom", "recvmsg"),
}

# How to find the object a syscall acts on (see paths.py).
KIND_NONE = 0
KIND_FD = 1  # args[0] is a file descriptor: readlink /proc/TID/fd/N
KIND_PATH0 = 2  # args[0] is a C string path
KIND_AT = 3  # args[0] is a dirfd, args[1] a C string path
KIND_SOCKADDR = 4  # args[1] is a sockaddr, args[2] its length
KIND_AT2 = 5  # symlinkat: args[1] dirfd, args[2] the new link's path

_FD_SYSCALLS = (
    "write writev pwrite64 pwritev pwritev2 read readv pread64 preadv preadv2 "
    "fsync fdatasync ftruncate fallocate sync_file_range fchmod fchown fstat fstatfs flock "
    "close lseek getdents64 sendto sendmsg recvfrom recvmsg sendfile copy_file_range splice "
    "fsetxattr fgetxattr shutdown accept accept4 listen"
)
_PATH0_SYSCALLS = (
    "open creat truncate mkdir rmdir unlink access stat lstat chmod chown lchown readlink "
    "rename link symlink execve chdir statfs utime utimes mknod setxattr getxattr"
)
_AT_SYSCALLS = (
    "openat openat2 mkdirat unlinkat faccessat faccessat2 newfstatat readlinkat renameat "
    "renameat2 linkat fchmodat fchmodat2 fchownat mknodat utimensat statx execveat"
)

PATH_KIND: dict[str, int] = {
    **{name: KIND_FD for name in _FD_SYSCALLS.split()},
    **{name: KIND_PATH0 for name in _PATH0_SYSCALLS.split()},
    **{name: KIND_AT for name in _AT_SYSCALLS.split()},
    "symlinkat": KIND_AT2,
    "connect": KIND_SOCKADDR,
    "bind": KIND_SOCKADDR,
}

_KNOWN: frozenset[str] = frozenset(_table_x86_64.NUMBERS) | frozenset(_table_aarch64.NUMBERS)


def host_arch() -> str:
    """``"x86_64"`` or ``"aarch64"``; ``""`` when faultbox has no table for this machine."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return "x86_64"
    if machine in ("aarch64", "arm64"):
        return "aarch64"
    return ""


def is_known_syscall(name: str) -> bool:
    """True for a syscall name of x86_64 or aarch64 (family keywords included)."""
    return name in _KNOWN or name in FAMILIES


def expand_syscalls(name: str) -> tuple[str, ...]:
    """Family expansion: ``write`` → write, writev, pwrite64, pwritev, pwritev2.

    Any other known syscall stands for itself; an unknown name raises ``ValueError``.
    """
    family = FAMILIES.get(name)
    if family is not None:
        return family
    if name in _KNOWN:
        return (name,)
    raise ValueError(f"unknown syscall {name!r}")


def syscall_number(name: str, arch: str | None = None) -> int | None:
    """Number of ``name`` on ``arch`` (default: the host), None if it has none there."""
    return TABLES[arch or host_arch()].get(name)


def names_by_number(arch: str | None = None) -> dict[int, str]:
    """number → name for ``arch`` (default: the host)."""
    return {nr: name for name, nr in TABLES[arch or host_arch()].items()}


def numbers_for(names: tuple[str, ...] | list[str], arch: str | None = None) -> list[int]:
    """Sorted, de-duplicated numbers of the names present on ``arch`` (others are skipped)."""
    table = TABLES[arch or host_arch()]
    return sorted({table[n] for n in names if n in table})
