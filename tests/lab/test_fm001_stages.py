"""FM_001 on the real lab services: reproduced with evidence, prevented, and not prevented once
its guardrail is switched off; a reproduction that stops reproducing is stale, never a pass."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_faultbox
from tests.lab.conftest import edit

FM1 = "failure_modes/FM_001_retry_duplication/scenario.star"


def test_lab_run_shows_every_failure_mode_with_its_verdicts(lab_copy: Path) -> None:
    # a copy: the run's results file must not overwrite the repository lab's last results
    proc = run_faultbox("lab", "run", str(lab_copy), timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    # FM_001 reproduced: INV_001 violated, with the events that prove it
    assert "PASS: FM_001 reproduce: reproduced (INV_001 violated)" in out
    assert "the effect of j1 was applied 2 times" in out
    assert "lease_expired, attempt 2" in out  # the re-lease after the first lease ran out
    assert out.count("effect applied by worker_") == 2
    assert "PASS: FM_001 prevent: prevented by its guardrail (effects: IDEMPOTENT=1)" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("FM_0")}
    for fm in ("FM_001", "FM_002", "FM_003", "FM_004"):
        assert rows[fm].split()[-4:] == ["valid", "reproduced", "prevented", "recovered"], rows
    assert "PASS: FM_002 reproduce: reproduced (INV_002 violated)" in out
    assert "PASS: FM_003 reproduce: reproduced (INV_005 violated)" in out
    assert "held by worker_" in out and "(crashed)" in out  # FM_004's evidence names the crash


def test_prevent_fails_with_the_guardrail_switched_off(lab_copy: Path) -> None:
    edit(lab_copy / FM1, '"IDEMPOTENT": "1"', '"IDEMPOTENT": "0"')
    proc = run_faultbox("lab", "run", str(lab_copy), "--fm", "FM_001", "--stage", "prevent")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "FAIL: FM_001 prevent: not_prevented" in proc.stdout
    assert "INV_001 violated: the effect of j1 was applied 2 times" in proc.stdout
    assert "FAIL not_prevented" in proc.stdout  # the table's cell


def test_a_reproduction_without_its_fault_is_stale(lab_copy: Path) -> None:
    edit(lab_copy / FM1, "faults = [first_attempt_stalls],", "faults = [],")
    proc = run_faultbox("lab", "run", str(lab_copy), "--fm", "FM_001", "--stage", "reproduce")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "FAIL: FM_001 reproduce: stale" in proc.stdout
    assert "no longer reproduces" in proc.stdout


def test_stage_tests_run_under_faultbox_test_with_ids_as_labels(
    lab_bin: Path, tmp_path: Path
) -> None:
    junit = tmp_path / "junit.xml"
    proc = run_faultbox(
        "test", "lab/lab.star", "--test", "FM_001_baseline", "--format", "json",
        "--junit", str(junit), "-v",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failure_mode=FM_001" in proc.stderr  # the console block's labels line
    assert '<property name="failure_mode" value="FM_001"' in junit.read_text()
    assert '<property name="INV_001" value="holds"' in junit.read_text()
    test = json.loads(proc.stdout)["tests"][0]
    assert test["name"] == "test_FM_001_baseline"
    labels = test["labels"]
    assert labels["failure_mode"] == "FM_001"
    assert labels["stage"] == "baseline"
    assert labels["invariants"] == "INV_001,INV_003,INV_005"
    assert labels["verdict"] == "valid"
    assert labels["INV_001"] == "holds"
