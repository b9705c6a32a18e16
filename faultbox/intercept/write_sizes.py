"""How many bytes a notified write asks for, and how many a ``partial()`` rule lets through.

The decision (decide.py, loop.c) needs the length *before* the rule's probability draw: a
partial rule only applies to a write it can shorten (at least 2 bytes, and more than
``bytes=N``), so a 1-byte write or one within the limit falls through to the next rule (or
is allowed) and the rule does not count a hit. loop.c computes the same length the same
way (``write_length``): the count of ``write``/``pwrite64``, the sum of the ``iovec``
lengths of ``writev``/``pwritev``/``pwritev2``; -1 when it cannot be known (an unreadable
or oversized ``iovec`` array: the kernel then fails the call itself).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence

from faultbox.intercept.rules import Rule

_IOV = struct.Struct("=QQ")
MAX_IOV = 1024  # UIO_MAXIOV: more is EINVAL from the kernel
_SSIZE_MAX = (1 << 63) - 1
_COUNTED = frozenset({"write", "pwrite64"})
_VECTORED = frozenset({"writev", "pwritev", "pwritev2"})


def read_memory(tid: int, addr: int, length: int) -> bytes:
    """``length`` bytes of ``tid``'s memory at ``addr`` (shorter if unreadable).

    A fresh ``/proc/TID/mem`` per call: a cached one is bound to the address space it was
    opened on (wrong after an exec), and a prefix may be larger than RemoteReader's 4 KiB.
    """
    if length <= 0:
        return b""
    try:
        fd = os.open(f"/proc/{tid}/mem", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return b""
    try:
        parts: list[bytes] = []
        got = 0
        while got < length:
            chunk = os.pread(fd, length - got, addr + got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)
    except (OSError, OverflowError, ValueError):  # EIO: unmapped; a bogus address
        return b"".join(parts)
    finally:
        os.close(fd)


def iovecs(tid: int, addr: int, count: int) -> list[tuple[int, int]] | None:
    """The ``(base, length)`` pairs of an ``iovec`` array, or None if unreadable/too long."""
    if count > MAX_IOV:
        return None
    if count == 0:
        return []
    raw = read_memory(tid, addr, count * _IOV.size)
    if len(raw) != count * _IOV.size:
        return None
    return list(_IOV.iter_unpack(raw))


def write_length(name: str, tid: int, args: Sequence[int]) -> int:
    """Bytes the write asks for; -1 if unknown (not a write, unreadable ``iovec``s)."""
    if name in _COUNTED:
        return args[2] if args[2] <= _SSIZE_MAX else -1
    if name in _VECTORED:
        vec = iovecs(tid, args[1], args[2])
        if vec is None:
            return -1
        total = sum(length for _, length in vec)
        return total if total <= _SSIZE_MAX else -1
    return -1


def min_length(rule: Rule) -> int:
    """The shortest write ``rule`` can cut: 2 bytes, or ``bytes=N`` + 1."""
    return rule.partial_bytes + 1 if rule.partial_bytes else 2


def prefix_length(rule: Rule, length: int, u: float) -> int:
    """Bytes of a ``length``-byte write that ``rule`` lets through (``length`` is at least
    :func:`min_length`); ``u`` is the rule's seeded draw in [0, 1) (used without a size)."""
    if rule.partial_bytes:
        return rule.partial_bytes
    if rule.partial_fraction:
        return min(max(int(length * rule.partial_fraction), 1), length - 1)
    return 1 + int(u * (length - 1))  # 1 .. length-1
