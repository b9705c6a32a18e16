"""SIGINT and SIGTERM end faultbox in exit 130 whenever they arrive, with nothing left behind.

Points covered: while faultbox imports its modules, while a test body waits on a held reply,
while a teardown waits for a service's slow SIGTERM handler (once: the teardown completes;
twice: the services are killed, the directories still go), and after the summary line.
Synchronisation is on files the services write and on faultbox's output lines.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port, run_faultbox
from tests.core.leftovers import assert_nothing_left, run_env

SIGNALS = [signal.SIGINT, signal.SIGTERM]
IDS = ["SIGINT", "SIGTERM"]

# A TCP service: on a request it marks it (file "got-request") and answers; the answer's
# sendto is what test bodies hold with a fault. On SIGTERM it marks that ("term"), waits for
# the file "release", marks a clean exit ("clean-exit") and exits 0.
_SERVICE = """\
import os, signal, socket, sys, time
state = sys.argv[1]
def mark(name):
    open(os.path.join(state, name), "w").close()
def on_term(signum, frame):
    mark("term")
    while not os.path.exists(os.path.join(state, "release")):
        time.sleep(0.01)
    mark("clean-exit")
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(os.environ["PORT"])))
srv.listen(8)
while True:
    conn, _ = srv.accept()
    if conn.recv(100):
        mark("got-request")
        conn.sendall(b"PONG\\n")
    conn.close()
"""


class Faultbox:
    """``faultbox test`` running in the background; its stderr read line by line."""

    def __init__(self, tmp_path: Path, body: str) -> None:
        self.env, self.mark, self.tmpdir = run_env(tmp_path)
        self.state = tmp_path / "state"
        self.state.mkdir()
        port = free_port()
        script = tmp_path / "svc.py"
        script.write_text(f"#!{sys.executable}\n{_SERVICE}")
        script.chmod(0o755)
        spec = tmp_path / "spec.star"
        spec.write_text(
            f'svc = service("svc", "{script}", interface("main", "tcp", {port}),\n'
            f'    args = ["{self.state}", "{{tmpdir}}"], env = {{"PORT": "{port}"}},\n'
            f'    healthcheck = tcp("localhost:{port}"), stop_timeout = "5m")\n'
            + textwrap.dedent(body)
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "faultbox.cli", "test", str(spec)],
            cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_line(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line is not None, f"faultbox ended before {text!r}:\n{''.join(self.stderr)}"
            if text in line:
                return

    def wait_file(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not (self.state / name).exists():
            assert time.monotonic() < deadline, f"no {name}:\n{''.join(self.stderr)}"
            assert self.proc.poll() is None, f"faultbox ended:\n{''.join(self.stderr)}"
            time.sleep(0.01)

    def kill(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        """Exit code and stderr; asserts no traceback and nothing left behind."""
        code = self.proc.wait(timeout)
        deadline = time.monotonic() + 10
        while self.lines.get(timeout=max(0.0, deadline - time.monotonic())) is not None:
            pass
        err = "".join(self.stderr)
        assert "Traceback" not in err, err
        assert_nothing_left(self.mark, self.tmpdir)
        return code, err


_HELD = """
def test_held():
    fault(svc, sendto=delay("5m"), run=lambda: svc.send(data="PING"))
"""

_QUICK = """
def test_quick():
    assert_eq(svc.send(data="PING"), "PONG")
"""


def _handlers_installed(pid: int) -> bool:
    """Whether the process catches both SIGINT and SIGTERM (from /proc/PID/status)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = next(int(ln.split()[1], 16) for ln in f if ln.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return all(caught & (1 << (sig - 1)) for sig in SIGNALS)


@pytest.mark.parametrize("sig", SIGNALS, ids=IDS)
@pytest.mark.parametrize("later_s", [0.0, 0.05, 0.1, 0.2])
def test_a_signal_during_start_up(tmp_path: Path, sig: int, later_s: float) -> None:
    """From faultbox's first line (handlers caught) on, while modules still import: 130.

    ``later_s`` only moves the moment around (the outcome must not depend on it); a signal
    that went unnoticed would leave faultbox held by the 5 minute fault.
    """
    fb = Faultbox(tmp_path, _HELD)
    deadline = time.monotonic() + 30
    while not _handlers_installed(fb.proc.pid):
        assert time.monotonic() < deadline and fb.proc.poll() is None, "".join(fb.stderr)
        time.sleep(0.001)
    time.sleep(later_s)
    fb.kill(sig)
    code, err = fb.finish()
    assert code == 130, err
    assert "interrupted" in err


@pytest.mark.parametrize("sig", SIGNALS, ids=IDS)
def test_a_signal_during_a_test_body(tmp_path: Path, sig: int) -> None:
    fb = Faultbox(tmp_path, _HELD)
    fb.wait_file("got-request")  # the reply is held: the body waits
    fb.kill(sig)
    (fb.state / "release").touch()  # the service's SIGTERM handler may finish
    code, err = fb.finish()
    assert code == 130, err
    assert "interrupted: services stopped" in err


@pytest.mark.parametrize("sig", SIGNALS, ids=IDS)
def test_a_signal_during_teardown_lets_it_complete(tmp_path: Path, sig: int) -> None:
    fb = Faultbox(tmp_path, _QUICK)
    fb.wait_file("term")  # teardown sent SIGTERM; the service is in its slow handler
    fb.kill(sig)
    fb.wait_line("interrupted: stopping the services")
    assert fb.proc.poll() is None  # still tearing down: waiting for the service
    (fb.state / "release").touch()
    code, err = fb.finish()
    assert code == 130, err
    assert (fb.state / "clean-exit").exists(), "the teardown was cut short"
    assert "interrupted: services stopped" in err


@pytest.mark.parametrize("sig", SIGNALS, ids=IDS)
def test_a_second_signal_during_teardown_kills_the_services(tmp_path: Path, sig: int) -> None:
    fb = Faultbox(tmp_path, _QUICK)
    fb.wait_file("term")
    fb.kill(sig)
    fb.wait_line("interrupted: stopping the services")
    fb.kill(sig)  # no release: only killing the service ends the teardown
    code, err = fb.finish()
    assert code == 130, err
    assert "interrupted again: killing the services" in err
    assert not (fb.state / "clean-exit").exists()


@pytest.mark.parametrize("sig", SIGNALS, ids=IDS)
def test_a_signal_after_the_summary_is_no_death_by_signal(tmp_path: Path, sig: int) -> None:
    """Right after the summary line: 130 if faultbox saw the signal, or the run's own 0 if it
    arrived once the exit had begun (then it is ignored) — never killed by it."""
    for i in range(5):
        run_dir = tmp_path / f"run{i}"
        run_dir.mkdir()
        fb = Faultbox(run_dir, _QUICK)
        fb.wait_file("term")
        (fb.state / "release").touch()
        fb.wait_line("1 passed, 0 failed")
        fb.kill(sig)
        code, err = fb.finish()
        assert code in (0, 130), err


def test_an_empty_test_name_is_a_usage_error(tmp_path: Path) -> None:
    spec = tmp_path / "spec.star"
    spec.write_text("def test_a():\n    pass\n")
    proc = run_faultbox("test", str(spec), "--test", "")
    assert proc.returncode == 1, proc.stderr
    assert "Invalid value for --test: needs a test name, got an empty string" in proc.stderr
    assert "PASS" not in proc.stderr
