"""op(path="*.wal") fires on the demo inventory service (real processes, real seccomp).

Before the one glob dialect, ``*`` in an op did not cross ``/``, so ``*.wal`` never matched
``/tmp/inventory.wal`` and the fault silently never fired, while the same glob in a query did
match: this spec would have answered 200 and failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SPEC = """
inventory = service("inventory", "bin/inventory-svc",
    interface("main", "tcp", 5432),
    env = {"PORT": "5432", "WAL_PATH": "/tmp/inventory.wal"},
    healthcheck = tcp("localhost:5432"),
    ops = {"wal_write": op(syscalls=["write", "fsync"], path="*.wal")},
)
orders = service("orders", "bin/order-svc",
    interface("public", "http", 8080),
    env = {"PORT": "8080", "INVENTORY_ADDR": inventory.main.addr},
    depends_on = [inventory],
    healthcheck = http("localhost:8080/health"),
)

def test_wal_op_glob_fires():
    def order():
        resp = orders.post(path="/orders", body='{"sku":"widget","qty":1}')
        assert_eq(resp.status, 409, "a failed WAL write answers 409")
    fault(inventory, wal_write=deny("EIO", label="wal"), run=order)
    assert_eventually(service="inventory", syscall="write", path="*.wal", decision="deny*")
    assert_eventually(service="inventory", op="wal_write", label="wal")
"""


def test_op_star_glob_fires_on_inventory_wal(tmp_path: Path, demo_bin: Path) -> None:
    (tmp_path / "bin").symlink_to(demo_bin, target_is_directory=True)
    (tmp_path / "glob.star").write_text(SPEC, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "faultbox.cli", "test", "glob.star"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--- PASS: test_wal_op_glob_fires" in proc.stderr
    assert 'path="*.wal" label="wal" (1 hit)' in proc.stderr
