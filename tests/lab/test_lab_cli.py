"""faultbox lab new / index / run's checks of the lab directory."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_faultbox


def test_new_scaffolds_a_bundle_that_reports_stale_until_written(lab_copy: Path) -> None:
    proc = run_faultbox("lab", "new", "poison message", "--dir", str(lab_copy))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bundle = lab_copy / "failure_modes" / "FM_005_poison_message"
    assert (bundle / "spec.md").read_text().startswith("# FM_005 — poison message")
    assert "## Acceptance criteria" in (bundle / "spec.md").read_text()
    lab_star = (lab_copy / "lab.star").read_text()
    assert 'load("failure_modes/FM_005_poison_message/scenario.star", "FM_005")' in lab_star
    proc = run_faultbox("lab", "run", str(lab_copy), "--fm", "FM_005")
    assert proc.returncode == 2, proc.stdout + proc.stderr  # no fault yet: reproduce is stale
    assert "PASS: FM_005 baseline: valid" in proc.stdout
    assert "FAIL: FM_005 reproduce: stale" in proc.stdout
    again = run_faultbox("lab", "new", "FM_005_other", "--dir", str(lab_copy))
    assert again.returncode == 1 and "FM_005 exists already" in again.stderr


def test_index_lists_every_failure_mode_with_its_last_status(lab_copy: Path) -> None:
    proc = run_faultbox("lab", "run", str(lab_copy), "--fm", "FM_002", "--stage", "baseline")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_faultbox("lab", "index", str(lab_copy))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = (lab_copy / "failure_mode_index.md").read_text()
    for fm in ("FM_001", "FM_002", "FM_003", "FM_004"):
        assert f"[{fm}](failure_modes/{fm}_" in index
    row = next(line for line in index.splitlines() if line.startswith("| [FM_002]"))
    assert "INV_002, INV_001, INV_004, INV_005" in row
    assert "write(2) of the credit leg fails" in row  # the trigger
    assert "| valid | - | - | - |" in row  # baseline run; the other stages not yet


def test_a_bundle_the_lab_spec_does_not_load_is_an_error(lab_copy: Path) -> None:
    (lab_copy / "failure_modes" / "FM_009_orphan").mkdir()
    proc = run_faultbox("lab", "run", str(lab_copy))
    assert proc.returncode == 1
    assert "declares no failure_mode('FM_009')" in proc.stderr


def test_unknown_failure_mode_is_a_usage_error(lab_copy: Path) -> None:
    proc = run_faultbox("lab", "run", str(lab_copy), "--fm", "FM_077")
    assert proc.returncode == 1
    assert "no failure mode 'FM_077'" in proc.stderr and "FM_001" in proc.stderr
