"""Pure-Python parts: syscall tables, families, errnos, durations, BPF, draws."""

from __future__ import annotations

import errno

import pytest

from faultbox.intercept import (
    Rule,
    bpf,
    errno_from_name,
    expand_syscalls,
    format_go_duration,
    is_known_syscall,
    parse_duration,
    strerror_text,
)
from faultbox.intercept.decide import ServiceRules, evaluate
from faultbox.intercept.paths import decode_sockaddr
from faultbox.intercept.rules import draw
from faultbox.intercept.syscalls import AUDIT_ARCH, TABLES, syscall_number
from faultbox.intercept.syspaths import is_system_path


def test_tables_match_known_numbers() -> None:
    x86 = {"read": 0, "write": 1, "openat": 257, "connect": 42, "fsync": 74, "seccomp": 317}
    arm = {"openat": 56, "read": 63, "write": 64, "connect": 203, "fdatasync": 83}
    arm |= {"newfstatat": 79, "seccomp": 277, "pidfd_getfd": 438}
    for name, nr in x86.items():
        assert syscall_number(name, "x86_64") == nr
    for name, nr in arm.items():
        assert syscall_number(name, "aarch64") == nr
    assert "open" not in TABLES["aarch64"]  # asm-generic has only openat
    assert len(TABLES["x86_64"]) > 360 and len(TABLES["aarch64"]) > 300


def test_families() -> None:
    assert expand_syscalls("write") == ("write", "writev", "pwrite64", "pwritev", "pwritev2")
    assert expand_syscalls("read") == ("read", "readv", "pread64", "preadv", "preadv2")
    assert expand_syscalls("open") == ("open", "openat", "openat2")
    assert expand_syscalls("fsync") == ("fsync", "fdatasync")
    assert expand_syscalls("sendto") == ("sendto", "sendmsg")
    assert expand_syscalls("recvfrom") == ("recvfrom", "recvmsg")
    assert expand_syscalls("connect") == ("connect",)
    assert expand_syscalls("pwrite64") == ("pwrite64",)
    assert is_known_syscall("fdatasync") and not is_known_syscall("frobnicate")
    with pytest.raises(ValueError, match="unknown syscall"):
        expand_syscalls("frobnicate")


def test_errnos() -> None:
    assert errno_from_name("EIO") == 5 and errno_from_name("eio") == 5
    for name in [
        "ENOSYS",
        "EDEADLK",
        "ELOOP",
        "EDQUOT",
        "ENOLCK",
        "ECONNRESET",
        "ETIMEDOUT",
        "EADDRINUSE",
    ]:
        assert errno_from_name(name) == getattr(errno, name)
    assert strerror_text(errno.EIO) == "input/output error"
    assert strerror_text(errno.ENOSPC) == "no space left on device"
    assert strerror_text(errno.ECONNREFUSED) == "connection refused"
    assert strerror_text(errno.ECONNRESET) == "connection reset by peer"
    assert strerror_text(errno.ENOENT) == "no such file or directory"
    with pytest.raises(ValueError):
        errno_from_name("EWHATEVER")


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (500_000_000, "500ms"),
        (5_000_000_000, "5s"),
        (1_500_000_000, "1.5s"),
        (60_000_000_000, "1m0s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (100_000, "100µs"),
        (1_500, "1.5µs"),
        (42, "42ns"),
        (2_250_000, "2.25ms"),
    ],
)
def test_go_durations(ns: int, text: str) -> None:
    assert format_go_duration(ns) == text
    assert parse_duration(text) == ns


def test_parse_duration_forms() -> None:
    assert parse_duration("1h2m3.5s") == 3_723_500_000_000
    assert parse_duration("100us") == parse_duration("100μs") == 100_000
    assert parse_duration("-1.5s") == -1_500_000_000
    assert parse_duration("0") == 0
    for bad in ("", "5", "ms", "1x", "1.5", "abc"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_system_paths_and_sockaddrs() -> None:
    assert is_system_path("/lib/x86_64-linux-gnu/libc.so.6")
    assert is_system_path("/etc/ld.so.cache") and not is_system_path("/etc/passwd")
    assert decode_sockaddr(bytes([2, 0, 0x15, 0x38, 127, 0, 0, 1]) + bytes(8)) == (
        "127.0.0.1:5432",
        5432,
    )
    v6 = bytes([10, 0, 0, 80]) + bytes(4) + bytes(15) + b"\x01" + bytes(4)
    assert decode_sockaddr(v6) == ("[::1]:80", 80)
    assert decode_sockaddr(b"\x01\x00/run/x.sock\x00") == ("/run/x.sock", -1)
    assert decode_sockaddr(b"\x01\x00\x00abs\x00") == ("@abs", -1)


def test_bpf_program() -> None:
    arch = AUDIT_ARCH["x86_64"]
    prog = bpf.build_filter([1, 257, 74], arch, handoff_fd=600, exempt={1: bpf.RECORD_LEN})
    notify, allow = bpf.SECCOMP_RET_USER_NOTIF, bpf.SECCOMP_RET_ALLOW
    assert bpf.run_filter(prog, 257, arch) == notify
    assert bpf.run_filter(prog, 74, arch) == notify
    assert bpf.run_filter(prog, 0, arch) == allow
    assert bpf.run_filter(prog, 257, AUDIT_ARCH["aarch64"]) == allow  # other ABI
    # the hand-off write is exempt only with the exact fd and count
    assert bpf.run_filter(prog, 1, arch, (600, 0, bpf.RECORD_LEN, 0, 0, 0)) == allow
    assert bpf.run_filter(prog, 1, arch, (600, 0, 5, 0, 0, 0)) == notify
    assert bpf.run_filter(prog, 1, arch, (3, 0, bpf.RECORD_LEN, 0, 0, 0)) == notify
    assert bpf.run_filter(prog, 1, arch, (600 | 1 << 32, 0, bpf.RECORD_LEN, 0, 0, 0)) == notify
    big = bpf.build_filter(range(400), arch)  # long chains keep short jumps
    assert bpf.run_filter(big, 399, arch) == notify and bpf.run_filter(big, 400, arch) == allow


def test_draws_are_uniform_and_stable() -> None:
    values = [draw(12345, n) for n in range(4000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert 0.45 < sum(values) / len(values) < 0.55
    assert values[:5] == [draw(12345, n) for n in range(5)]


def _rule(**kw: object) -> Rule:
    base: dict[str, object] = {"key": "write", "action": "deny", "syscalls": ("write",), "errno": 5}
    return Rule(**(base | kw))  # type: ignore[arg-type]


def test_rule_validation_and_decisions() -> None:
    assert _rule().decision() == "deny(input/output error)"
    assert _rule().errno_name == "EIO"
    delay = _rule(action="delay", errno=0, delay_ns=100_000_000)
    assert delay.decision() == "delay(100ms)"
    assert _rule(action="trace", errno=0).decision() == "trace"
    with pytest.raises(ValueError, match="positive errno"):
        _rule(errno=0)
    with pytest.raises(ValueError):
        _rule(probability=1.5)
    with pytest.raises(ValueError):
        _rule(action="explode")


def test_stacking_faults_before_traces() -> None:
    rules = ServiceRules("db", 0, {1: "write"})
    outer = rules.add([_rule(key="write", action="trace", errno=0)])
    inner = rules.add([_rule(path_glob="/data/*")])
    plan = rules.plan(1)
    fired = evaluate("db", plan, "/data/x", -1)
    assert fired is not None and fired.decision == "deny(input/output error)"
    fired = evaluate("db", rules.plan(1), "/other", -1)
    assert fired is not None and fired.decision == "trace"
    assert inner.hits == [1] and outer.hits == [1]
    rules.remove(inner)
    fired = evaluate("db", rules.plan(1), "/data/x", -1)
    assert fired is not None and fired.decision == "trace"
    # a rule without a glob skips system paths
    rules.remove(outer)
    rules.add([_rule()])
    assert evaluate("db", rules.plan(1), "/usr/lib/libc.so", -1) is None
    assert evaluate("db", rules.plan(1), "pipe:[3]", -1) is not None


def test_kernel_struct_sizes_match() -> None:
    from faultbox.intercept.ioctl import NOTIF, RESP, notif_sizes

    sizes = notif_sizes()
    assert sizes is not None and sizes[0] == NOTIF.size and sizes[1] == RESP.size
