"""Normalized-trace placeholders (scrub) and `faultbox diff` narrowing, on synthetic traces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tracekit import TraceBuilder, make_result

from faultbox.trace.diff import NarrowError, Narrowing, diff_traces
from faultbox.trace.narrow import parse_lines
from faultbox.trace.normalize import normalize
from faultbox.trace.results import SuiteResult
from faultbox.trace.scrub import Scrubber

TMP = "/tmp/faultbox-ab12cd34"
REPO = Path(__file__).resolve().parents[2]


def _norm(b: TraceBuilder, name: str = "test_x") -> str:
    return normalize(SuiteResult("s.star", [make_result(name, events=b.events())], 1))


def test_scrub_paths_keep_relation_files_and_replace_known_pids() -> None:
    s = Scrubber(pids=[13602, 13623])
    assert (
        s.path(f"{TMP}/postgres/data/base/13602/2691") == "{tmpdir}/postgres/data/base/13602/2691"
    )
    assert s.path(f"{TMP}/postgres/data/base/pgsql_tmp/pgsql_tmp13602.0") == (
        "{tmpdir}/postgres/data/base/pgsql_tmp/pgsql_tmp{pid}.0"
    )
    assert s.path("/proc/13623/status") == "/proc/{pid}/status"
    assert s.path(f"{TMP}/postgres/data/pg_replslot/faultbox_4711_3/state") == (
        "{tmpdir}/postgres/data/pg_replslot/{slot}/state"
    )
    assert s.path("/x/pg_logical/snapshots/0-191FD68.snap") == "/x/pg_logical/snapshots/{lsn}.snap"
    run = "/tmp/faultbox-run-zz99yy88"
    assert s.path(f"{run}/faultbox-k3j9x2ab/redis/dump.rdb") == "{tmpdir}/redis/dump.rdb"
    assert s.path(f"{run}/watchdog.pid") == "{rundir}/watchdog.pid"
    # Not faultbox's: a name with a dash (the template cache) or another length.
    assert s.path("/tmp/faultbox-pg-templates-0/x") == "/tmp/faultbox-pg-templates-0/x"
    assert s.path("/tmp/faultbox-abc/x") == "/tmp/faultbox-abc/x"
    assert s.path("/srv/app.13999.pid") == "/srv/app.13999.pid"  # not a pid of this test


def test_scrub_log_lines() -> None:
    s = Scrubber(pids=[13602])
    line = (
        "2026-12-01 14:02:20.720 UTC [13623] DETAIL:  Streaming transactions committing after "
        "0/191FDA0, reading WAL from 0/191FD68."
    )
    assert s.text(line) == (
        "{time} UTC [{pid}] DETAIL:  Streaming transactions committing after {lsn}, "
        "reading WAL from {lsn}."
    )
    assert s.text('STATEMENT:  START_REPLICATION SLOT "faultbox_13599_1" LOGICAL 0/00000000') == (
        'STATEMENT:  START_REPLICATION SLOT "{slot}" LOGICAL {lsn}'
    )
    assert s.text("checkpoint complete: wrote 3 buffers; write=0.002 s, took 12ms") == (
        "checkpoint complete: wrote 3 buffers; write={duration}, took {duration}"
    )
    assert s.text('{"ts": 1764597740.123, "pid": 13602, "msg": "up"}') == (
        '{"ts": {time}, "pid": {pid}, "msg": "up"}'
    )
    assert s.text("server process (PID 40001) was terminated at 14:02:21") == (
        "server process (PID {pid}) was terminated at {time}"
    )
    assert s.text('{"ids": [3], "port": 35432}') == '{"ids": [3], "port": 35432}'
    assert s.text("2026/12/01 14:02:20 listening") == "{time} listening"  # Go's log package
    assert s.text("13602:M 01 Dec 2026 14:02:20.123 * Ready") == "{pid}:M {time} * Ready"  # Redis
    assert s.text("Dec  1 14:02:20 host app[77]: up") == "{time} host app[{pid}]: up"


def test_source_events_get_stream_sections_in_stable_form() -> None:
    b = TraceBuilder()
    b.emit("service_started", "postgres", pid="13602")
    b.emit("stderr", "postgres", data="2026-12-01 14:02:20.663 UTC [13602] LOG:  ready")
    b.syscall("postgres", "openat", "allow", path=f"{TMP}/postgres/data/global/1262")
    ev = b.emit("wal", "postgres", table="orders", schema="public", action="INSERT",
                lsn="0/194FB50", data="table public.orders: INSERT: …")  # fmt: skip
    ev.data = {"table": "orders", "action": "INSERT", "id": 4, "item": "sprocket",
               "paid": True, "note": None, "created_at": "2026-12-01 14:02:20.958228+00"}  # fmt: skip
    b.emit("topic", "kafka", topic="order-events", partition="2", offset="17", key="o-4",
           data='{"order_id": 4, "at": "2026-12-01T14:02:21Z"}')  # fmt: skip
    b.emit("poll", "redis", command="GET session:active", value="alice")
    b.emit("poll", "api", url="/health", status="200", body="ok\n")
    b.emit("stdout", "api", level="INFO", data='{"level": "INFO", "msg": "order created"}')
    b.emit("source_error", "postgres", source="wal_stream", error="stream lost at 0/194FB50")
    b.emit("trace_applied", "postgres", openat="trace → filter:[openat]")  # still dropped
    assert _norm(b) == "\n".join([
        "=== test_x ===",
        "--- postgres ---",
        "service_started",
        "openat allow {tmpdir}/postgres/data/global/1262",
        "--- api poll ---",
        "/health status=200 body=ok\\n",
        "--- api stdout ---",
        '{"level": "INFO", "msg": "order created"}',
        "--- kafka topic ---",
        'order-events key=o-4 {"order_id": 4, "at": "{time}"}',
        "--- postgres source_error ---",
        "wal_stream stream lost at {lsn}",
        "--- postgres stderr ---",
        "{time} UTC [{pid}] LOG:  ready",
        "--- postgres wal ---",
        "orders INSERT created_at={time} id=4 item=sprocket note=null paid=true",
        "--- redis poll ---",
        "GET session:active value=alice",
    ]) + "\n"  # fmt: skip


def _two_services() -> str:
    b = TraceBuilder()
    b.start("api")
    b.start("postgres")
    b.syscall("api", "openat", "allow", path="/usr/lib/python3/x.py")
    b.syscall("api", "connect", "deny(connection refused)", path="127.0.0.1:38080")
    b.syscall("postgres", "openat", "allow", path=f"{TMP}/postgres/data/global/1262")
    b.syscall("postgres", "fdatasync", "trace", path=f"{TMP}/postgres/data/pg_wal/0001")
    b.step("api")
    b.emit("stdout", "api", data='{"msg": "order created"}')
    ev = b.emit("wal", "postgres", table="orders", action="INSERT")
    ev.data = {"table": "orders", "action": "INSERT", "id": 1}
    return _norm(b)


def _kept(text: str, **filters: Any) -> list[str]:
    return [ln.text for ln in Narrowing(**filters).apply(parse_lines(text))]


def test_parse_lines_knows_service_type_syscall_and_path() -> None:
    lines = {ln.text: ln for ln in parse_lines(_two_services())}
    deny = lines["connect deny(connection refused) 127.0.0.1:38080"]
    assert (deny.service, deny.type, deny.syscall, deny.path) == (
        "api", "syscall", "connect", "127.0.0.1:38080")  # fmt: skip
    assert lines["step_send api"].type == "step_send" and lines["step_send api"].service == "test"
    wal = lines["orders INSERT id=1"]
    assert (wal.service, wal.type, wal.number) == ("postgres", "wal", 18)
    assert lines["--- postgres wal ---"].kind == "section"


def test_narrow_by_service() -> None:
    assert _kept(_two_services(), services=["api"]) == [
        "=== test_x ===", "--- api ---", "service_started", "service_ready",
        "openat allow /usr/lib/python3/x.py", "connect deny(connection refused) 127.0.0.1:38080",
        "--- api stdout ---", '{"msg": "order created"}',
    ]  # fmt: skip


def test_narrow_by_type_plain_group_and_qualified() -> None:
    text = _two_services()
    assert _kept(text, types=["wal"]) == ["=== test_x ===", "--- postgres wal ---",
                                          "orders INSERT id=1"]  # fmt: skip
    assert _kept(text, types=["step"]) == ["=== test_x ===", "--- test ---", "step_send api",
                                           "step_recv api"]  # fmt: skip
    assert _kept(text, types=["api:syscall", "postgres:wal"]) == [
        "=== test_x ===", "--- api ---", "openat allow /usr/lib/python3/x.py",
        "connect deny(connection refused) 127.0.0.1:38080", "--- postgres wal ---",
        "orders INSERT id=1",
    ]  # fmt: skip
    assert "service_ready" in _kept(text, types=["lifecycle"])


def test_narrow_by_syscall_and_path() -> None:
    text = _two_services()
    assert _kept(text, syscalls=["open*"]) == [
        "=== test_x ===", "--- api ---", "openat allow /usr/lib/python3/x.py",
        "--- postgres ---", "openat allow {tmpdir}/postgres/data/global/1262",
    ]  # fmt: skip
    assert _kept(text, paths=["{tmpdir}/*"]) == [
        "=== test_x ===", "--- postgres ---", "openat allow {tmpdir}/postgres/data/global/1262",
        "fdatasync trace {tmpdir}/postgres/data/pg_wal/0001",
    ]  # fmt: skip
    # The queries' path rule: a pattern naming a directory matches the files directly in it.
    assert _kept(text, paths=["/usr/lib/python3/"]) == [
        "=== test_x ===", "--- api ---", "openat allow /usr/lib/python3/x.py",
    ]  # fmt: skip
    assert _kept(text, paths=["127.0.0.1:38080"]) == [
        "=== test_x ===", "--- api ---", "connect deny(connection refused) 127.0.0.1:38080",
    ]  # fmt: skip
    # With --type, other types named there pass the syscall filter.
    assert _kept(text, types=["syscall", "wal"], syscalls=["fdatasync"]) == [
        "=== test_x ===", "--- postgres ---", "fdatasync trace {tmpdir}/postgres/data/pg_wal/0001",
        "--- postgres wal ---", "orders INSERT id=1",
    ]  # fmt: skip


def test_narrow_exclude() -> None:
    kept = _kept(_two_services(), exclude=["* allow *", "step_*"])
    assert kept == [
        "=== test_x ===", "--- api ---", "service_started", "service_ready",
        "connect deny(connection refused) 127.0.0.1:38080", "--- postgres ---",
        "service_started", "service_ready", "fdatasync trace {tmpdir}/postgres/data/pg_wal/0001",
        "--- api stdout ---", '{"msg": "order created"}', "--- postgres wal ---",
        "orders INSERT id=1",
    ]  # fmt: skip


def test_narrowed_diff_uses_file_line_numbers_and_says_what_it_compared() -> None:
    a = _two_services()
    b = a.replace("fdatasync trace", "fdatasync deny(input/output error)")
    same, out = diff_traces(a, b, narrowing=Narrowing(services=["api"]))
    assert same and out == "traces are identical (narrowed: 8 of 18 vs 8 of 18 lines compared)"
    same, out = diff_traces(a, b, narrowing=Narrowing(syscalls=["fdatasync"]))
    assert not same
    assert out.splitlines() == [
        "traces differ (3 vs 3 lines):",
        "  (narrowed: 3 of 18 vs 3 of 18 lines compared)",
        "  line 7:  --- postgres ---  (same in both)",
        "  line 11:",
        "    - fdatasync trace {tmpdir}/postgres/data/pg_wal/0001",
        "    + fdatasync deny(input/output error) {tmpdir}/postgres/data/pg_wal/0001",
    ]
    # No filter: the plain diff, unchanged.
    assert diff_traces(a, b, narrowing=Narrowing())[1].splitlines()[1] == (
        "  line 10:  openat allow {tmpdir}/postgres/data/global/1262  (same in both)"
    )


def test_filters_that_cannot_be_right_are_errors() -> None:
    with pytest.raises(NarrowError, match="unknown type 'wall'"):
        Narrowing(types=["wall"])
    text = _two_services()
    with pytest.raises(NarrowError, match=r"--service apii: matches nothing .*seen: api, postgres"):
        diff_traces(text, text, narrowing=Narrowing(services=["apii"]))
    with pytest.raises(NarrowError, match=r"--syscall fsync: .*seen: connect, fdatasync, openat"):
        diff_traces(text, text, narrowing=Narrowing(syscalls=["fsync"]))
    with pytest.raises(NarrowError, match="--path /var/"):
        diff_traces(text, text, narrowing=Narrowing(paths=["/var/*"]))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faultbox.cli", "diff", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_cli_diff_narrowing_options_and_exit_codes(tmp_path: Path) -> None:
    a, b = tmp_path / "a.norm", tmp_path / "b.norm"
    a.write_text(_two_services())
    b.write_text(_two_services().replace("fdatasync trace", "fdatasync deny(input/output error)"))
    plain = _cli(str(a), str(b), "--no-color")
    assert plain.returncode == 2 and "+ fdatasync deny(input/output error)" in plain.stdout
    for args in (["--service", "api"], ["--type", "api:syscall", "--type", "postgres:wal"],
                 ["--syscall", "connect"], ["--path", "/usr/*"], ["--exclude", "fdatasync *"]):  # fmt: skip
        proc = _cli(str(a), str(b), *args)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        assert proc.stdout.startswith("traces are identical (narrowed: "), args
    assert _cli(str(a), str(b), "--type", "syscall", "--no-color").returncode == 2
    bad = _cli(str(a), str(b), "--type", "wall")
    assert bad.returncode == 1 and "error: --type wall: unknown type 'wall'" in bad.stderr
    typo = _cli(str(a), str(b), "--service", "apii")
    assert typo.returncode == 1
    assert "error: --service apii: matches nothing in either trace" in typo.stderr
    assert "Traceback" not in bad.stderr + typo.stderr
    helptext = _cli("--help").stdout
    for flag in ("--service NAME", "--type [SERVICE:]TYPE", "--syscall NAME", "--path GLOB",
                 "--exclude GLOB"):  # fmt: skip
        assert flag in helptext


def test_ignore_order_compares_each_section_as_a_multiset() -> None:
    a = _two_services()
    lines = a.splitlines()
    i = lines.index("openat allow {tmpdir}/postgres/data/global/1262")
    lines[i], lines[i + 1] = lines[i + 1], lines[i]  # two concurrent processes swapped
    b = "\n".join(lines) + "\n"
    assert not diff_traces(a, b)[0]
    same, out = diff_traces(a, b, narrowing=Narrowing(ignore_order=True))
    assert same and out.startswith("traces are identical (narrowed: 18 of 18")
    # A call moved to another service's section is still a difference.
    moved = a.replace("fdatasync trace {tmpdir}/postgres/data/pg_wal/0001\n", "").replace(
        "--- test ---\n", "--- test ---\nfdatasync trace {tmpdir}/postgres/data/pg_wal/0001\n"
    )
    assert not diff_traces(a, moved, narrowing=Narrowing(ignore_order=True))[0]
    kept = _kept(a, ignore_order=True)
    assert kept[:4] == ["=== test_x ===", "--- api ---", "connect deny(connection refused) 127.0.0.1:38080",
                        "openat allow /usr/lib/python3/x.py"]  # fmt: skip
