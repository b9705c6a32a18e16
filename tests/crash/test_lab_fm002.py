"""The failure lab's FM_002 uses the power-loss crash: its recover stage crashes the effects
store with crash(lose_unsynced=True), and the guardrail (one journal record, fsync'ed before
the answer) still holds every transfer after the restart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, run_faultbox


def test_fm002_recover_survives_a_power_loss(demo_bin: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "lab" / "build.py"), "--bin", str(demo_bin)],
        check=True,
        capture_output=True,
    )
    out = tmp_path / "fm2.json"
    proc = run_faultbox(
        "test", "lab/lab.star", "--test", "FM_002_recover", "--output", str(out), timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (test,) = json.loads(out.read_text())["tests"]
    assert test["labels"]["verdict"] == "recovered", test["labels"]
    crashes = [e for e in test["events"] if e["type"] == "crash"]
    assert [(c["service"], c["fields"]["lose_unsynced"]) for c in crashes] == [("effects", "true")]
    # the power loss did undo something (the denied credit's truncated view file) and the
    # journal, fsync'ed at every commit, lost nothing: no journal.log among what was dropped
    dropped = [e["fields"]["path"] for e in test["events"] if e["type"] == "unsynced_dropped"]
    assert dropped and not [p for p in dropped if p.endswith("journal.log")], dropped
