"""What a faultbox run may leave behind, found without knowing its run id.

Tests start faultbox with ``TMPDIR`` pointing into their own ``tmp_path`` (every directory
of the run is created there) and with a unique variable in its environment (inherited by the
watchdog, every service and everything those start).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

RUN_ID_ENV = b"FAULTBOX_RUN_ID="


def run_env(tmp_path: Path) -> tuple[dict[str, str], str, Path]:
    """(environment for faultbox, its mark, its TMPDIR): a fresh, empty TMPDIR."""
    mark = f"H5_LEFTOVER_MARK={uuid.uuid4().hex}"
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ)
    key, value = mark.split("=")
    env[key] = value
    env["TMPDIR"] = str(tmpdir)
    return env, mark, tmpdir


def processes_with(mark: str) -> list[tuple[int, bool]]:
    """(pid, carries FAULTBOX_RUN_ID) of every live process whose environment has ``mark``."""
    needle = mark.encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if needle in env:
            found.append((int(name), any(v.startswith(RUN_ID_ENV) for v in env)))
    return found


def leftovers(mark: str, tmpdir: Path) -> tuple[list[tuple[int, bool]], list[str]]:
    """Live processes of the run and entries left in its TMPDIR."""
    return processes_with(mark), sorted(p.name for p in tmpdir.iterdir())


def assert_nothing_left(mark: str, tmpdir: Path, within_s: float = 30.0) -> None:
    """No process of the run and nothing in its TMPDIR, waiting up to ``within_s`` for the
    watchdog (it acts once faultbox is gone; 30 s: it is a process of its own, slow to be
    scheduled when every core is busy)."""
    deadline = time.monotonic() + within_s
    left = leftovers(mark, tmpdir)
    while (left[0] or left[1]) and time.monotonic() < deadline:
        time.sleep(0.05)
        left = leftovers(mark, tmpdir)
    procs, entries = left
    assert procs == [], f"processes left behind (pid, marked): {procs}"
    assert entries == [], f"left in TMPDIR: {entries}"
