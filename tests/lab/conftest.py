"""Fixtures of the failure-lab tests: the lab services built into bin/, a copy of the lab."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="session")
def lab_bin(demo_bin: Path) -> Path:
    """bin/ with the demo and the lab services (lab/build.py, idempotent)."""
    subprocess.run(
        [sys.executable, str(REPO / "lab" / "build.py"), "--bin", str(demo_bin)],
        check=True,
        capture_output=True,
    )
    return demo_bin


@pytest.fixture
def lab_copy(tmp_path: Path, lab_bin: Path) -> Path:
    """A copy of lab/ (specs only) whose topology points at the real bin/."""
    dest = tmp_path / "lab"
    shutil.copytree(
        REPO / "lab",
        dest,
        ignore=shutil.ignore_patterns("*.py", "*.md", ".lab-results.json", "__pycache__"),
    )
    topo = dest / "topology.star"
    topo.write_text(topo.read_text().replace('BIN = "../bin/"', f'BIN = "{lab_bin}/"'))
    return dest


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact occurrence of ``old`` in ``path`` (the test's variant of a bundle)."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    path.write_text(text.replace(old, new))
