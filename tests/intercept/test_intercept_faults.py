"""Real processes under real filters: deny, delay, path and port targeting."""

from __future__ import annotations

import errno
import socket
import time
from pathlib import Path

from faultbox.intercept import Rule, expand_syscalls

WRITE = expand_syscalls("write")
OPEN = expand_syscalls("open")


def deny(key: str, syscalls: tuple[str, ...], err: int, **kw: object) -> Rule:
    return Rule(key=key, action="deny", syscalls=syscalls, errno=err, **kw)  # type: ignore[arg-type]


def test_eio_on_write_by_glob_while_stdout_succeeds(harness, scratch: Path) -> None:
    wal = scratch / "db.wal"
    harness.rules("svc", deny("write", WRITE, errno.EIO, path_glob=f"{scratch}/*.wal", label="x"))
    lines = harness.run("write", wal, 2, notify=WRITE + OPEN)
    assert lines == [f"write -1 errno={errno.EIO}"] * 2  # printed: stdout writes pass
    denied = harness.of("write", str(wal))
    assert [r.decision for r in denied] == ["deny(input/output error)"] * 2
    assert all(not r.allowed and r.label == "x" for r in denied)
    stdout = [r for r in harness.of("write") if r.path.startswith("pipe:")]
    assert len(stdout) == 2 and all(r.decision == "allow" and r.allowed for r in stdout)
    assert wal.read_bytes() == b""


def test_enospc(harness, scratch: Path) -> None:
    wal = scratch / "full.dat"
    harness.rules("svc", deny("write", WRITE, errno.ENOSPC, path_glob=str(wal)))
    assert harness.run("write", wal, 1, notify=WRITE) == [f"write -1 errno={errno.ENOSPC}"]
    assert harness.of("write", str(wal))[0].decision == "deny(no space left on device)"


def test_fsync_eio_leaves_fdatasync_alone(harness, scratch: Path) -> None:
    path = scratch / "f.db"
    harness.rules("svc", deny("fsync", ("fsync",), errno.EIO))
    lines = harness.run("fsync", path, notify=expand_syscalls("fsync"))
    assert lines == [f"fsync -1 errno={errno.EIO}", "fdatasync 0 errno=0"]
    assert [r.decision for r in harness.of(path=str(path))] == [
        "deny(input/output error)",
        "allow",
    ]


def test_openat_enoent_by_path(harness, scratch: Path) -> None:
    present = scratch / "present.cfg"
    other = scratch / "other.cfg"
    present.write_text("x")
    other.write_text("y")
    harness.rules("svc", deny("openat", OPEN, errno.ENOENT, path_glob=str(present)))
    lines = harness.run("open", present, other, notify=OPEN)
    assert lines == [f"open {present} -1 errno={errno.ENOENT}", f"open {other} 0 errno=0"]
    (rec,) = harness.of("openat", str(present))
    assert rec.decision == "deny(no such file or directory)"
    # libc's own loads are system paths
    assert any(r.decision == "allow (system path)" for r in harness.of("openat"))


def test_relative_openat_is_resolved_against_cwd(harness, scratch: Path) -> None:
    (scratch / "rel.cfg").write_text("x")
    harness.rules("svc", deny("openat", OPEN, errno.EACCES, path_glob=f"{scratch}/*.cfg"))
    assert harness.run("openrel", scratch, "rel.cfg", notify=OPEN) == [
        f"open -1 errno={errno.EACCES}"
    ]
    assert harness.of("openat", str(scratch / "rel.cfg"))[0].allowed is False


def test_delay_lasts_at_least_the_asked_time(harness, scratch: Path) -> None:
    path = scratch / "slow.log"
    rule = Rule(
        key="write", action="delay", syscalls=WRITE, delay_ns=300_000_000, path_glob=str(path)
    )
    harness.rules("svc", rule)
    t0 = time.monotonic()
    (line,) = harness.run("write", path, 1, notify=WRITE, timing=True)
    assert time.monotonic() - t0 >= 0.3
    assert line.startswith("write 5 errno=0 ms=")
    assert int(line.rsplit("=", 1)[1]) >= 300
    (rec,) = harness.of("write", str(path))
    assert (rec.decision, rec.latency_ms, rec.allowed) == ("delay(300ms)", 300, True)
    assert path.read_bytes() == b"hello"


def _listener() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s


def test_connect_refused_only_on_the_given_port(harness) -> None:
    a, b = _listener(), _listener()
    pa, pb = a.getsockname()[1], b.getsockname()[1]
    try:
        rule = deny("connect", ("connect",), errno.ECONNREFUSED, dest_ports=frozenset({pa}))
        harness.rules("svc", rule)
        lines = harness.run("connect", pa, pb, notify=("connect",))
    finally:
        a.close()
        b.close()
    assert lines == [f"connect {pa} -1 errno={errno.ECONNREFUSED}", f"connect {pb} 0 errno=0"]
    recs = harness.of("connect")
    assert [(r.path, r.decision) for r in recs] == [
        (f"127.0.0.1:{pa}", "deny(connection refused)"),
        (f"127.0.0.1:{pb}", "allow"),
    ]


def test_trace_and_record_fields(harness, scratch: Path) -> None:
    path = scratch / "t.log"
    harness.rules(
        "svc", Rule(key="write", action="trace", syscalls=WRITE, label="tr", op="persist")
    )
    harness.run("write", path, 1, notify=WRITE + ("close",))
    recs = harness.of()
    assert recs, "every notification is recorded"
    decisions = {"allow", "allow (system path)", "trace"}
    stamps = [r.timestamp_ns for r in recs]
    assert stamps == sorted(stamps)
    for r in recs:
        assert r.service == "svc" and r.syscall in WRITE + ("close",)
        assert isinstance(r.pid, int) and r.pid > 0
        assert r.decision in decisions and r.allowed is True and r.latency_ms == 0
        assert isinstance(r.path, str) and r.timestamp_ns > 1_600_000_000_000_000_000
    (traced,) = [r for r in recs if r.path == str(path) and r.syscall == "write"]
    assert (traced.decision, traced.label, traced.op) == ("trace", "tr", "persist")
    # the loader closes what it opened: close records carry the fd's path
    assert any(r.syscall == "close" and r.path == "/etc/ld.so.cache" for r in recs)
