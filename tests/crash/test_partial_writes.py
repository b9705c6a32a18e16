"""partial() on real processes (tests/crash/ptarget.c), on both supervisor loops: the prefix is
written by the supervisor and the target gets the short count — a correct program retries
the rest, a naive one leaves a torn record; pwrite64 at an offset, O_APPEND, writev across
iovecs, pwritev2; seeded prefix lengths; 1-byte writes and pipes pass whole; a journaled
service's pre-image covers exactly the prefix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from faultbox.intercept import Rule, Supervisor, SyscallRecord, expand_syscalls, launch, native
from faultbox.intercept.records import PartialRecord
from tests.conftest import compile_c
from tests.crash.test_journal import _notify

HERE = Path(__file__).resolve().parent
REC = b"RECORD:0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU\n"
WRITES = tuple(expand_syscalls("write"))


@pytest.fixture(scope="module")
def ptarget(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_c(HERE / "ptarget.c", tmp_path_factory.mktemp("ptarget") / "ptarget")


def partial_rule(**kw: object) -> Rule:
    return Rule("write", "partial", WRITES, **kw)  # type: ignore[arg-type]


def run(
    ptarget: Path, backend: str, args: list[str], rules: list[Rule], *, seed: int = 0,
    journal: bool = False,
) -> tuple[list[str], list[SyscallRecord], list[int]]:  # fmt: skip
    """Run the target under ``rules``: its output lines, the records, the rules' hits."""
    records: list[SyscallRecord] = []
    sup = Supervisor(records.append, seed=seed, backend=backend)
    if journal:
        sup.enable_journal("svc")
    handle = sup.add_rules("svc", rules)
    notify = _notify() if journal else list(WRITES)
    proc = launch([str(ptarget), *args], env={}, notify=notify, stdout=subprocess.PIPE)
    try:
        sup.attach("svc", proc)
        out, _ = proc.popen.communicate(timeout=60)
        assert proc.wait(30) == 0, out
        sup.flush()
        return out.decode().split(), records, sup.hits(handle)
    finally:
        proc.kill_group()
        sup.stop()
        proc.close()


def cuts(records: list[SyscallRecord]) -> list[PartialRecord]:
    return [r for r in records if isinstance(r, PartialRecord)]


def test_a_careful_writer_retries_and_the_record_ends_whole(
    ptarget: Path, tmp_path: Path, backend: str
) -> None:
    f = tmp_path / "data"
    out, records, hits = run(
        ptarget, backend, ["careful", str(f)], [partial_rule(partial_bytes=10)]
    )
    assert f.read_bytes() == REC
    assert out == ["n=10"] * 6 + ["n=5", "done"]  # the last 5 bytes are within the limit
    got = [(r.requested, r.written, r.decision) for r in cuts(records)]
    assert got == [(65 - 10 * i, 10, f"partial(10 of {65 - 10 * i} bytes)") for i in range(6)]
    assert hits == [6]
    assert all(r.path == str(f) and r.syscall == "write" and r.allowed for r in cuts(records))


def test_a_naive_writer_leaves_a_torn_record(ptarget: Path, tmp_path: Path, backend: str) -> None:
    f = tmp_path / "data"
    out, records, _ = run(ptarget, backend, ["naive", str(f)], [partial_rule()], seed=3)
    (cut,) = cuts(records)
    assert 1 <= cut.written < 65 and out == [f"n={cut.written}", "done"]
    assert f.read_bytes() == REC[: cut.written]  # no newline: a torn record


def test_prefix_lengths_are_seeded(ptarget: Path, tmp_path: Path, backend: str) -> None:
    def lengths(seed: int) -> list[int]:
        f = tmp_path / f"data-{seed}"
        f.unlink(missing_ok=True)
        out, records, _ = run(
            ptarget, backend, ["repeat", str(f), "8"], [partial_rule()], seed=seed
        )
        written = [r.written for r in cuts(records)]
        assert out[:-1] == [f"n={n}" for n in written] and f.stat().st_size == sum(written)
        return written

    first = lengths(11)
    assert len(first) == 8 and all(1 <= n < 65 for n in first)
    assert lengths(11) == first  # the same seed: the same cuts
    assert any(lengths(s) != first for s in (12, 13))  # another seed: other cuts
    if backend == "python" and native.load() is not None:  # both loops cut alike
        other, _, _ = run(ptarget, "native", ["repeat", str(tmp_path / "n"), "8"],
                          [partial_rule()], seed=11)  # fmt: skip
        assert other[:-1] == [f"n={n}" for n in first]


def test_probability_is_seeded_too(ptarget: Path, tmp_path: Path, backend: str) -> None:
    rule = partial_rule(partial_bytes=5, probability=0.5)
    out, records, hits = run(ptarget, backend, ["repeat", str(tmp_path / "d"), "16"], [rule])
    counts = [int(x[2:]) for x in out[:-1]]
    assert set(counts) == {5, 65} and counts.count(5) == hits[0] == len(cuts(records))
    again, _, _ = run(ptarget, backend, ["repeat", str(tmp_path / "e"), "16"], [rule])
    assert again == out


def test_pwrite64_at_its_offset(ptarget: Path, tmp_path: Path, backend: str) -> None:
    f = tmp_path / "data"
    f.write_bytes(b"X" * 100)
    out, records, _ = run(
        ptarget, backend, ["pwrite", str(f), "20"], [partial_rule(partial_bytes=7)]
    )
    assert out == ["n=7", "done"]
    assert f.read_bytes() == b"X" * 20 + REC[:7] + b"X" * 73
    assert [r.syscall for r in cuts(records)] == ["pwrite64"]


def test_o_append_appends_the_prefix(ptarget: Path, tmp_path: Path, backend: str) -> None:
    f = tmp_path / "log"
    f.write_bytes(b"old\n")
    out, _, _ = run(ptarget, backend, ["append", str(f)], [partial_rule(partial_bytes=7)])
    assert out == ["n=7", "done"]
    assert f.read_bytes() == b"old\n" + REC[:7]  # not at offset 0, where it lseek'ed


@pytest.mark.parametrize(("mode", "syscall"), [("writev", "writev"), ("pwritev2", "pwritev2")])
def test_vectored_writes_get_a_prefix_across_iovecs(
    ptarget: Path, tmp_path: Path, backend: str, mode: str, syscall: str
) -> None:
    f = tmp_path / "data"
    out, records, _ = run(ptarget, backend, [mode, str(f)], [partial_rule(partial_fraction=0.5)])
    assert out == ["n=32", "done"]  # writev: 10 bytes of the first iovec, 22 of the second
    assert f.read_bytes() == REC[:32]
    assert [(r.syscall, r.requested, r.written) for r in cuts(records)] == [(syscall, 65, 32)]


def test_one_byte_writes_and_pipes_are_not_cut(ptarget: Path, tmp_path: Path, backend: str) -> None:
    f = tmp_path / "data"
    out, records, hits = run(ptarget, backend, ["one", str(f)], [partial_rule()])
    assert out == ["n=1", "done"] and f.read_bytes() == b"x"  # stdout (a pipe) is whole too
    assert hits == [0] and cuts(records) == []
    assert {r.decision for r in records} == {"allow"}


def test_a_journaled_service_journals_exactly_the_prefix(
    ptarget: Path, tmp_path: Path, backend: str
) -> None:
    f = tmp_path / "data"
    f.write_bytes(b"X" * 100)
    records: list[SyscallRecord] = []
    sup = Supervisor(records.append, backend=backend)
    journal = sup.enable_journal("svc")
    sup.add_rules("svc", [partial_rule(partial_bytes=7)])
    proc = launch([str(ptarget), "pwrite", str(f), "20"], env={}, notify=_notify(),
                  stdout=subprocess.PIPE)  # fmt: skip
    try:
        sup.attach("svc", proc)
        out, _ = proc.popen.communicate(timeout=60)
        assert out.split() == [b"n=7", b"done"]
        assert sup.wait_detached("svc", 30)
        assert f.read_bytes()[20:27] == REC[:7]
        (dropped,) = journal.drop_unsynced()
    finally:
        proc.kill_group()
        sup.stop()
        proc.close()
    assert (dropped.bytes, dropped.writes) == (7, 1)  # the prefix, not the 65 asked for
    assert f.read_bytes() == b"X" * 100  # a power loss undoes the supervisor's write too
    assert len(cuts(records)) == 1


def test_a_failing_prefix_write_fails_the_call(ptarget: Path, tmp_path: Path, backend: str) -> None:
    f = tmp_path / "data"
    out, records, _ = run(
        ptarget, backend, ["pwrite", str(f), "-5"], [partial_rule(partial_bytes=7)]
    )
    assert out == ["err=22", "done"]  # EINVAL: the supervisor's pwrite at offset -5 failed
    (cut,) = cuts(records)
    assert (cut.decision, cut.written, cut.allowed) == ("partial(invalid argument)", 0, False)
    assert f.read_bytes() == b""
