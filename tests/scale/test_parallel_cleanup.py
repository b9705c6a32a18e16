"""-j 2 leaves nothing behind: SIGINT or SIGKILL of faultbox while two tests run at once (each
in its own namespaces, on the same port) ends every worker and service and every directory,
and the cells' network and mount namespaces (held by no process, no descriptor) with their
private /tmp mounts (none on the host).

Synchronisation is on files the services write, in a directory outside /tmp (a cell's /tmp
writes are private to it): both requests are held, so both tests are mid-body together.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port
from tests.core.leftovers import assert_nothing_left, processes_with, run_env

_SERVICE = """\
import os, socket, sys
state = sys.argv[1]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(os.environ["PORT"])))
srv.listen(8)
while True:
    conn, _ = srv.accept()
    if conn.recv(100):
        open(os.path.join(state, f"got-request-{os.getpid()}"), "w").close()
        conn.sendall(b"PONG\\n")  # sendto: held by the test's fault
    conn.close()
"""

_TESTS = """
def test_held_a():
    fault(svc, sendto=delay("5m"), run=lambda: svc.send(data="PING"))
def test_held_b():
    fault(svc, sendto=delay("5m"), run=lambda: svc.send(data="PING"))
"""


@pytest.fixture
def state() -> Iterator[Path]:
    """A directory outside /tmp, seen by the host and by every cell alike."""
    path = Path("/dev/shm") / f"faultbox-scale-{uuid.uuid4().hex}"
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


_OURS = {kind: os.stat(f"/proc/self/ns/{kind}").st_ino for kind in ("net", "mnt")}


def _cell_namespaces(pids: list[int]) -> dict[str, set[int]]:
    """The network and mount namespaces of ``pids`` other than this process's own."""
    found: dict[str, set[int]] = {"net": set(), "mnt": set()}
    for pid in pids:
        for kind in found:
            ino = os.stat(f"/proc/{pid}/ns/{kind}").st_ino
            if ino != _OURS[kind]:
                found[kind].add(ino)
    return found


def _holders(namespaces: dict[str, set[int]]) -> list[str]:
    """Every process still in one of ``namespaces``, or holding a descriptor of one."""
    wanted = {f"{kind}:[{ino}]" for kind, inos in namespaces.items() for ino in inos}
    held = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        links = [f"/proc/{pid}/ns/{kind}" for kind in namespaces]
        try:
            links += [f"/proc/{pid}/fd/{fd}" for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue  # gone meanwhile
        for link in links:
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if target in wanted:
                held.append(f"{link} -> {target}")
    return held


def _assert_namespaces_gone(namespaces: dict[str, set[int]], within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while (held := _holders(namespaces)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held == [], f"cell namespaces still held: {held}"
    with open("/proc/self/mountinfo") as f:
        cell_mounts = [line for line in f if "faultbox-cell" in line]
    assert cell_mounts == [], f"a cell's /tmp mount reached the host: {cell_mounts}"


def _start(tmp_path: Path, state: Path) -> tuple[subprocess.Popen[str], str, Path]:
    env, mark, tmpdir = run_env(tmp_path)
    port = free_port()
    script = tmp_path / "svc.py"
    script.write_text(f"#!{sys.executable}\n{_SERVICE}")
    script.chmod(0o755)
    spec = tmp_path / "spec.star"
    spec.write_text(
        f'svc = service("svc", "{script}", interface("main", "tcp", {port}),\n'
        f'    args = ["{state}"], env = {{"PORT": "{port}"}},\n'
        f'    healthcheck = tcp("localhost:{port}"))\n' + _TESTS
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "faultbox.cli", "test", str(spec), "-j", "2", "--timeout", "10m"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    # Both requests held at once: only two concurrent, isolated tests can get here (at -j 1
    # the second test would start after the first's 5 minutes).
    deadline = time.monotonic() + 120
    while len(list(state.glob("got-request-*"))) < 2:
        assert time.monotonic() < deadline, "the two tests never held a request together"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    return proc, mark, tmpdir


def test_sigint_during_a_j2_run_stops_both_tests(tmp_path: Path, state: Path) -> None:
    proc, mark, tmpdir = _start(tmp_path, state)
    # faultbox, two workers, two services (and nothing else) carry the mark.
    assert sum(marked for _, marked in processes_with(mark)) == 2  # the services
    cells = _cell_namespaces([pid for pid, _ in processes_with(mark)])
    assert len(cells["net"]) == len(cells["mnt"]) == 2  # one of each per running test
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted: services stopped" in err
    assert "Traceback" not in err
    assert_nothing_left(mark, tmpdir)
    _assert_namespaces_gone(cells)


def test_sigkill_during_a_j2_run_leaves_nothing(tmp_path: Path, state: Path) -> None:
    proc, mark, tmpdir = _start(tmp_path, state)
    assert len(processes_with(mark)) == 6  # faultbox, its watchdog, two workers, two services
    cells = _cell_namespaces([pid for pid, _ in processes_with(mark)])
    assert len(cells["net"]) == len(cells["mnt"]) == 2
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    # The workers die with faultbox (parent-death signal), the marked services by the
    # watchdog; their namespaces and private /tmp go with their last process.
    assert_nothing_left(mark, tmpdir)
    _assert_namespaces_gone(cells)
