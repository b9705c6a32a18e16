"""A service that exits by itself during a test fails it, unless the test expected the exit
(crash(), a query over its service_exited event, restart()). Real processes, `faultbox test`."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from tests.conftest import free_port, run_faultbox

# "die" → says why on stderr, answers "bye" without a newline and exits 3: the step reads until
# the connection closes, which the exit does, so the exit has happened when the step returns.
# "ping" → "pong".
SERVICE = """
    import os, socket, sys

    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", int(os.environ["PORT"])))
    s.listen()
    while True:
        conn, _ = s.accept()
        word = conn.recv(100).decode().strip()
        if word == "die":
            print("fatal: out of cheese", file=sys.stderr, flush=True)
            conn.sendall(b"bye")
            os._exit(3)
        if word:
            conn.sendall(b"pong\\n")
        conn.close()
"""


def _spec(tmp_path: Path, tests: str) -> Path:
    binary = tmp_path / "svc.py"
    binary.write_text(f"#!{sys.executable}\n" + textwrap.dedent(SERVICE).lstrip())
    binary.chmod(0o755)
    lines = []
    for name in ("worker", "api"):
        port = free_port()
        lines.append(
            f'{name} = service("{name}", "{binary}", interface("main", "tcp", {port}),\n'
            f'    env = {{"PORT": "{port}"}}, healthcheck = tcp("localhost:{port}"))\n'
        )
    spec = tmp_path / "spec.star"
    spec.write_text("".join(lines) + textwrap.dedent(tests))
    return spec


def _run(tmp_path: Path, tests: str) -> tuple[int, str, dict]:
    spec = _spec(tmp_path, tests)
    out = tmp_path / "out.json"
    proc = run_faultbox("test", str(spec), "--output", str(out))
    doc = json.loads(out.read_text())
    return proc.returncode, proc.stderr, doc["tests"][0]


def test_an_exit_nobody_asserted_on_fails_an_unrelated_test(tmp_path: Path) -> None:
    code, err, test = _run(
        tmp_path,
        """
        def test_api_answers():
            worker.main.send(data="die")       # the worker dies; the test only checks api
            assert_eq(api.main.send(data="ping"), "pong")
        """,
    )
    assert code == 2, err
    assert test["result"] == "fail"
    assert test["failure_type"] == "service_exited"
    assert test["reason"].startswith(
        "service worker exited unexpectedly during the test (exit code 3, event #"
    ), test["reason"]
    assert test["reason"].endswith(": fatal: out of cheese"), test["reason"]
    # The exit was recorded before teardown: the block names it.
    assert "  ERROR: service worker exited during the test (exit code 3, event #" in err
    assert 'assert_eventually(type="service_exited", service="worker")' in err
    exits = [e for e in test["events"] if e["type"] == "service_exited"]
    assert [(e["service"], e["fields"]["exit_code"]) for e in exits] == [("worker", "3")]


def test_crash_is_an_expected_exit(tmp_path: Path) -> None:
    code, err, test = _run(
        tmp_path,
        """
        def test_crash():
            crash(worker)
            assert_eq(api.main.send(data="ping"), "pong")
        """,
    )
    assert code == 0, err
    assert test["result"] == "pass"


def test_an_exit_the_test_asserts_on_passes(tmp_path: Path) -> None:
    code, err, test = _run(
        tmp_path,
        """
        def test_asserted():
            worker.main.send(data="die")
            assert_eventually(type="service_exited", service="worker", exit_code="3")
            assert_eq(api.main.send(data="ping"), "pong")
        """,
    )
    assert code == 0, err
    assert "  NOTE: service worker exited during the test (exit code 3, event #" in err


def test_a_query_over_another_service_does_not_count(tmp_path: Path) -> None:
    code, err, test = _run(
        tmp_path,
        """
        def test_wrong_service():
            worker.main.send(data="die")
            assert_never(type="service_exited", service="api")
        """,
    )
    assert code == 2, err
    assert test["failure_type"] == "service_exited"


def test_restart_handles_the_exit(tmp_path: Path) -> None:
    code, err, test = _run(
        tmp_path,
        """
        def test_restart():
            worker.main.send(data="die")
            restart(worker)
            assert_eq(worker.main.send(data="ping"), "pong")
        """,
    )
    assert code == 0, err
