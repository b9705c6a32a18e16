"""Faults through the spec language on the demo services: partition, probability, --show."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.conftest import free_port, run_faultbox, write_demo_spec


def test_partition_refuses_connects_both_ways_and_only_while_it_lasts(
    tmp_path: Path, demo_bin: Path
) -> None:
    # Two mock-apis that use each other as their "db": each POST makes its service connect to
    # the other one, so both directions of the partition are exercised.
    p1, p2 = free_port(), free_port()
    spec = tmp_path / "spec.star"
    spec.write_text(
        textwrap.dedent(
            f"""
            a = service("a", "{demo_bin}/mock-api", interface("http", "http", {p1}),
                env = {{"PORT": "{p1}", "DB_ADDR": "localhost:{p2}"}},
                healthcheck = http("localhost:{p1}/health"))
            b = service("b", "{demo_bin}/mock-api", interface("http", "http", {p2}),
                env = {{"PORT": "{p2}", "DB_ADDR": "localhost:{p1}"}},
                healthcheck = http("localhost:{p2}/health"))

            def test_partition():
                def cut():
                    a.post(path="/data/k", body="v")
                    b.post(path="/data/k", body="v")
                    assert_eventually(service="a", syscall="connect", decision="deny(connection refused)")
                    assert_eventually(service="b", syscall="connect", decision="deny(connection refused)")
                    assert_never(service="a", syscall="connect", decision="allow")
                partition(a, b, run=cut)
                before = len(events(service="a", syscall="connect", decision="allow"))
                a.post(path="/data/k", body="v")
                after = len(events(service="a", syscall="connect", decision="allow"))
                assert_eq(after, before + 1, "connects are allowed again after the partition")
            """
        )
    )
    out = tmp_path / "trace.json"
    proc = run_faultbox("test", str(spec), "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    types = [ev["type"] for ev in json.loads(out.read_text())["tests"][0]["events"]]
    assert types.count("partition_applied") == 1 and types.count("partition_removed") == 1


def _decisions(tmp_path: Path, spec: Path, seed: str, name: str) -> list[str]:
    out = tmp_path / f"{name}.json"
    proc = run_faultbox("test", str(spec), "--seed", seed, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    events = json.loads(out.read_text())["tests"][0]["events"]
    return [
        ev["fields"]["decision"]
        for ev in events
        if ev["type"] == "syscall" and ev["service"] == "db" and ev["fields"]["syscall"] == "write"
    ]


def test_probability_decisions_are_reproducible_by_seed(tmp_path: Path, demo_bin: Path) -> None:
    spec, _, _ = write_demo_spec(
        tmp_path / "spec.star",
        demo_bin,
        """
        def test_flaky_disk():
            def body():
                return [api.get(path="/data/k%d" % i).status for i in range(30)]
            statuses = fault(db, write=deny("EIO", probability="50%"), run=body)
            assert_true(404 in statuses, "some requests got through")
            assert_true(500 in statuses, "some requests hit the fault")
        """,
        api=True,
    )
    first = _decisions(tmp_path, spec, "3", "a")
    again = _decisions(tmp_path, spec, "3", "b")
    other = _decisions(tmp_path, spec, "4", "c")
    assert first == again
    assert any(d.startswith("deny") for d in first) and "allow" in first
    assert first != other


def test_show_fail_reports_only_failures(tmp_path: Path, demo_bin: Path) -> None:
    spec = _db_spec(
        tmp_path,
        demo_bin,
        """
        def test_good():
            assert_eq(db.send(data="PING"), "PONG")
        def test_bad():
            assert_eq(db.send(data="PING"), "nope")
        """,
    )
    out = tmp_path / "trace.json"
    proc = run_faultbox("test", str(spec), "--show", "fail", "--output", str(out))
    assert proc.returncode == 2
    assert "--- FAIL: test_bad" in proc.stderr
    assert "test_good" not in proc.stderr
    assert "1 passed, 1 failed" in proc.stderr
    assert [t["name"] for t in json.loads(out.read_text())["tests"]] == ["test_bad"]


def _db_spec(tmp_path: Path, demo_bin: Path, body: str) -> Path:
    return write_demo_spec(tmp_path / "spec.star", demo_bin, body)[0]


def test_fault_stop_removes_only_fault_start_rules(tmp_path: Path, demo_bin: Path) -> None:
    spec = _db_spec(
        tmp_path,
        demo_bin,
        """
        def test_scoped():
            fault_start(db, connect=deny("ECONNREFUSED"))
            def body():
                fault_stop(db)  # ends the fault_start rule, not this fault()
                db.send(data="PING")
            fault(db, write=deny("EIO"), run=body)

        def test_allow_overrides_an_outer_deny():
            def inner():
                assert_eq(db.send(data="PING"), "PONG")
            def outer():
                fault(db, write=allow(), run=inner)
            fault(db, write=deny("EIO"), run=outer)
        """,
    )
    proc = run_faultbox("test", str(spec))
    # The reply write is still denied inside fault(): the server closes without answering.
    assert "--- FAIL: test_scoped" in proc.stderr, proc.stderr
    assert "tcp send failed: db closed the connection without answering" in proc.stderr
    assert "--- PASS: test_allow_overrides_an_outer_deny" in proc.stderr, proc.stderr


def test_format_json_with_verbose_keeps_stdout_json(tmp_path: Path, demo_bin: Path) -> None:
    spec = _db_spec(tmp_path, demo_bin, "def test_ok():\n    db.send(data='PING')\n")
    proc = run_faultbox("test", str(spec), "--format", "json", "-v")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["pass"] == 1
    assert "[db] " in proc.stderr  # the service's output went to stderr


def test_unwritable_output_is_refused_before_running(tmp_path: Path, demo_bin: Path) -> None:
    spec = _db_spec(tmp_path, demo_bin, "def test_ok():\n    pass\n")
    proc = run_faultbox("test", str(spec), "--output", str(tmp_path / "missing" / "x.json"))
    assert proc.returncode == 1
    assert "directory" in proc.stderr and "does not exist" in proc.stderr
    assert "--- PASS" not in proc.stderr
