"""No container of a run remains: after a normal run, after Ctrl-C and after SIGKILL of
faultbox in the middle of a test (the watchdog removes the run's labelled containers)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.containers.fb_containers import REPO, labelled_containers, wait_for_container

pytestmark = pytest.mark.usefixtures("engine")


def _spec(tmp_path: Path, name: str) -> tuple[Path, int]:
    port = free_port()
    spec = tmp_path / "hang.star"
    spec.write_text(
        f'api = service("{name}", interface("http", "http", {port}),\n'
        '    image = "faultbox-test/app:latest",\n'
        f'    env = {{"PORT": "{port}"}},\n'
        f'    healthcheck = http("localhost:{port}/health", timeout="60s"),\n'
        ")\n"
        "def test_held_answer():\n"
        "    # the answer's send is held for 25 s: the test is in its body meanwhile\n"
        f'    fault(api, sendto=delay("25s"), run=lambda: api.http.get(path="/health"))\n'
    )
    return spec, port


def _start(spec: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "faultbox.cli", "test", str(spec)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_mid_test(name: str, port: int) -> None:
    wait_for_container(f"faultbox.service={name}")
    deadline = time.monotonic() + 60
    while True:  # the app listens: the healthcheck passes and the body starts
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # polling with a deadline, not synchronisation


def _wait_gone(label: str, timeout_s: float = 90.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    left = labelled_containers(label)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)  # the watchdog is removing them
        left = labelled_containers(label)
    return left


def test_sigkill_of_faultbox_mid_test_removes_the_runs_containers(tmp_path: Path) -> None:
    name = f"killed-{os.getpid()}"
    spec, port = _spec(tmp_path, name)
    proc = _start(spec)
    try:
        _wait_mid_test(name, port)
        assert labelled_containers(f"faultbox.service={name}")
        proc.kill()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        assert proc.stdout is not None
        proc.stdout.close()
    assert _wait_gone(f"faultbox.service={name}") == []


def test_ctrl_c_mid_test_removes_the_containers_and_exits_130(tmp_path: Path) -> None:
    name = f"interrupted-{os.getpid()}"
    spec, port = _spec(tmp_path, name)
    proc = _start(spec)
    try:
        _wait_mid_test(name, port)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 130, out
    # removed by the test's own teardown, before faultbox exited (no watchdog needed)
    assert labelled_containers(f"faultbox.service={name}") == []
