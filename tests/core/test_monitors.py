"""Monitors on real processes: called for matching events, a failure fails the test."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_faultbox, write_demo_spec


def _spec(tmp_path: Path, demo_bin: Path, body: str) -> Path:
    return write_demo_spec(tmp_path / "spec.star", demo_bin, body, api=True)[0]


def test_monitor_on_assumption_fails_the_scenario(tmp_path: Path, demo_bin: Path) -> None:
    spec = _spec(
        tmp_path,
        demo_bin,
        """
        def no_db_reads(event):
            fail("db read a request: " + event.syscall)

        watch_reads = monitor(no_db_reads, service="db", syscall="read")

        slow_db = fault_assumption("slow_db", target=db, read=delay("1ms"),
            monitors=[watch_reads])

        def write_one():
            return api.post(path="/data/k", body="v")

        fault_scenario("writes_with_slow_db", scenario=write_one, faults=slow_db,
            expect=lambda r: assert_eq(r.status, 200))

        def quiet():
            return api.get(path="/health")

        fault_scenario("health_only", scenario=quiet, faults=slow_db,
            expect=lambda r: assert_eq(r.status, 200))
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 2, proc.stderr
    assert "--- FAIL: test_writes_with_slow_db" in proc.stderr
    assert "reason: monitor violation: no_db_reads: db read a request: read" in proc.stderr
    assert "--- PASS: test_health_only" in proc.stderr


def test_monitor_created_in_a_test_watches_the_rest_of_it(tmp_path: Path, demo_bin: Path) -> None:
    spec = _spec(
        tmp_path,
        demo_bin,
        """

        def test_counts_writes():
            counted = {"n": 0}
            def count(event):
                counted["n"] += 1
            monitor(count, service="db", syscall="write")
            def body():
                assert_eq(api.post(path="/data/k", body="v").status, 200)
            trace(db, syscalls=["write"], run=body)
            assert_true(counted["n"] >= 1, "the monitor saw no write: %d" % counted["n"])

        def test_monitor_violation():
            def no_writes(event):
                fail("unexpected write on " + event.path)
            monitor(no_writes, service="db", syscall="write")
            def body():
                api.post(path="/data/k", body="v")
            trace(db, syscalls=["write"], run=body)
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert "--- FAIL: test_monitor_violation" in proc.stderr
    assert "reason: monitor violation: no_writes: unexpected write on " in proc.stderr
    assert "--- PASS: test_counts_writes" in proc.stderr, proc.stderr
    assert proc.returncode == 2


def test_top_level_monitor_watches_every_test(tmp_path: Path, demo_bin: Path) -> None:
    spec = _spec(
        tmp_path,
        demo_bin,
        """
        def no_db_writes(event):
            fail("db wrote to " + event.path)

        # Writes to sockets only: db's own startup log line (a pipe) is not a reply.
        monitor(no_db_writes, service="db", syscall="write", path="socket:*")

        def test_quiet():
            assert_eq(api.get(path="/health").status, 200)

        def test_writes():
            api.post(path="/data/k", body="v")
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 2, proc.stderr
    assert "--- PASS: test_quiet" in proc.stderr
    assert "--- FAIL: test_writes" in proc.stderr
    assert "reason: monitor violation: no_db_writes: db wrote to " in proc.stderr
