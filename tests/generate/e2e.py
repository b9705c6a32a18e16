"""Helpers and fixtures shared by tests/generate and tests/composition: specs on disk, the
faultbox CLI. Both directories' conftest.py import the fixtures from here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# The seed chapters: CI clones the repo with shared/ beside it.
SEEDS = next(
    (p for p in (REPO.parent / "shared" / "seeds", Path("/work/shared/seeds")) if p.is_dir()),
    REPO.parent / "shared" / "seeds",
)

#: The ch10 topology, as the tutorial writes it (BIN = "bin").
CH10_TOPOLOGY = (EXAMPLES / "ch10" / "scenario-test.star").read_text(encoding="utf-8")


def workdir(tmp: Path, bin_dir: Path | None, *examples: str) -> Path:
    """``tmp`` with ``bin`` → the demo binaries and copies of ``examples/<chapter>/<file>``."""
    if bin_dir is not None and not (tmp / "bin").exists():
        (tmp / "bin").symlink_to(bin_dir, target_is_directory=True)
    for rel in examples:
        shutil.copy(EXAMPLES / rel, tmp / Path(rel).name)
    return tmp


def faultbox(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run ``python -m faultbox.cli ARGS`` in ``cwd`` as a user would (stdout/stderr captured)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "faultbox.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def seed_block(seed_file: str, first_line: str, stop: str) -> str:
    """Lines of a seed chapter from the one starting with ``first_line`` up to ``stop``."""
    lines = (SEEDS / seed_file).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_line))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(stop))
    return "\n".join(lines[start:end])


# ---------------------------------------------------------------- fixtures (see the conftests)


@pytest.fixture(scope="session")
def demo_bins(demo_bin: Path) -> Path:
    """The demo services (built once per session by tests/conftest.py's ``demo_bin``)."""
    return demo_bin


@pytest.fixture
def spec_dir(tmp_path: Path, demo_bins: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary current directory with ``bin`` → the demo binaries (specs are loaded from it)."""
    workdir(tmp_path, demo_bins)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.fixture(scope="session")
def fbx():  # noqa: ANN201 - the helper module (specs on disk, the faultbox CLI)
    """This module: ``fbx.faultbox(...)``, ``fbx.workdir(...)``, ``fbx.REPO`` …"""
    return sys.modules[__name__]
