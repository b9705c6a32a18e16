"""Chapter 10 end to end: scenario → generate → run the matrix, composition by hand, monitors.

Real services (the demo binaries) under real seccomp filters, through the ``faultbox`` CLI.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CELLS = ["db_down", "db_slow", "db_connection_reset", "disk_io_error", "disk_full", "fsync_failure"]

# Chapter 10, "To add expected behavior, edit the generated file and add overrides" (verbatim).
OVERRIDES = """\
fault_matrix(
    scenarios = [order_flow],
    faults = [db_down, db_slow, disk_io_error, disk_full, fsync_failure],
    overrides = {
        (order_flow, db_down): lambda r: assert_true(r.status >= 500),
        (order_flow, db_slow): lambda r: assert_true(r.duration_ms > 4000),
    },
    exclude = [
        (order_flow, fsync_failure),  # service doesn't use fsync
    ],
)
"""


@pytest.fixture
def ch10(tmp_path: Path, demo_bins: Path, fbx) -> Path:
    return fbx.workdir(
        tmp_path, demo_bins,
        "ch10/scenario-test.star", "ch10/multi-scenario.star", "ch10/my-custom-failures.star",
        "ch10/composition.star", "ch10/monitors.star",
    )  # fmt: skip


def _generated(ch10: Path, fbx) -> Path:
    # --no-profile: the tutorial's file (profiled, db's disk faults are dropped: mock-db has no disk)
    proc = fbx.faultbox("generate", "scenario-test.star", "--no-profile", cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    return ch10 / "order_flow.faults.star"


def _matrix_row(stderr: str, scenario: str) -> list[str]:
    line = next(ln for ln in stderr.splitlines() if ln.startswith(f"{scenario} ") and "│" in ln)
    return [cell.strip() for cell in line.split("│")[1:]]


def test_scenario_passes(ch10: Path, fbx) -> None:
    proc = fbx.faultbox("test", "scenario-test.star", cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"--- PASS: test_order_flow \(\d+ms, seed=0\) ---", proc.stderr)
    assert proc.stderr.rstrip().endswith("1 passed, 0 failed")


def test_generated_matrix_runs_six_cells_and_the_partition(ch10: Path, fbx) -> None:
    _generated(ch10, fbx)
    proc = fbx.faultbox("test", "order_flow.faults.star", cwd=ch10)
    err = proc.stderr
    assert "Fault Matrix: 1 scenarios × 6 faults = 6 cells" in err
    header = next(ln for ln in err.splitlines() if ln.startswith(" ") and "│ db_down" in ln)
    assert [c.strip() for c in header.split("│")[1:]] == CELLS  # declaration order
    row = _matrix_row(err, "order_flow")
    assert len(row) == 6
    assert all(re.fullmatch(r"PASS \(\d+ms\)", c) for c in row[:-1]), row
    assert re.fullmatch(r"PASS\* \(\d+ms\)", row[-1]), row  # mock-db never calls fsync
    slow = int(re.search(r"\d+", row[1]).group())
    assert slow >= 5000  # connect=delay("5s") really held the connect
    assert "Result: 6/6 passed" in err
    assert re.search(r"--- PASS: test_order_flow_db_partition \(\d+ms", err)
    assert "partition rule on api: connect=deny(ECONNREFUSED)" in err
    # cells are summarised by the table, except the one whose fault never fired
    assert err.count("--- PASS: test_matrix_") == 1
    assert "--- PASS: test_matrix_order_flow_fsync_failure" in err
    assert err.rstrip().endswith("8 passed, 0 failed")
    assert proc.returncode == 0


def test_overrides_and_exclude(ch10: Path, fbx) -> None:
    path = _generated(ch10, fbx)
    text = path.read_text()
    start = text.index("\nfault_matrix(\n") + 1
    end = text.index("\n)\n", start) + 3
    path.write_text(text[:start] + OVERRIDES + text[end:])
    proc = fbx.faultbox("test", "order_flow.faults.star", "--test", "matrix_*", cwd=ch10)
    err = proc.stderr
    assert "Fault Matrix: 1 scenarios × 5 faults = 4 cells (1 excluded)" in err
    row = _matrix_row(err, "order_flow")
    assert row[-1] == "— (excluded)"
    assert all(c.startswith("PASS") for c in row[:-1]), err
    assert "Result: 4/4 passed" in err
    assert proc.returncode == 0


def test_two_scenarios_generate_two_runnable_files(ch10: Path, fbx) -> None:
    proc = fbx.faultbox("generate", "multi-scenario.star", "--no-profile", cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    proc = fbx.faultbox(
        "test", "health_check.faults.star", "--test", "matrix_health_check_d*", cwd=ch10
    )
    # /health never touches the DB, so the db_* and disk cells pass — except the "connection
    # reset": read=deny(ECONNRESET) on api fails *every* read of api, including the request
    # the test sends it, so the probe gets no answer (status 0) and its assert_eq fails.
    err = proc.stderr
    assert "Fault Matrix: 1 scenarios × 5 faults = 5 cells" in err
    assert "Result: 4/5 passed, 1 failed" in err, err
    assert "  health_check × db_connection_reset: assert_eq failed: 0 != 200" in err
    assert proc.returncode == 2


def test_hand_written_composition(ch10: Path, fbx) -> None:
    """The chapter's composition snippets as written: every cell fails, and why."""
    proc = fbx.faultbox("test", "composition.star", cwd=ch10)
    err = proc.stderr
    assert proc.returncode == 2
    assert "Fault Matrix: 2 scenarios × 2 faults = 4 cells" in err
    assert "Result: 0/4 passed, 4 failed" in err
    # order_flow asserts the body itself, so under db_down it fails before any oracle runs.
    assert 'order_flow × db_down: assert_eq failed: "db error:' in err
    # the override is used for (health_check, db_down) — and health_check returns None ...
    assert "health_check × db_down: 'NoneType' value has no field or method 'status'" in err
    # ... and default_expect (r != None) for the cell without an override.
    assert "health_check × disk_full: assertion failed" in err
    assert "--- PASS: test_health_check" in err and "--- PASS: test_order_flow" in err


def test_custom_failures_file_as_written(ch10: Path, fbx) -> None:
    """The chapter's my-custom-failures.star puts db_down on db, which never connects: the
    fault never fires and the oracle fails. faultbox says so."""
    proc = fbx.faultbox("test", "my-custom-failures.star", cwd=ch10)
    err = proc.stderr
    assert proc.returncode == 2
    assert "--- FAIL: test_order_custom_failure" in err
    assert "reason: should fail when DB is down" in err
    assert "on db was installed but never fired (0 hits)" in err


def test_monitor_on_an_assumption_travels_with_it(ch10: Path, fbx) -> None:
    proc = fbx.faultbox("test", "monitors.star", cwd=ch10)
    assert proc.returncode == 0, proc.stderr
    assert "--- PASS: test_order_db_down" in proc.stderr
    assert "Result: 1/1 passed" in proc.stderr
    # The same monitor on an assumption that lets traffic through: every user fails.
    (ch10 / "violation.star").write_text(
        'load("monitors.star", "api", "order_flow", "no_db_traffic")\n'
        'db_flaky = fault_assumption("db_flaky", target = api,\n'
        '    connect = delay("10ms"), monitors = [no_db_traffic])\n'
        'fault_scenario("slow_db", scenario = order_flow, faults = db_flaky)\n'
        "fault_matrix(scenarios = [order_flow], faults = [db_flaky])\n"
    )
    proc = fbx.faultbox("test", "violation.star", "--test", "*db*", cwd=ch10)
    err = proc.stderr
    assert proc.returncode == 2
    assert (
        "reason: monitor violation: check_no_db_traffic: traffic reached DB despite being down"
        in err
    )
    assert "order_flow × db_flaky: monitor violation: check_no_db_traffic" in err
    assert "--- PASS: test_order_db_down" in err  # monitors.star's own scenario, loaded
