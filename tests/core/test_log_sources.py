"""Log event sources on real processes: stdout/stderr lines decoded into events."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from tests.conftest import free_port, run_faultbox

LOGGER = """
import socket, sys, time
port = int(sys.argv[1])
print('level=INFO msg="SET key1 value1" op=SET', flush=True)
print("2026-04-10T12:00:00Z [ERROR] connection refused", flush=True)
print('{"level": "WARN", "msg": "slow disk", "ms": 250}', flush=True)
print("not structured at all", flush=True)
print("boot: stderr line", file=sys.stderr, flush=True)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen()
time.sleep(60)
"""


def _spec(tmp_path: Path, observe: str, tests: str) -> Path:
    binary = tmp_path / "logger"
    binary.write_text(f"#!{sys.executable}\n" + LOGGER)
    binary.chmod(0o755)
    port = free_port()
    spec = tmp_path / "spec.star"
    spec.write_text(
        textwrap.dedent(
            f"""
            app = service("app", "{binary}", interface("main", "tcp", {port}),
                args = ["{port}"], healthcheck = tcp("localhost:{port}"),
                observe = {observe})
            """
        )
        + textwrap.dedent(tests)
    )
    return spec


def test_logfmt_decoder(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        "[stdout(decoder=logfmt_decoder())]",
        """
        def test_logfmt():
            assert_eventually(where=lambda e: e.type == "stdout" and e.data.get("op") == "SET"
                and e.data.get("msg") == "SET key1 value1")
            assert_eventually(type="stdout", op="SET")
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 0, proc.stderr


def test_regex_decoder_and_raw_fallback(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        '[stdout(decoder=regex_decoder(pattern=r"(?P<timestamp>\\S+) \\[(?P<level>\\w+)\\] (?P<msg>.*)"))]',
        """
        def test_regex():
            assert_eventually(where=lambda e: e.type == "stdout" and e.data.get("level") == "ERROR"
                and e.data.get("msg") == "connection refused")
            raw = events(where=lambda e: e.type == "stdout"
                and e.data.get("raw") == "not structured at all")
            assert_eq(len(raw), 1)
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 0, proc.stderr


def test_namespaced_spelling_and_stderr_default(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path,
        '[observe.stdout(decoder=decoder("json"))]',
        """
        def test_json():
            warn = events(where=lambda e: e.type == "stdout" and e.data.get("level") == "WARN")
            assert_eq(len(warn), 1)
            assert_eq(warn[0].data["ms"], 250)
            assert_eq(warn[0].service, "app")
            # stderr is recorded even without a source for it
            assert_eventually(type="stderr", service="app",
                where=lambda e: e.data.get("raw") == "boot: stderr line")
        """,
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 0, proc.stderr


def test_bad_regex_is_a_load_error(tmp_path: Path) -> None:
    spec = _spec(tmp_path, '[stdout(decoder=regex_decoder(pattern="(?P<x"))]', "")
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 1
    assert "regex_decoder(): invalid pattern" in proc.stderr
