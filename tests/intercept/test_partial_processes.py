"""partial() where the fd table is not the main thread's alone: a write from a second thread
(the prefix goes through a pidfd for that thread) and from a forked grandchild (its own fd
table), both loops; and a partial rule inside a stacked set falling through to an outer
deny for writes it cannot shorten (tests/intercept/target.c)."""

from __future__ import annotations

import errno
from pathlib import Path

from faultbox.intercept import Rule, expand_syscalls
from faultbox.intercept.records import PartialRecord
from tests.intercept.conftest import Harness

WRITE = tuple(expand_syscalls("write"))


def test_threads_get_their_writes_cut(harness: Harness, scratch: Path) -> None:
    slow, fast = scratch / "slow", scratch / "fast"
    harness.rules("svc", Rule("write", "partial", WRITE, partial_bytes=2, path_glob=f"{scratch}/*"))
    lines = harness.run("threads", slow, fast, notify=["write"])
    assert sorted(lines) == sorted(["thread0 write 2 errno=0"] + ["thread1 write 2 errno=0"] * 20)
    assert slow.read_bytes() == b"he" and fast.read_bytes() == b"he" * 20
    cut = [r for r in harness.of("write") if isinstance(r, PartialRecord)]
    assert len(cut) == 21 and len({r.pid for r in cut}) == 2  # two threads, each its own tid


def test_a_forked_grandchild_gets_its_write_cut(harness: Harness, scratch: Path) -> None:
    f = scratch / "g"
    harness.rules("svc", Rule("write", "partial", WRITE, partial_bytes=3, path_glob=str(f)))
    lines = harness.run("fork", f, notify=["write"])
    assert lines == ["write 3 errno=0", "parent done"]
    assert f.read_bytes() == b"hel"


def test_writes_it_cannot_shorten_fall_through(harness: Harness, scratch: Path) -> None:
    f = scratch / "w"
    harness.rules("svc", Rule("write", "deny", WRITE, errno.ENOSPC, path_glob=str(f)))
    inner = harness.rules("svc", Rule("write", "partial", WRITE, partial_bytes=5))
    lines = harness.run("write", f, 2, notify=["write"])  # 5-byte writes: not longer than 5
    assert lines == [f"write -1 errno={errno.ENOSPC}"] * 2
    assert harness.sup.hits(inner) == [0]  # type: ignore[arg-type]
