"""The Docker engine and the local images for tests/containers (docs/containers.md).

Once per session, ``tests/containers.sh up`` makes an engine answer (starting dockerd if none
does and we are root) and builds the images (cached by content). A dockerd started here is
stopped at the end of the session (one started by ``make test`` is stopped by make). Where no
engine can run, the tests that need one skip, with the reason printed (``-rs``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "tests" / "containers.sh"
STATUS = Path(os.environ.get("FAULTBOX_DOCKER_STATUS", "/tmp/faultbox-docker-status"))
DOCKERD_PIDFILE = Path("/tmp/faultbox-dockerd.pid")  # written by containers.sh for its dockerd
_setup_problem: list[str] = []


@pytest.fixture(scope="session", autouse=True)
def _engine_and_images() -> Iterator[None]:
    started_here = not DOCKERD_PIDFILE.exists()
    proc = subprocess.run(["sh", str(SETUP), "up"], capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        _setup_problem.append(f"tests/containers.sh up failed: {proc.stderr.strip()[-800:]}")
    elif STATUS.exists():
        _setup_problem.append(STATUS.read_text().strip())
    try:
        yield
    finally:
        if started_here and DOCKERD_PIDFILE.exists():
            subprocess.run(["sh", str(SETUP), "down"], capture_output=True, timeout=120)


@pytest.fixture
def engine() -> None:
    """Skip (reason printed) unless an engine answers and the images are built."""
    if _setup_problem:
        print(f"SKIP containers: {_setup_problem[0]}")
        pytest.skip(f"no Docker engine for the container tests: {_setup_problem[0]}")
