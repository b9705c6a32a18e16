"""The pre-image journal behind ``crash(svc, lose_unsynced=True)`` (docs/crash-consistency.md).

For a journaled service the supervisor calls :meth:`ServiceJournal.note` on every write,
truncate, fsync, open and rename notification, *before* it answers CONTINUE. A write's
pre-image (the bytes it is about to overwrite) is read from the file itself, through our own
reopened copy of the target's fd (``/proc/TID/fd/N``: the same inode, even if it is renamed
or unlinked later), together with the file's size at its first un-fsynced change. A
successful fsync/fdatasync of the file clears its journal; an fsync of a directory makes the
files created in it since durable. :meth:`ServiceJournal.drop_unsynced` (after the service
was SIGKILLed and reaped) undoes everything that was never synced, newest change first:
pre-images written back, files cut to their synced size, files created since removed.

An fsync is counted as synced when it is notified and allowed (CONTINUE): a denied one
(``fsync=deny("EIO")``) is not, but one that the kernel then fails is (documented).
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from faultbox.intercept.rules import draw, stream_key

if TYPE_CHECKING:  # the spec analysis imports JOURNAL_FAMILIES: keep ctypes out of it
    from faultbox.intercept.paths import PathResolver

_U64 = (1 << 64) - 1
_IOV = struct.Struct("=QQ")
_O_CREAT, _O_TRUNC, _O_APPEND = os.O_CREAT, os.O_TRUNC, os.O_APPEND
_RWF_APPEND = 0x10
_MAX_IOV = 1024  # UIO_MAXIOV
_MAX_IDENTS = 4096  # fdinfo identities remembered (_written_file)
_WRITES = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2"})
_SYNCS = frozenset({"fsync", "fdatasync"})
_FS_SYNCS = frozenset({"syncfs", "sync"})  # a whole filesystem (syncfs) or every one (sync)
_OPENS = frozenset({"open", "openat", "openat2", "creat"})
_RENAMES = frozenset({"rename", "renameat", "renameat2"})
_TRUNCATES = frozenset({"ftruncate", "truncate"})
#: Everything a journaled service must notify (family names, for the notify set).
JOURNAL_FAMILIES: tuple[str, ...] = (
    "write", "fsync", "ftruncate", "truncate", "open", "creat", "rename", "renameat", "renameat2",
    "syncfs", "sync",
)  # fmt: skip


@dataclass
class Dropped:
    """What a crash undid in one file (the ``unsynced_dropped`` event)."""

    path: str
    bytes: int  # bytes written (or cut by a truncate) since the last fsync, now undone
    writes: int
    removed: bool = False  # the file was created since the last fsync: it is gone
    torn_kept: int = 0  # torn=True: bytes of the last write that survived


@dataclass
class _File:
    """Un-fsynced changes of one inode."""

    fd: int  # our O_RDWR reopen of the target's fd
    path: str
    size: int  # its size at the first un-fsynced change
    undo: list[_Change] = field(default_factory=list)  # in the order they were made
    written: int = 0
    writes: int = 0
    key: tuple[int, int] = (0, 0)  # (st_dev, st_ino): its key in ServiceJournal._files


@dataclass(slots=True)
class _Change:
    """One journaled write or truncate: what it overwrote and the file's size before it."""

    offset: int  # a write's offset; a truncate's new length
    old: bytes  # the bytes it overwrote (a truncate: the bytes it cut)
    length: int  # bytes written (0: a truncate)
    size_before: int


class ServiceJournal:
    """The un-fsynced changes of one service's files (thread-safe: the supervisor thread
    adds, the test thread drops)."""

    def __init__(self, service: str, seed: int) -> None:
        self.service = service
        self.seed = seed
        self._files: dict[tuple[int, int], _File] = {}
        self._new: dict[str, None] = {}  # paths created since their file's/dir's last fsync
        self._lock = threading.Lock()
        self._crashes = 0
        self.noted = 0  # changes journaled (diagnostics, benchmarks)
        self._info = _FdInfo()
        # what fdinfo's (mnt_id, ino) of a written fd was found to be, so the next write to it
        # needs no stat of /proc/TID/fd/N: a journaled file's _files key (we hold an fd to
        # that inode, so its number cannot be reused meanwhile), or not a regular file (such
        # entries are forgotten at every open: a new file could reuse a freed FIFO's number)
        self._regular: dict[tuple[int, int], tuple[int, int]] = {}
        self._other: set[tuple[int, int]] = set()

    # ---- the supervisor thread ------------------------------------------------------------

    def note(self, name: str, tid: int, args: Sequence[int], path: str, res: PathResolver) -> None:
        """Journal one allowed notification before it is answered (errors: nothing noted)."""
        with contextlib.suppress(OSError), self._lock:
            if name in _WRITES:
                self._write(name, tid, args, res)
            elif name in _SYNCS:
                self._sync(tid, args[0], path)
            elif name in _FS_SYNCS:
                self._sync_fs(tid, args[0] if name == "syncfs" else None)
            elif name in _TRUNCATES:
                self._truncate(name, tid, args, path)
            elif name in _OPENS:
                self._open(name, tid, args, path, res)
            elif name in _RENAMES:
                self._rename(name, tid, args, path, res)

    def _file(self, tid: int, fd: int) -> _File | None:
        """The journal of the regular file behind the target's ``fd`` (made on first use)."""
        proc_path = f"/proc/{tid}/fd/{fd & 0xFFFFFFFF}"
        st = os.stat(proc_path)
        if not stat.S_ISREG(st.st_mode):
            return None
        key = (st.st_dev, st.st_ino)
        f = self._files.get(key)
        if f is None:
            mine = os.open(proc_path, os.O_RDWR | os.O_CLOEXEC)
            f = self._files[key] = _File(mine, os.readlink(proc_path), st.st_size, key=key)
        return f

    def _written_file(self, tid: int, fd: int, ident: tuple[int, int] | None) -> _File | None:
        """:meth:`_file`, skipping the stat when fdinfo's ``ident`` was seen before."""
        if ident is not None:
            if ident in self._other:
                return None
            key = self._regular.get(ident)
            f = self._files.get(key) if key is not None else None
            if f is not None:
                return f
        f = self._file(tid, fd)
        if ident is not None:
            if len(self._regular) + len(self._other) >= _MAX_IDENTS:
                self._regular.clear()
                self._other.clear()
            if f is None:
                self._other.add(ident)
            else:
                self._regular[ident] = f.key
        return f

    def _write(self, name: str, tid: int, args: Sequence[int], res: PathResolver) -> None:
        fd = args[0] & 0xFFFFFFFF
        if name in ("write", "pwrite64"):
            length = args[2]
        else:
            length = self._iov_total(tid, args[1], args[2], res)
        if length <= 0:
            return
        pos, flags, ident = self._info.read(tid, fd)
        f = self._written_file(tid, fd, ident)
        if f is None:
            return
        size = os.fstat(f.fd).st_size
        if flags & _O_APPEND or (name == "pwritev2" and args[5] & _RWF_APPEND):
            offset = size  # Linux: pwrite on an O_APPEND fd appends too
        elif name in ("pwrite64", "pwritev") or (name == "pwritev2" and args[3] != _U64):
            offset = args[3]
        else:
            offset = pos
        old = os.pread(f.fd, min(length, size - offset), offset) if offset < size else b""
        f.undo.append(_Change(offset, old, length, size))
        f.written += length
        f.writes += 1
        self.noted += 1

    @staticmethod
    def _iov_total(tid: int, addr: int, count: int, res: PathResolver) -> int:
        count = min(count & 0xFFFFFFFF, _MAX_IOV)
        total = 0
        for start in range(0, count, 256):  # RemoteReader reads ≤ 4096 bytes at a time
            n = min(256, count - start)
            raw = res.read_memory(tid, addr + start * _IOV.size, n * _IOV.size)
            total += sum(length for _, length in _IOV.iter_unpack(raw[: len(raw) // 16 * 16]))
        return total

    def _truncate(self, name: str, tid: int, args: Sequence[int], path: str) -> None:
        # truncate(path) is journaled through our own fd of the path
        f = self._file(tid, args[0]) if name == "ftruncate" else self._path_file(path)
        if f is not None:
            self._cut(f, args[1])

    def _cut(self, f: _File, length: int) -> None:
        size = os.fstat(f.fd).st_size
        old = os.pread(f.fd, size - length, length) if length < size else b""
        f.undo.append(_Change(length, old, 0, size))
        f.written += len(old)
        f.writes += 1
        self.noted += 1

    def _path_file(self, path: str) -> _File | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        key = (st.st_dev, st.st_ino)
        f = self._files.get(key)
        if f is None:
            mine = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            f = self._files[key] = _File(mine, path, st.st_size, key=key)
        return f

    def _sync(self, tid: int, fd: int, path: str) -> None:
        st = os.stat(f"/proc/{tid}/fd/{fd & 0xFFFFFFFF}")
        if stat.S_ISDIR(st.st_mode):
            prefix = path.rstrip("/") + "/"
            for p in [p for p in self._new if p.startswith(prefix) and "/" not in p[len(prefix) :]]:
                del self._new[p]
            return
        f = self._files.pop((st.st_dev, st.st_ino), None)
        if f is not None:
            os.close(f.fd)
        # fsync of a new file makes its directory entry durable too (as ext4 and xfs do)
        self._new.pop(path, None)

    def _sync_fs(self, tid: int, fd: int | None) -> None:
        """``syncfs(fd)``: every change on ``fd``'s filesystem is durable; ``sync()`` (fd
        None): every change is. New files on it keep their names (as after a directory fsync)."""
        dev = os.stat(f"/proc/{tid}/fd/{fd & 0xFFFFFFFF}").st_dev if fd is not None else None
        for key in [k for k in self._files if dev is None or k[0] == dev]:
            os.close(self._files.pop(key).fd)
        for p in list(self._new):
            with contextlib.suppress(OSError):
                if dev is not None and os.lstat(p).st_dev != dev:
                    continue
            del self._new[p]  # on that filesystem (or gone: nothing to remove at a crash)

    def _open(self, name: str, tid: int, args: Sequence[int], path: str, res: PathResolver) -> None:
        self._other.clear()
        if not path.startswith("/"):
            return
        if name == "openat":
            flags = args[2]
        elif name == "open":
            flags = args[1]
        elif name == "creat":
            flags = _O_CREAT | _O_TRUNC
        else:  # openat2: struct open_how { u64 flags; ... }
            raw = res.read_memory(tid, args[2], 8)
            flags = int.from_bytes(raw, "little") if len(raw) == 8 else 0
        exists = os.path.lexists(path)
        if flags & _O_CREAT and not exists:
            self._new[path] = None
        elif flags & _O_TRUNC and exists:
            f = self._path_file(path)
            if f is not None:
                self._cut(f, 0)

    def _rename(
        self, name: str, tid: int, args: Sequence[int], old: str, res: PathResolver
    ) -> None:
        if old not in self._new:
            return  # renames of durable files are not undone (docs/crash-consistency.md)
        if name == "rename":
            new = res.at_path(tid, -100, args[1])
        else:
            new = res.at_path(tid, args[2], args[3])
        if new.startswith("/"):
            del self._new[old]
            self._new[new] = None

    # ---- the test thread ------------------------------------------------------------------

    def pending(self) -> int:
        """Files with un-fsynced changes, plus files created since their last fsync."""
        with self._lock:
            return len(self._files) + len(self._new)

    def drop_unsynced(self, torn: bool = False) -> list[Dropped]:
        """Undo every un-fsynced change (call it once the service is dead); what was undone.

        ``torn``: the last write of each file keeps a prefix (its length a seeded draw in
        ``[0, length)``), the rest of it is undone like every other write.
        """
        with self._lock:
            files, self._files = self._files, {}
            new, self._new = list(self._new), {}
            self._info.close()  # the tasks are gone
            self._crashes += 1
            crash = self._crashes
        out: list[Dropped] = []
        removed_paths = set()
        for path in new:
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if stat.S_ISREG(st.st_mode):
                    os.unlink(path)
                    removed_paths.add(path)
                    key = (st.st_dev, st.st_ino)
                    f = files.pop(key, None)
                    written = f.written if f else st.st_size
                    if f is not None:
                        os.close(f.fd)
                    out.append(Dropped(path, written, f.writes if f else 0, removed=True))
        for f in files.values():
            try:
                out.append(self._restore(f, torn, crash))
            finally:
                os.close(f.fd)
        return out

    def _restore(self, f: _File, torn: bool, crash: int) -> Dropped:
        # torn: the changes were written out in order and the power failed at a seeded byte
        # of them (0 .. total-1): those before it survive, the one it falls in keeps a prefix
        total = sum(c.length for c in f.undo)
        cut = 0
        if torn and total > 0:
            # the file's name, not its path: per-test directories differ from run to run
            name = os.path.basename(f.path)
            key = stream_key(self.seed, self.service, name, f"torn\x1f{crash}\x1f{f.writes}")
            cut = int(draw(key, 0) * total)
        first, kept = _tear(f.undo, cut)
        for c in reversed(f.undo[first + 1 :]):
            if c.old:
                os.pwrite(f.fd, c.old, c.offset)
        if first < len(f.undo):
            c = f.undo[first]
            if kept < len(c.old):  # the torn write's prefix stays, the rest is undone
                os.pwrite(f.fd, c.old[kept:], c.offset + kept)
            os.ftruncate(f.fd, max(c.size_before, c.offset + kept) if kept else c.size_before)
        return Dropped(f.path, f.written - cut, f.writes, torn_kept=cut)

    def close(self) -> None:
        """Close our file copies without undoing anything (end of the test)."""
        with self._lock:
            for f in self._files.values():
                os.close(f.fd)
            self._files.clear()
            self._new.clear()
            self._info.close()


def _tear(changes: list[_Change], cut: int) -> tuple[int, int]:
    """(index of the first change that does not survive whole, bytes of it that do) for a
    tear ``cut`` bytes into the changes' written bytes (0: every change is undone)."""
    pos = 0
    for i, c in enumerate(changes):
        if c.length == 0:  # a truncate survives if the tear comes after it
            if pos >= cut:
                return i, 0
        elif pos + c.length > cut:
            return i, cut - pos
        pos += c.length
    return len(changes), 0


class _FdInfo:
    """(position, open flags) of a target's fd, from ``/proc/TID/fdinfo/N``.

    The opened fdinfo file is kept and re-read with ``pread(…, 0)`` (≈ 1.4 µs instead of
    ≈ 7 µs for open + read + close): it shows whatever file the task has on that fd number
    *now* (a closed and reused number included), and fails once the task or the fd is gone
    (then it is opened again, which fails the same way if the fd is really gone).
    """

    LIMIT = 256  # cached fdinfo files; the oldest is closed beyond it

    def __init__(self) -> None:
        self._fds: dict[tuple[int, int], int] = {}

    def read(self, tid: int, fd: int) -> tuple[int, int, tuple[int, int] | None]:
        """(position, flags, (mnt_id, ino) or None if this kernel does not show them)."""
        key = (tid, fd)
        text = b""
        info = self._fds.get(key)
        if info is not None:
            try:
                text = os.pread(info, 256, 0)
            except OSError:
                text = b""
            if not text:  # the task or the fd is gone: try afresh
                os.close(self._fds.pop(key))
        if not text:
            info = os.open(f"/proc/{tid}/fdinfo/{fd}", os.O_RDONLY | os.O_CLOEXEC)
            try:  # os.open, not open(): a buffered file object costs several µs per write
                text = os.pread(info, 256, 0)
            except OSError:
                os.close(info)
                raise
            if len(self._fds) >= self.LIMIT:
                os.close(self._fds.pop(next(iter(self._fds))))
            self._fds[key] = info
        pos = flags = 0
        mnt = ino = -1
        for line in text.split(b"\n"):
            if line.startswith(b"pos:"):
                pos = int(line[4:])
            elif line.startswith(b"flags:"):
                flags = int(line[6:], 8)
            elif line.startswith(b"mnt_id:"):
                mnt = int(line[7:])
            elif line.startswith(b"ino:"):
                ino = int(line[4:])
        return pos, flags, ((mnt, ino) if mnt >= 0 and ino >= 0 else None)

    def close(self) -> None:
        for info in self._fds.values():
            os.close(info)
        self._fds.clear()
