"""The pre-image journal on a real process: pwrite, writev, pwritev, O_APPEND, ftruncate, new
files, directory fsync, torn writes; both supervisor loops (tests/crash/jtarget.c)."""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
from pathlib import Path

import pytest

from faultbox.intercept import Supervisor, launch
from faultbox.intercept.journal import JOURNAL_FAMILIES, Dropped, _FdInfo
from faultbox.intercept.syscalls import expand_syscalls
from tests.conftest import compile_c

HERE = Path(__file__).resolve().parent


def _notify() -> list[str]:
    names: set[str] = set()
    for family in JOURNAL_FAMILIES:
        # not all exist on every architecture (aarch64 has no open/creat/rename)
        with contextlib.suppress(ValueError):
            names.update(expand_syscalls(family))
    return sorted(names)


@pytest.fixture(scope="module")
def jtarget(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_c(HERE / "jtarget.c", tmp_path_factory.mktemp("jtarget") / "jtarget")


def crash_run(jtarget: Path, d: Path, backend: str, *args: str, torn: bool = False,
              seed: int = 0) -> list[Dropped]:  # fmt: skip
    """Run the target to "ready", SIGKILL it, wait until it is gone, drop the unsynced."""
    sup = Supervisor(lambda _r: None, seed=seed, backend=backend)
    journal = sup.enable_journal("svc")
    proc = launch([str(jtarget), str(d), *args], env={}, notify=_notify(),
                  stdout=subprocess.PIPE)  # fmt: skip
    try:
        sup.attach("svc", proc)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready and proc.stdout.readline() == b"ready\n"
        assert journal.pending() > 0
        proc.kill_group()
        assert sup.wait_detached("svc", 30)
        return journal.drop_unsynced(torn)
    finally:
        proc.kill_group()
        sup.stop()
        proc.popen.communicate(timeout=30)
        proc.close()


def test_power_loss_restores_the_synced_state(jtarget: Path, tmp_path: Path, backend: str) -> None:
    dropped = {Path(x.path).name: x for x in crash_run(jtarget, tmp_path, backend)}
    assert (tmp_path / "a").read_bytes() == b"A" * 4096  # pwrite undone, writev cut off
    assert (tmp_path / "log").read_bytes() == b"LLL"  # the O_APPEND write was an append
    assert (tmp_path / "t").read_bytes() == b"T" * 1000  # the ftruncate undone
    assert (tmp_path / "p").read_bytes() == b"P" * 64  # pwritev: overwrite + extension
    assert not (tmp_path / "new").exists()  # created since the directory's last fsync
    assert (tmp_path / "synced").read_bytes() == b"SSSSS"
    assert (dropped["a"].bytes, dropped["a"].writes) == (8, 2)
    assert (dropped["log"].bytes, dropped["t"].bytes, dropped["p"].bytes) == (3, 990, 8)
    assert dropped["new"].removed and "synced" not in dropped


def test_directory_fsync_keeps_a_new_file(jtarget: Path, tmp_path: Path, backend: str) -> None:
    crash_run(jtarget, tmp_path, backend, "dirsync")
    # its entry is durable, its content (never fsync'ed) is not
    assert (tmp_path / "new").exists() and (tmp_path / "new").read_bytes() == b""


@pytest.mark.parametrize("how", ["syncfs", "sync"])
def test_syncfs_and_sync_make_everything_durable(
    jtarget: Path, tmp_path: Path, backend: str, how: str
) -> None:
    dropped = crash_run(jtarget, tmp_path, backend, how)
    # only the append made after the syncfs/sync is undone
    assert [(Path(x.path).name, x.bytes) for x in dropped] == [("log", 1)]
    assert (tmp_path / "a").read_bytes() == b"A" * 100 + b"BBBB" + b"A" * 3992 + b"CCDD"
    assert (tmp_path / "log").read_bytes() == b"LLLL2\n"
    assert (tmp_path / "t").read_bytes() == b"T" * 10
    assert (tmp_path / "new").read_bytes() == b"N"


def test_torn_keeps_a_seeded_prefix_of_the_unsynced_writes(
    jtarget: Path, tmp_path: Path, backend: str
) -> None:
    kept: list[tuple[tuple[str, int], ...]] = []
    for seed in (0, 0, 7):
        d = tmp_path / f"s{seed}_{len(kept)}"
        d.mkdir()
        dropped = {Path(x.path).name: x for x in crash_run(jtarget, d, backend, torn=True,
                                                           seed=seed)}  # fmt: skip
        k = dropped["a"].torn_kept
        assert 0 <= k < 8 and dropped["a"].bytes == 8 - k
        # torn k bytes into the un-fsynced writes, in their order: pwrite "BBBB" at 100, then
        # the writev "CCDD" appended at 4096; what lies before the tear survived
        want = bytearray(b"A" * 4096)
        want[100 : 100 + min(k, 4)] = b"BBBB"[: min(k, 4)]
        assert (d / "a").read_bytes() == bytes(want) + b"CCDD"[: max(k - 4, 0)]
        kept.append(tuple(sorted((n, x.torn_kept) for n, x in dropped.items())))
    assert kept[0] == kept[1]  # same seed, same tears (paths differ by directory: same names)


def test_fdinfo_reads_follow_the_fd_number(tmp_path: Path) -> None:
    # the kept fdinfo file shows whatever the task has on that number now
    info = _FdInfo()
    fd = os.open(tmp_path / "x", os.O_CREAT | os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"12345")
        pos, flags, ident = info.read(os.getpid(), fd)
        assert (pos, flags & (os.O_ACCMODE | os.O_APPEND)) == (5, os.O_WRONLY | os.O_APPEND)
        assert ident is not None and ident[1] == os.stat(tmp_path / "x").st_ino
        os.close(fd)
        again = os.open(tmp_path / "y", os.O_CREAT | os.O_RDWR)
        assert again == fd  # the lowest free number: the same one
        pos, flags, ident = info.read(os.getpid(), fd)
        assert (pos, flags & (os.O_ACCMODE | os.O_APPEND)) == (0, os.O_RDWR)
        assert ident is not None and ident[1] == os.stat(tmp_path / "y").st_ino
    finally:
        os.close(fd)
    with pytest.raises(FileNotFoundError):
        info.read(os.getpid(), fd)  # closed: no stale answer
    info.close()
