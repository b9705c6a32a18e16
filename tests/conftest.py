"""Fixtures shared by every test directory: the repo, the demo binaries, running faultbox."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_bin() -> Path:
    """The demo services, built once per test session into <repo>/bin."""
    subprocess.run(
        [sys.executable, str(REPO / "demo" / "build.py"), "--bin", str(REPO / "bin")],
        check=True,
        capture_output=True,
    )
    return REPO / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_faultbox(
    *args: str, cwd: Path | str = REPO, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the faultbox CLI as a user would, capturing output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "faultbox.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
