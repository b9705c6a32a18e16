"""partial() rules without processes: what a Rule accepts, its decision text and identity,
the prefix lengths, that the native extension agrees on the new constants, and that trace
narrowing and reports read back from JSON understand partial decisions and rules."""

from __future__ import annotations

import pytest

from faultbox.intercept import Rule, expand_syscalls, native
from faultbox.intercept.write_sizes import min_length, prefix_length, write_length
from faultbox.report.from_json import _rule
from faultbox.trace.narrow import parse_lines

WRITE = tuple(expand_syscalls("write"))


def test_partial_only_on_writes() -> None:
    with pytest.raises(ValueError, match="only shortens writes"):
        Rule("fsync", "partial", tuple(expand_syscalls("fsync")))
    with pytest.raises(ValueError, match="bytes >= 1 or a fraction"):
        Rule("write", "partial", WRITE, partial_bytes=4, partial_fraction=0.5)
    with pytest.raises(ValueError, match="within"):
        Rule("write", "partial", WRITE, partial_fraction=1.0)


def test_decision_text_and_identity() -> None:
    assert Rule("write", "partial", WRITE).decision() == "partial()"
    assert Rule("write", "partial", WRITE, partial_bytes=9).decision() == "partial(bytes=9)"
    half = Rule("write", "partial", WRITE, partial_fraction=0.5)
    assert half.decision() == "partial(fraction=0.5)"
    assert half.identity() != Rule("write", "partial", WRITE, partial_fraction=0.25).identity()
    # other rules keep the identity (so the probability draws) they had before partial()
    deny = Rule("write", "deny", WRITE, errno=5)
    assert deny.identity().count("\x1f") == 9


def test_prefix_lengths() -> None:
    by_size = Rule("write", "partial", WRITE, partial_bytes=10)
    assert (min_length(by_size), prefix_length(by_size, 11, 0.9)) == (11, 10)
    half = Rule("write", "partial", WRITE, partial_fraction=0.5)
    assert [prefix_length(half, n, 0.0) for n in (2, 3, 65)] == [1, 1, 32]
    tiny = Rule("write", "partial", WRITE, partial_fraction=0.01)
    assert prefix_length(tiny, 10, 0.0) == 1  # never 0: a write returning 0 is no short write
    seeded = Rule("write", "partial", WRITE)
    assert min_length(seeded) == 2
    assert [prefix_length(seeded, 65, u) for u in (0.0, 0.5, 0.999999)] == [1, 33, 64]


def test_write_length() -> None:
    assert write_length("write", 0, [3, 0, 17, 0, 0, 0]) == 17
    assert write_length("pwrite64", 0, [3, 0, 1 << 63, 0, 0, 0]) == -1  # beyond ssize_t
    assert write_length("fsync", 0, [3, 0, 0, 0, 0, 0]) == -1
    assert write_length("writev", 0, [3, 0, 2000, 0, 0, 0]) == -1  # more than UIO_MAXIOV


def test_native_constants_cover_partial() -> None:
    mod = native.load()
    if mod is None:
        pytest.skip(f"no native loop: {native.load_error()}")
    assert mod.CONSTANTS["ACT_PARTIAL"] == 5 and mod.EV_PARTIAL == native.EV_PARTIAL


def test_partial_lines_of_a_normalized_trace_keep_their_path() -> None:
    text = "=== test_x ===\n--- db ---\nwrite partial(11 of 17 bytes) /data/db.wal\n"
    (line,) = [ln for ln in parse_lines(text) if ln.type == "syscall"]
    assert (line.syscall, line.path) == ("write", "/data/db.wal")


def test_a_partial_rule_read_back_from_json_keeps_its_spec() -> None:
    for slot, spec in (("bytes=11", "partial(bytes=11)"), ("", "partial()")):
        rule = _rule({"kind": "fault", "syscall": "write", "action": "partial", "errno": slot})
        assert rule.spec == spec
