"""`faultbox test` on real processes: outcomes, exit codes and the messages users see."""

from __future__ import annotations

import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import free_port, run_faultbox, write_demo_spec


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def script(path: Path, body: str) -> str:
    """An executable Python script usable as a service binary."""
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body).lstrip())
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def db_spec(tmp_path: Path, demo_bin: Path):
    """A spec with one mock-db on a free port, plus the given test functions."""

    def make(tests: str) -> tuple[Path, int]:
        spec, port, _ = write_demo_spec(tmp_path / "spec.star", demo_bin, tests)
        return spec, port

    return make


def test_passing_test_prints_pass_and_totals(db_spec) -> None:
    spec, _ = db_spec(
        """
        def test_ping():
            assert_eq(db.main.send(data="PING"), "PONG")
            assert_eq(db.send(data="SET k v"), "OK")
        """
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 0, proc.stderr
    assert "--- PASS: test_ping (" in proc.stderr
    assert "seed=0) ---" in proc.stderr
    assert proc.stderr.rstrip().endswith("1 passed, 0 failed")


def test_assertion_failure_gives_reason_location_and_replay(db_spec) -> None:
    spec, _ = db_spec(
        """
        def test_wrong():
            got = db.send(data="PING")
            assert_eq(got, "PANG", "db should answer")
        """
    )
    proc = run_faultbox("test", str(spec), "--seed", "7")
    assert proc.returncode == 2
    err = proc.stderr
    assert "--- FAIL: test_wrong (" in err
    assert 'reason: assert_eq failed: "PONG" != "PANG" (db should answer)' in err
    line = spec.read_text().splitlines().index('    assert_eq(got, "PANG", "db should answer")') + 1
    at = next(ln.strip() for ln in err.splitlines() if ln.strip().startswith("at: "))
    assert at.endswith(f"spec.star:{line}"), at  # relative to the cwd when close, else absolute
    assert f"replay: faultbox test {spec} --test wrong --seed 7" in err
    assert err.rstrip().endswith("0 passed, 1 failed")


def test_runtime_error_in_body_is_a_failure_not_a_traceback(db_spec) -> None:
    spec, _ = db_spec(
        """
        def test_bad_index():
            x = [1, 2]
            return x[5]
        """
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--- FAIL: test_bad_index" in proc.stderr
    assert "index" in proc.stderr


def test_timeout_of_a_busy_body_is_enforced(db_spec) -> None:
    spec, _ = db_spec(
        """
        def test_spin():
            n = 0
            for i in range(1000000000):
                n += i
        """
    )
    start = time.monotonic()
    proc = run_faultbox("test", str(spec), "--timeout", "1s")
    assert proc.returncode == 2
    assert "reason: test timed out after 1s" in proc.stderr
    # the loop would run for minutes; 40 s leaves room for start-up on a loaded machine
    assert time.monotonic() - start < 40


def test_timeout_while_a_syscall_is_held(db_spec) -> None:
    """A 60 s delay on the db's reply cannot hold the test past its timeout."""
    spec, port = db_spec(
        """
        def test_held():
            def body():
                db.send(data="PING")
            fault(db, write=delay("60s"), run=body)
        """
    )
    start = time.monotonic()
    proc = run_faultbox("test", str(spec), "--timeout", "2s")
    elapsed = time.monotonic() - start
    assert proc.returncode == 2
    assert "timed out after 2s" in proc.stderr
    assert elapsed < 40, elapsed  # well under the 60 s delay, even on a loaded machine
    with socket.socket() as s:  # nothing listens on the port any more
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


def test_port_in_use_is_reported_with_its_owner(db_spec) -> None:
    spec, port = db_spec("def test_x():\n    pass\n")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        proc = run_faultbox("test", str(spec))
    assert proc.returncode == 2
    assert f"port {port} is already in use" in proc.stderr
    assert "failed to start services" in proc.stderr


def test_health_timeout_says_the_process_runs(tmp_path: Path) -> None:
    port = free_port()
    binary = script(tmp_path / "sleeper", "import time\ntime.sleep(60)\n")
    spec = write(
        tmp_path / "spec.star",
        f"""
        s = service("sleeper", "{binary}", interface("main", "tcp", {port}),
            healthcheck = tcp("localhost:{port}", timeout = "1s"))
        def test_x():
            pass
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 2
    assert f"TCP healthcheck 'localhost:{port}' did not answer within 1s" in proc.stderr
    assert "(the process is running)" in proc.stderr


def test_crash_before_ready_shows_exit_code_and_stderr(tmp_path: Path) -> None:
    port = free_port()
    binary = script(
        tmp_path / "crasher",
        "import sys\nprint('fatal: config file missing', file=sys.stderr)\nsys.exit(3)\n",
    )
    spec = write(
        tmp_path / "spec.star",
        f"""
        s = service("crasher", "{binary}", interface("main", "tcp", {port}),
            healthcheck = tcp("localhost:{port}", timeout = "120s"))
        def test_x():
            pass
        """,
    )
    start = time.monotonic()
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 2
    assert 'service "crasher" exited with code 3 before it was ready' in proc.stderr
    assert "fatal: config file missing" in proc.stderr
    # not the 120 s health timeout: the exit is noticed at once (a loaded machine needs a few
    # seconds to start Python twice, hence the wide margin)
    assert time.monotonic() - start < 60


def test_depends_on_starts_dependencies_first(tmp_path: Path, demo_bin: Path) -> None:
    db_port, app_port = free_port(), free_port()
    # The app refuses to start unless the db already accepts connections.
    app = script(
        tmp_path / "app",
        f"""
        import socket, sys, time
        try:
            socket.create_connection(("127.0.0.1", {db_port}), 1).close()
        except OSError:
            print("db is not up", file=sys.stderr)
            sys.exit(1)
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", {app_port}))
        srv.listen()
        time.sleep(60)
        """,
    )
    spec = write(
        tmp_path / "spec.star",
        f"""
        app = service("app", "{app}", interface("main", "tcp", {app_port}),
            depends_on = ["db"], healthcheck = tcp("localhost:{app_port}"))
        db = service("db", "{demo_bin}/mock-db", interface("main", "tcp", {db_port}),
            env = {{"PORT": "{db_port}"}}, healthcheck = tcp("localhost:{db_port}"))
        def test_both_up():
            assert_eq(db.send(data="PING"), "PONG")
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 0, proc.stderr


def test_service_env_has_faultbox_addresses(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "env.txt"
    binary = script(
        tmp_path / "envdump",
        f"""
        import os, socket, time
        open("{out}", "w").write(os.environ["FAULTBOX_API_PUBLIC_ADDR"] + " " + os.environ["EXTRA"])
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", {port}))
        srv.listen()
        time.sleep(60)
        """,
    )
    spec = write(
        tmp_path / "spec.star",
        f"""
        api = service("api", "{binary}", interface("public", "tcp", {port}),
            env = {{"EXTRA": "yes"}}, healthcheck = tcp("localhost:{port}"))
        def test_x():
            assert_eq(api.public.addr, "localhost:{port}")
            assert_eq(api.public.port, {port})
            assert_eq(api.name, "api")
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == f"localhost:{port} yes"


def test_load_across_files_shares_services_and_reports_lines(
    tmp_path: Path, demo_bin: Path
) -> None:
    port = free_port()
    write(
        tmp_path / "topology.star",
        f"""
        db = service("db", "{demo_bin}/mock-db", interface("main", "tcp", {port}),
            env = {{"PORT": "{port}"}}, healthcheck = tcp("localhost:{port}"))
        GREETING = "PING"
        def ping():
            # GREETING is a global of this file, not of the file that loads it.
            return db.send(data=GREETING)
        def broken():
            return db.send(data=GREETING) + 1
        """,
    )
    spec = write(
        tmp_path / "main.star",
        """
        load("topology.star", "db", "ping", "broken")
        def test_ping():
            assert_eq(ping(), "PONG")
        def test_broken():
            broken()
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 2
    assert "--- PASS: test_ping" in proc.stderr
    assert "--- FAIL: test_broken" in proc.stderr
    assert "topology.star:8" in proc.stderr  # the line inside the loaded file


def test_test_filter_with_and_without_prefix_and_no_match(db_spec) -> None:
    spec, _ = db_spec("def test_one():\n    pass\ndef test_two():\n    pass\n")
    proc = run_faultbox("test", str(spec), "--test", "one")
    assert proc.returncode == 0
    assert "test_one" in proc.stderr and "test_two" not in proc.stderr
    proc = run_faultbox("test", str(spec), "--test", "test_two")
    assert proc.returncode == 0 and "1 passed, 0 failed" in proc.stderr
    proc = run_faultbox("test", str(spec), "--test", "three")
    assert proc.returncode == 1
    assert "no test matches 'three'; available: test_one, test_two" in proc.stderr
    assert "did you mean" not in proc.stderr  # nothing close enough to guess
    # Chapter 11's text runs `--test inspect_log_structure` for the scenario inspect_logs.
    proc = run_faultbox("test", str(spec), "--test", "test_ones")
    assert proc.returncode == 1
    assert proc.stderr.rstrip().endswith("did you mean --test one?"), proc.stderr


def test_runs_repeat_each_test(db_spec) -> None:
    spec, _ = db_spec("def test_one():\n    assert_eq(db.send(data='PING'), 'PONG')\n")
    proc = run_faultbox("test", str(spec), "--runs", "3")
    assert proc.returncode == 0, proc.stderr
    assert "--- PASS: test_one (3/3 runs) ---" in proc.stderr


def test_usage_errors_exit_1(tmp_path: Path) -> None:
    assert run_faultbox("test").returncode == 1
    assert run_faultbox("test", str(tmp_path / "missing.star")).returncode == 1
    assert run_faultbox("frobnicate").returncode == 1
    version = run_faultbox("--version")
    assert version.returncode == 0 and version.stdout.startswith("faultbox ")


def test_http_transport_error_is_a_response_not_an_exception(tmp_path: Path) -> None:
    """A step to a port nobody serves gives status=0, ok=False and the error text."""
    served, unserved = free_port(), free_port()
    binary = script(
        tmp_path / "half",
        f"""
        import socket, time
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", {served}))
        srv.listen()
        time.sleep(60)
        """,
    )
    spec = write(
        tmp_path / "spec.star",
        f"""
        app = service("app", "{binary}",
            interface("admin", "tcp", {served}),
            interface("public", "http", {unserved}),
            healthcheck = tcp("localhost:{served}"))
        def test_refused():
            r = app.public.get(path="/health")
            assert_eq(r.status, 0)
            assert_eq(r.ok, False)
            assert_true("refused" in r.error.lower() or "connect" in r.error.lower(), r.error)
        def test_shorthand_needs_an_interface():
            app.get(path="/")
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert "--- PASS: test_refused" in proc.stderr, proc.stderr
    assert "--- FAIL: test_shorthand_needs_an_interface" in proc.stderr
    assert (
        "service 'app' has multiple interfaces (admin, public); say which one, "
        "e.g. app.admin.get(...)" in proc.stderr
    )
