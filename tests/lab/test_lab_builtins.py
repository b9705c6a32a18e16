"""invariant()/failure_mode()/override() and crash()/restart() on small specs of their own."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import run_faultbox


def _queue_spec(tmp_path: Path, lab_bin: Path, body: str) -> Path:
    spec = tmp_path / "spec.star"
    spec.write_text(
        textwrap.dedent(f"""\
        queue = service("queue", "{lab_bin}/lab-queue", interface("main", "tcp", 7401),
            env = {{"PORT": "7401", "DATA_DIR": "{{tmpdir}}"}},
            healthcheck = tcp("localhost:7401"))
        """)
        + textwrap.dedent(body)
    )
    return spec


def test_crash_and_restart_keep_the_data_directory(tmp_path: Path, lab_bin: Path) -> None:
    spec = _queue_spec(
        tmp_path,
        lab_bin,
        """
        def test_restart():
            assert_eq(queue.main.send(data = "ENQUEUE j1 a:b:1"), "OK")
            crash(queue)
            crashed = events(type = "service_exited", where = lambda e: e.crashed == "true")
            assert_eq(len(crashed), 1)
            assert_eq(crashed[0].signal, "SIGKILL")
            restart(queue)
            # the same per-test data directory: the store replayed what was enqueued
            assert_eq(queue.main.send(data = "STATE j1"), "STATE j1 queued 0 -")
            assert_eq(len(events(type = "service_ready", where = lambda e: e.restart == "true")), 1)
        """,
    )
    proc = run_faultbox("test", str(spec), "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SERVICE_CRASHED" not in proc.stdout + proc.stderr  # asked for: no crash report


def test_restart_reattaches_the_supervisor_with_the_active_rules(
    tmp_path: Path, lab_bin: Path
) -> None:
    # A fault active across the restart still decides the new process's syscalls.
    spec = _queue_spec(
        tmp_path,
        lab_bin,
        """
        def _body():
            crash(queue)
            restart(queue)
            reply = queue.main.send(data = "ENQUEUE j1 a:b:1")
            assert_true(reply.startswith("ERR store"), reply)

        def test_rules_survive_restart():
            fault(queue, fsync = deny("EIO"), run = _body)
            assert_eventually(service = "queue", syscall = "fsync", decision = "deny*")
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_baseline_that_violates_an_invariant_is_an_invalid_experiment(
    tmp_path: Path, lab_bin: Path
) -> None:
    spec = _queue_spec(
        tmp_path,
        lab_bin,
        """
        def never_holds():
            return violation("the check always fails", evidence = events(service = "queue"))

        INV_X = invariant("INV_X", "broken on purpose", check = never_holds)

        def scenario(lab):
            queue.main.send(data = "ENQUEUE j1 a:b:1")

        failure_mode("FM_900", title = "invalid", invariants = [INV_X], scenario = scenario)
        """,
    )
    proc = run_faultbox("test", str(spec), "--test", "FM_900_baseline")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "FM_900 experiment invalid" in out
    assert "INV_X violated: the check always fails" in out


def test_a_failing_check_names_its_invariant(tmp_path: Path, lab_bin: Path) -> None:
    spec = _queue_spec(
        tmp_path,
        lab_bin,
        """
        def check():
            fail("queue lost j1")

        INV_Y = invariant("INV_Y", "jobs are kept", check = check)

        def scenario(lab):
            pass

        failure_mode("FM_901", title = "t", invariants = [INV_Y], scenario = scenario,
                     guardrail = override(queue, env = {"RECONCILE": "1"}))
        """,
    )
    proc = run_faultbox("test", str(spec), "--test", "FM_901_prevent")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "FM_901 prevent failed" in out
    assert "INV_Y violated" in out and "queue lost j1" in out


def test_declaration_mistakes_are_load_errors_with_their_line(
    tmp_path: Path, lab_bin: Path
) -> None:
    cases = {
        'failure_mode("FM_1", title = "t", scenario = s)\n': "invariants= must list",
        'failure_mode("FM_1", invariants = [I], scenario = s, guard = 1)\n': "unknown keyword",
        'failure_mode("FM_1", invariants = [I], scenario = s, guardrail = [queue])\n': "guardrail= items must be override",
        "override(queue)\n": "an override that changes nothing",
        'invariant("INV 1", check = s)\n': "must be a letter",
    }
    for line, message in cases.items():
        spec = _queue_spec(
            tmp_path,
            lab_bin,
            """
            def s(lab = None):
                pass
            I = invariant("INV_1", check = s)
            """
            + line,
        )
        proc = run_faultbox("test", str(spec))
        assert proc.returncode == 1, (line, proc.stdout + proc.stderr)
        assert message in proc.stderr and "spec.star:" in proc.stderr, (line, proc.stderr)
