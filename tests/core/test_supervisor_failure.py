"""When the supervisor fails mid-test, the test fails with that reason and the services die."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from faultbox.runtime import discovery
from faultbox.runtime.runner import RunOptions, run_test
from faultbox.runtime.session import Session
from faultbox.starlark_env.loader import load_spec
from tests.conftest import free_port


def test_supervisor_crash_fails_the_test_and_kills_services(
    tmp_path: Path, demo_bin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    spec_path = tmp_path / "spec.star"
    spec_path.write_text(
        textwrap.dedent(
            f"""
            db = service("db", "{demo_bin}/mock-db", interface("main", "tcp", {port}),
                env = {{"PORT": "{port}"}}, healthcheck = tcp("localhost:{port}"))
            def test_ping_under_trace():
                def body():
                    for i in range(20):
                        db.send(data="PING")
                trace(db, syscalls=["write"], run=body)
            """
        )
    )
    spec = load_spec(spec_path)
    (case,) = discovery.discover(spec)

    pids: list[int] = []
    original = Session._on_syscall

    def crashing_sink(self: Session, rec: object) -> None:
        # The sink runs on the supervisor's loop thread: raising there is a supervisor crash.
        pids.extend(p.pid for p in self.processes.values())
        if getattr(rec, "decision", "") == "trace":
            raise RuntimeError("injected supervisor crash")
        original(self, rec)

    monkeypatch.setattr(Session, "_on_syscall", crashing_sink)
    start = time.monotonic()
    result = run_test(spec, case, 0, RunOptions(timeout_s=120))
    assert not result.passed
    assert result.reason.startswith("supervisor failed:"), result.reason
    assert "injected supervisor crash" in result.reason
    # noticed when it happens, not at the 120 s test timeout (seconds even on a loaded machine)
    assert time.monotonic() - start < 60
    for pid in set(pids):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
