"""Nothing is left behind: after Ctrl-C or SIGKILL of faultbox mid-test, no service survives."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psutil

from tests.conftest import REPO, free_port


def _marked_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if marker in (proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _start(tmp_path: Path, demo_bin: Path) -> tuple[subprocess.Popen[str], str, int]:
    """faultbox running a test whose db reply is held by a 30 s delay."""
    port = free_port()
    marker = f"--faultbox-test-marker={uuid.uuid4().hex}"
    spec = tmp_path / "spec.star"
    spec.write_text(
        textwrap.dedent(
            f"""
            db = service("db", "{demo_bin}/mock-db", interface("main", "tcp", {port}),
                args = ["{marker}"], env = {{"PORT": "{port}"}},
                healthcheck = tcp("localhost:{port}"))
            def test_held():
                def body():
                    db.send(data="PING")
                fault(db, write=delay("30s"), run=body)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "faultbox.cli", "test", str(spec)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while not _marked_processes(marker):
        assert time.monotonic() < deadline, "the service never started"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)  # let the test body reach the held syscall
    return proc, marker, port


def _assert_released(marker: str, port: int) -> None:
    deadline = time.monotonic() + 3
    while _marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked_processes(marker) == []
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_sigint_mid_test_stops_services_fast(tmp_path: Path, demo_bin: Path) -> None:
    proc, marker, port = _start(tmp_path, demo_bin)
    sent = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert "Traceback" not in err
    assert elapsed < 1.0, f"Ctrl-C took {elapsed:.2f}s"  # measured ~0.05 s
    _assert_released(marker, port)


def test_sigterm_mid_test_stops_services(tmp_path: Path, demo_bin: Path) -> None:
    proc, marker, port = _start(tmp_path, demo_bin)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    _assert_released(marker, port)


def test_sigkill_of_faultbox_kills_services(tmp_path: Path, demo_bin: Path) -> None:
    proc, marker, port = _start(tmp_path, demo_bin)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    _assert_released(marker, port)
