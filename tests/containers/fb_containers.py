"""Helpers of the container tests: what the engine holds, running faultbox on a spec."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "ch11" / "containers"
SPECS = Path(__file__).resolve().parent / "specs"


def labelled_containers(label: str = "faultbox.run") -> list[str]:
    """Names of the containers (any state) that carry ``label`` (``key`` or ``key=value``)."""
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


def wait_for_container(label: str, timeout_s: float = 120.0) -> str:
    """The name of the first running container with ``label``, polled until it appears."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["docker", "ps", "--filter", f"label={label}", "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        names = out.stdout.split()
        if names:
            return names[0]
        time.sleep(0.2)  # polling with a deadline: the container appears when faultbox starts it
    raise AssertionError(f"no running container with label {label} within {timeout_s}s")
