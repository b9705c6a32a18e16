"""crash(lose_unsynced=True) semantics on WAL services: the demo inventory-svc (one fsync per
entry before it answers) loses no acknowledged entry; a service that answers before it
fsyncs (tests/crash/ackfirst_svc.py) does."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faultbox.intercept import Supervisor, launch
from faultbox.intercept.journal import Dropped
from tests.crash.test_journal import _notify

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _connect(port: int, proc: object, timeout: float = 60) -> socket.socket:
    """Connect once the service listens (a readiness poll, as healthchecks do)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=30)
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:  # type: ignore[attr-defined]
                raise
            time.sleep(0.05)


def _run(argv: list[str], wal: Path, commands: list[bytes]) -> tuple[int, list[Dropped]]:
    """Start the service, send ``commands`` (one answer each), power-loss crash it."""
    sup = Supervisor(lambda _r: None)
    journal = sup.enable_journal("svc")
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "WAL_PATH": str(wal)}
    proc = launch(argv, env=env, notify=_notify(), stdout=subprocess.DEVNULL)
    try:
        sup.attach("svc", proc)
        acked = 0
        with _connect(port, proc) as conn:
            reader = conn.makefile("rb")
            for command in commands:
                conn.sendall(command)
                reply = reader.readline()
                acked += reply.startswith(b"OK")
        proc.kill_group()
        assert sup.wait_detached("svc", 30)
        return acked, journal.drop_unsynced()
    finally:
        proc.kill_group()
        sup.stop()
        proc.wait(30)
        proc.close()


def test_inventory_svc_loses_no_acknowledged_reserve(tmp_path: Path) -> None:
    binary = REPO / "bin" / "inventory-svc"
    if not binary.exists():
        pytest.skip("bin/inventory-svc is not built (make build)")
    wal = tmp_path / "inventory.wal"
    acked, dropped = _run([str(binary)], wal, [b"RESERVE widget 1\n"] * 20)
    assert acked == 20
    assert wal.read_bytes().count(b"RESERVE widget 1\n") == 20
    assert dropped == []


def test_ack_before_fsync_loses_acknowledged_entries(tmp_path: Path) -> None:
    wal = tmp_path / "ackfirst.wal"
    argv = [sys.executable, str(Path(__file__).with_name("ackfirst_svc.py"))]
    acked, dropped = _run(argv, wal, [b"PUT e%d\n" % i for i in range(20)])
    assert acked == 20
    survived = wal.read_bytes().splitlines()
    # its once-a-second fsync may have covered a few; the last acknowledged ones are gone
    assert len(survived) < 20 and b"e19" not in survived
    assert [Path(d.path).name for d in dropped] == ["ackfirst.wal"]
