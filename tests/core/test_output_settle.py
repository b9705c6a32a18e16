"""A line a service logged before it answered is an event when the test looks, under load.

``OutputCapture.settle`` once returned as soon as the pipe was empty and the reader looked
idle; a reader that had already taken the bytes out of the pipe but not yet turned them into
lines was missed (a flaky ``assert_eventually`` on a log line in chapter 11). Here a service
logs many lines, one write each, right before each answer, while busy loops load every core,
and the test body counts the events right after each answer, hundreds of times.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, run_faultbox

LINES_PER_ANSWER = 25
ROUNDS = 100

_SERVICE = """\
import os, socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(os.environ["PORT"])))
srv.listen(16)
n = 0
while True:
    conn, _ = srv.accept()
    with conn:
        if not conn.recv(100):
            continue  # the healthcheck's connection
        n += 1
        for i in range(LINES):
            # One write per line, the last one an ERROR, all before the answer.
            level = "ERROR" if i == LINES - 1 else "INFO"
            os.write(1, f'{{"level": "{level}", "request": {n}, "line": {i}}}\\n'.encode())
        conn.sendall(f"ANSWER {n}\\n".encode())
"""


@pytest.fixture
def busy_cores() -> Iterator[None]:
    """One busy loop per core for the duration of the test."""
    loops = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 2)
    ]
    try:
        yield
    finally:
        for proc in loops:
            proc.kill()
            proc.wait()


def test_lines_logged_before_an_answer_are_events_right_after_it(
    tmp_path: Path, busy_cores: None
) -> None:
    port = free_port()
    script = tmp_path / "logger.py"
    script.write_text(f"#!{sys.executable}\n" + _SERVICE.replace("LINES", str(LINES_PER_ANSWER)))
    script.chmod(0o755)
    spec = tmp_path / "settle.star"
    spec.write_text(
        textwrap.dedent(
            f"""
            logger = service("logger", "{script}", interface("main", "tcp", {port}),
                env = {{"PORT": "{port}"}}, healthcheck = tcp("localhost:{port}"))

            def test_every_line_is_an_event_once_answered():
                for n in range(1, {ROUNDS + 1}):
                    assert_eq(logger.send(data="GO"), "ANSWER %d" % n)
                    # The last line of this answer, checked first (what chapter 11 does) ...
                    assert_eventually(service="logger", type="stdout",
                        where=lambda e: e.data["level"] == "ERROR" and e.data["request"] == n)
                    # ... then every line of every answer so far.
                    assert_eq(len(events(service="logger", type="stdout")),
                              n * {LINES_PER_ANSWER})
            """
        )
    )
    proc = run_faultbox("test", str(spec), "--runs", "2")
    assert proc.returncode == 0, proc.stderr
    assert "1 passed, 0 failed" in proc.stderr, proc.stderr
