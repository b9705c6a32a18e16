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
import pytest

from faultbox.intercept.syscalls import syscall_number
from tests.conftest import REPO, free_port, run_faultbox, write_demo_spec
from tests.core.leftovers import assert_nothing_left, processes_with, run_env


def _marked_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if marker in (proc.info["cmdline"] or []):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _start(
    tmp_path: Path, demo_bin: Path, *, wrapped: bool = False
) -> tuple[subprocess.Popen[str], str, int]:
    """faultbox running a test whose db reply is held by a 30 s delay.

    ``wrapped``: the service is a shell script that forks a daemon into a session of its own
    and runs mock-db as its child (no exec), so only the script is faultbox's direct child.
    """
    port = free_port()
    marker = f"--faultbox-test-marker={uuid.uuid4().hex}"
    binary = f"{demo_bin}/mock-db"
    if wrapped:
        binary = str(tmp_path / "wrapper.sh")
        daemon = "import time; time.sleep(300)"
        Path(binary).write_text(
            "#!/bin/sh\n"
            f"( setsid {sys.executable} -c '{daemon}' {marker} </dev/null >/dev/null 2>&1 & )\n"
            f'{demo_bin}/mock-db "$@"\n'
        )
        Path(binary).chmod(0o755)
    spec = tmp_path / "spec.star"
    spec.write_text(
        textwrap.dedent(
            f"""
            db = service("db", "{binary}", interface("main", "tcp", {port}),
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
    _wait_held_write(marker, deadline=time.monotonic() + 60)
    return proc, marker, port


def _wait_held_write(marker: str, *, deadline: float) -> None:
    """Until a thread of the marked service sits in write(2): the fault holds its answer."""
    write_nr = str(syscall_number("write"))
    while True:
        for proc in _marked_processes(marker):
            for task in Path(f"/proc/{proc.pid}/task").glob("*"):
                try:
                    if (task / "syscall").read_text().split()[0] == write_nr:
                        return
                except (OSError, IndexError):
                    continue
        assert time.monotonic() < deadline, "the service never reached the held write"
        time.sleep(0.05)


def _assert_released(marker: str, port: int) -> None:
    deadline = time.monotonic() + 30  # generous: the machine may be loaded
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
    # measured ~0.05 s; 5 s still tells an immediate stop from waiting out the 30 s delay
    assert elapsed < 5.0, f"Ctrl-C took {elapsed:.2f}s"
    _assert_released(marker, port)


def test_sigterm_mid_test_stops_services(tmp_path: Path, demo_bin: Path) -> None:
    proc, marker, port = _start(tmp_path, demo_bin)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, err
    _assert_released(marker, port)


@pytest.mark.parametrize("wrapped", [False, True], ids=["direct", "wrapper-child-and-daemon"])
def test_sigkill_of_faultbox_kills_services(tmp_path: Path, demo_bin: Path, wrapped: bool) -> None:
    proc, marker, port = _start(tmp_path, demo_bin, wrapped=wrapped)
    if wrapped:
        assert len(_marked_processes(marker)) == 3  # the script, mock-db under it, the daemon
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    _assert_released(marker, port)


def _daemonizing_service(tmp_path: Path, demo_bin: Path, kind: str) -> tuple[Path, Path]:
    """A spec whose service forks a daemon into a session of its own, then serves."""
    pidfile = tmp_path / "daemon.pid"
    daemon = f"setsid sh -c 'echo $$ > {pidfile}; exec sleep 300' </dev/null >/dev/null 2>&1"
    # "double-fork": the daemon's parent exits at once (like `daemonize yes`);
    # "child": the daemon stays the service's child until the service is stopped.
    spawn = f"( {daemon} & )" if kind == "double-fork" else f"{daemon} &"
    script = tmp_path / "svc.sh"
    port = free_port()
    script.write_text(f"#!/bin/sh\n{spawn}\nexec {demo_bin}/mock-db\n")
    script.chmod(0o755)
    spec = tmp_path / "spec.star"
    spec.write_text(
        f'db = service("db", "{script}", interface("main", "tcp", {port}),\n'
        f'    env = {{"PORT": "{port}"}}, healthcheck = tcp("localhost:{port}"))\n'
        "def test_daemon():\n"
        '    resp = db.send(data="PING")\n'
        '    assert_eq(resp, "PONG")\n'
    )
    return spec, pidfile


@pytest.mark.parametrize("kind", ["double-fork", "child"])
def test_a_daemon_forked_by_a_service_is_ended_with_its_test(
    tmp_path: Path, demo_bin: Path, kind: str
) -> None:
    spec, pidfile = _daemonizing_service(tmp_path, demo_bin, kind)
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 0, proc.stderr
    pid = int(pidfile.read_text())
    assert not psutil.pid_exists(pid), f"daemon {pid} outlived its test"
    assert "processes outlived their service" in proc.stderr, proc.stderr
    assert f"sleep (pid {pid})" in proc.stderr, proc.stderr


_FILLER = """\
import os, socket, subprocess, sys
d = sys.argv[1]
with open(os.path.join(d, "data"), "wb") as f:
    f.write(bytes(8 << 20))
# A descendant that keeps writing into the directory until it is killed.
subprocess.Popen(["sh", "-c", 'while :; do echo more >> "$0/log"; done', d])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(os.environ["PORT"])))
srv.listen(8)
while True:
    conn, _ = srv.accept()
    if conn.recv(100):
        open(os.path.join(d, "got-request"), "w").close()
        conn.sendall(b"PONG\\n")  # sendto: held by the test's fault
    conn.close()
"""


def test_sigkill_of_faultbox_leaves_no_process_and_no_directory(tmp_path: Path) -> None:
    """faultbox is SIGKILLed while the test body waits on a held reply and the service (8 MB
    in its per-test dir, a child still writing there) runs: the watchdog kills everything
    and removes the run's directories."""
    env, mark, tmpdir = run_env(tmp_path)
    port = free_port()
    script = tmp_path / "filler.py"
    script.write_text(f"#!{sys.executable}\n{_FILLER}")
    script.chmod(0o755)
    spec = tmp_path / "spec.star"
    spec.write_text(
        f'db = service("db", "{script}", interface("main", "tcp", {port}),\n'
        f'    args = ["{{tmpdir}}"], env = {{"PORT": "{port}"}},\n'
        f'    healthcheck = tcp("localhost:{port}"))\n'
        "def test_held():\n"
        '    fault(db, sendto=delay("30s"), run=lambda: db.send(data="PING"))\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "faultbox.cli", "test", str(spec)],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    # The service marks the request it holds: from then on the body is mid-test.
    while not list(tmpdir.glob("**/db/got-request")):
        assert time.monotonic() < deadline, "the test body never reached the service"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    assert list(tmpdir.glob("**/db/log"))
    assert sum(marked for _, marked in processes_with(mark)) == 2  # the service, its writer
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert_nothing_left(mark, tmpdir)


def test_a_normal_run_leaves_no_directory(tmp_path: Path, demo_bin: Path) -> None:
    """The run directory goes with faultbox's exit, without waiting for the watchdog."""
    env, mark, tmpdir = run_env(tmp_path)
    spec, _, _ = write_demo_spec(
        tmp_path / "spec.star", demo_bin,
        'def test_ping():\n    assert_eq(db.send(data="PING"), "PONG")\n',
    )  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "faultbox.cli", "test", str(spec)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmpdir.iterdir()) == []
    assert_nothing_left(mark, tmpdir)
