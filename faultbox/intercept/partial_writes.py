"""``partial()``: the supervisor performs a prefix of a write itself and returns the short count.

When a partial rule fires (decide.evaluate in the Python loop; loop.c hands the held
notification over as ``EV_PARTIAL``, so both loops get here with the same decision):

1. the prefix length: ``bytes=N``, ``fraction=F`` of the write, or a seeded draw in
   ``[1, length)`` from (seed, service, syscall, rule, that rule's n-th cut) — the same
   ``--seed`` cuts the same writes at the same lengths (write_sizes.prefix_length);
2. the prefix bytes are read from the target's memory (``/proc/TID/mem``; for
   ``writev``/``pwritev``/``pwritev2`` gathered across the ``iovec``s);
3. ``NOTIF_ID_VALID``: only a task that is still waiting may be answered (tid reuse);
4. a journaled service (crash(lose_unsynced=True)) notes the prefix's pre-image;
5. the target's fd is copied with ``pidfd_getfd`` — the copy shares the open file
   description, so ``write()`` on it uses and advances the target's own offset, and
   ``O_APPEND`` appends — and the prefix is written as the target's call would have:
   ``write`` at the current offset, ``pwrite64``/``pwritev`` at the given offset,
   ``pwritev2`` with its offset and flags;
6. the record (a :class:`PartialRecord`), then the answer: the short count (error 0, no
   CONTINUE), or ``-errno`` when the prefix write itself failed.

Only files are cut (the fd names a path, and is a regular file or block device): a socket,
pipe or FIFO write could block the supervisor thread on a peer, so those run unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from fcntl import ioctl
from typing import TYPE_CHECKING

from faultbox.intercept.attached import Attached, SupervisorFailure
from faultbox.intercept.decide import ACT_PARTIAL, CompiledRule
from faultbox.intercept.errnos import strerror_text
from faultbox.intercept.ioctl import FLAG_CONTINUE, NOTIF_ID_VALID, NOTIF_SEND, RESP, pidfd_getfd
from faultbox.intercept.paths import PathResolver
from faultbox.intercept.records import PartialRecord, SyscallRecord
from faultbox.intercept.rules import draw, stream_key
from faultbox.intercept.syscalls import KIND_FD
from faultbox.intercept.write_sizes import iovecs, prefix_length, read_memory, write_length

if TYPE_CHECKING:
    from faultbox.intercept.native import NativeEngine

__all__ = ["ACT_PARTIAL", "PartialWriter"]

_Q = struct.Struct("=Q")
_U64 = 1 << 64
_PIDFD_THREAD = os.O_EXCL  # Linux 6.9+: a pidfd for a thread, not only a process
_RWF_APPEND = 0x10
_SMALL = 4096  # PathResolver.read_memory's limit


def _signed(value: int) -> int:
    return value - _U64 if value >= 1 << 63 else value


class PartialWriter:
    """Carries out the partial decisions of one supervisor (its loop thread only)."""

    def __init__(
        self, resolver: PathResolver, append: Callable[[SyscallRecord], None], seed: int
    ) -> None:
        self._resolver = resolver
        self._append = append  # Supervisor._append_record: after the native loop's records
        self._seed = seed
        # (rule set id, rule index, syscall) → [stream key, cuts so far]: the n-th cut's draw
        self._cuts: dict[tuple[int, int, str], list[int]] = {}

    def from_native(
        self, engine: NativeEngine, listeners: Mapping[int, Attached], rid: int
    ) -> None:
        """An EV_PARTIAL event: take the notification loop.c holds and carry it out."""
        taken = engine.loop.take_pending()
        if taken is None:
            return
        fd, nid, tid, nr, args = taken
        att = listeners.get(fd)
        if att is None:  # cannot happen while it is held; never leave a target hanging
            with contextlib.suppress(OSError):
                ioctl(fd, NOTIF_SEND, RESP.pack(nid, 0, 0, FLAG_CONTINUE))
            return
        path, _ = self._resolver.resolve(KIND_FD, tid, args)
        self.perform(att, nid, tid, engine.name(nr), list(args), path, engine.partial_rule(rid))

    def perform(
        self,
        att: Attached,
        nid: int,
        tid: int,
        name: str,
        args: Sequence[int],
        path: str,
        fired: CompiledRule,
    ) -> None:
        """Write a prefix of the held write, record it, answer with the short count."""
        rule = fired.rule
        length = write_length(name, tid, args)
        key = (fired.handle.id, fired.index, name)
        cut = self._cuts.get(key)
        if cut is None:  # its own stream: the probability draws of the rule are not shifted
            ident = f"partial\x1f{rule.identity()}\x1f{fired.index}"
            cut = self._cuts[key] = [stream_key(self._seed, att.service, name, ident), 0]
        u = draw(cut[0], cut[1])
        cut[1] += 1
        want = prefix_length(rule, length, u) if length >= 2 else 0
        data = self._prefix(name, tid, args, want) if want > 0 else b""
        if not self._valid(att, nid):
            return  # the task is gone: nothing was written, nothing to answer
        if len(data) != want or want <= 0:  # unreadable buffer: the kernel fails it itself
            self._answer(att, nid, tid, name, path, fired, length, None, "buffer unreadable")
            return
        if att.journal is not None:  # the pre-image of exactly what we are about to write
            note_name, note_args = _journal_view(name, args, want)
            att.journal.note(note_name, tid, note_args, path, self._resolver)
        try:
            target = _target_fd(tid, args[0] & 0xFFFFFFFF)
        except OSError as e:
            self._answer(att, nid, tid, name, path, fired, length, -(e.errno or errno.EIO), "")
            return
        try:
            mode = os.fstat(target).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):  # a FIFO/device: may block
                self._answer(att, nid, tid, name, path, fired, length, None, "not a file")
                return
            value = _write_like(name, target, data, args)
        except OSError as e:
            value = -(e.errno or errno.EIO)
        finally:
            os.close(target)
        self._answer(att, nid, tid, name, path, fired, length, value, "")

    def _prefix(self, name: str, tid: int, args: Sequence[int], want: int) -> bytes:
        """The first ``want`` bytes the call would write, from the target's memory."""
        if name in ("write", "pwrite64"):
            return self._read(tid, args[1], want)
        parts: list[bytes] = []
        left = want
        for base, length in iovecs(tid, args[1], args[2]) or []:
            if left <= 0:
                break
            take = min(length, left)
            chunk = self._read(tid, base, take)
            parts.append(chunk)
            if len(chunk) != take:
                break
            left -= take
        return b"".join(parts)

    def _read(self, tid: int, addr: int, length: int) -> bytes:
        if length <= _SMALL:  # process_vm_readv into the resolver's buffer: ~5 µs less
            return self._resolver.read_memory(tid, addr, length)
        return read_memory(tid, addr, length)

    @staticmethod
    def _valid(att: Attached, nid: int) -> bool:
        try:  # the memory read is only trustworthy if the task was still waiting meanwhile
            ioctl(att.listener, NOTIF_ID_VALID, _Q.pack(nid))
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise SupervisorFailure(f"listener of {att.service}: ID_VALID: {e}") from e
            return False
        return True

    def _answer(
        self,
        att: Attached,
        nid: int,
        tid: int,
        name: str,
        path: str,
        fired: CompiledRule,
        length: int,
        value: int | None,
        why_not: str,
    ) -> None:
        """Record, then answer: ``value`` bytes written (or -errno); None: run it unchanged."""
        if value is None:
            decision, written, resp = f"partial(not applied: {why_not})", length, (0, 0, 1)
        elif value < 0:
            decision, written, resp = f"partial({strerror_text(-value)})", 0, (0, value, 0)
        else:
            decision, written, resp = f"partial({value} of {length} bytes)", value, (value, 0, 0)
        record = PartialRecord(
            att.service, name, tid, decision, path, fired.label, fired.op, 0,
            time.time_ns(), value is None or value >= 0, max(length, 0), written,
        )  # fmt: skip
        self._append(record)
        val, err, flags = resp
        try:
            ioctl(att.listener, NOTIF_SEND, RESP.pack(nid, val, err, FLAG_CONTINUE * flags))
        except OSError as e:
            if e.errno != errno.ENOENT:  # ENOENT: killed meanwhile (the prefix is written)
                raise SupervisorFailure(f"SEND failed: {e}") from e


def _target_fd(tid: int, fd: int) -> int:
    """Our copy of the target's ``fd`` (same open file description: offset, O_APPEND)."""
    try:
        pidfd = os.pidfd_open(tid, _PIDFD_THREAD)
    except OSError:  # before Linux 6.9: the thread group's pidfd (same fd table)
        pidfd = os.pidfd_open(_tgid(tid))
    try:
        return pidfd_getfd(pidfd, fd)
    finally:
        os.close(pidfd)


def _tgid(tid: int) -> int:
    with open(f"/proc/{tid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"Tgid:"):
                return int(line.split()[1])
    return tid


def _write_like(name: str, fd: int, data: bytes, args: Sequence[int]) -> int:
    """Write ``data`` on our copy of the fd as the target's syscall would have."""
    if name in ("write", "writev"):
        return os.write(fd, data)
    if name in ("pwrite64", "pwritev"):
        return os.pwrite(fd, data, _signed(args[3]))
    offset, flags = _signed(args[3]), args[5] & 0xFFFFFFFF  # pwritev2
    if flags:
        return os.pwritev(fd, [data], offset, flags)
    return os.write(fd, data) if offset == -1 else os.pwrite(fd, data, offset)


def _journal_view(name: str, args: Sequence[int], want: int) -> tuple[str, list[int]]:
    """The prefix write as journal.note sees it: one plain (p)write of ``want`` bytes."""
    if name in ("write", "writev"):
        return "write", [args[0], 0, want, 0, 0, 0]
    if name == "pwritev2" and args[5] & _RWF_APPEND:
        return name, list(args)  # the journal finds the end of file itself (whole write)
    if name == "pwritev2" and _signed(args[3]) == -1:
        return "write", [args[0], 0, want, 0, 0, 0]
    return "pwrite64", [args[0], 0, want, args[3], 0, 0]
