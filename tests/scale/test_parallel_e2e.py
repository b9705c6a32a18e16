"""-j N on real services: the same verdicts and normalized traces as -j 1 (the seed chapters
10 and 12), each test in namespaces of its own (fixed ports, a private /tmp), --serial tests
in the host's, and a clear fallback without the privileges."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import free_port

CH10_FILES = ("ch10/scenario-test.star", "ch10/multi-scenario.star",
              "ch10/my-custom-failures.star")  # fmt: skip


def _verdicts(path: Path) -> dict[str, str]:
    return {t["name"]: t["result"] for t in json.loads(path.read_text())["tests"]}


def _same_as_serial(fbx, work: Path, spec: str, jobs: str = "2") -> tuple[str, str]:  # noqa: ANN001
    """Run ``spec`` at -j 1 and -j ``jobs``; assert equal verdicts and traces; both stderrs."""
    runs = {}
    for j in ("1", jobs):
        proc = fbx.faultbox("test", spec, "-j", j, "--output", f"j{j}.json",
                            "--normalize", f"j{j}.norm", cwd=work)  # fmt: skip
        assert "Traceback" not in proc.stderr, proc.stderr
        runs[j] = proc
    assert runs["1"].returncode == runs[jobs].returncode
    assert _verdicts(work / "j1.json") == _verdicts(work / f"j{jobs}.json")
    diff = fbx.faultbox("diff", "j1.norm", f"j{jobs}.norm", cwd=work)
    assert diff.returncode == 0, diff.stdout
    return runs["1"].stderr, runs[jobs].stderr


def _summary(err: str) -> list[str]:
    """The matrix table's rows and the totals, without the durations."""
    import re

    start = err.index("Fault Matrix:")
    lines = err[start:].splitlines()
    return [" ".join(re.sub(r"\(\d+ms\)", "(ms)", line).replace("─", "").split()) for line in lines]


def test_ch10_generated_matrix_at_j4_matches_j1(tmp_path: Path, demo_bins: Path, fbx) -> None:
    work = fbx.workdir(tmp_path, demo_bins, *CH10_FILES)
    gen = fbx.faultbox("generate", "scenario-test.star", "--no-profile", cwd=work)
    assert gen.returncode == 0, gen.stderr
    serial, parallel = _same_as_serial(fbx, work, "order_flow.faults.star", jobs="4")
    assert "Result: 6/6 passed" in parallel
    # The table and the totals print in the usual order, whatever order the cells ended in.
    assert _summary(parallel) == _summary(serial)
    assert parallel.rstrip().endswith("8 passed, 0 failed")


def test_ch12_at_j2_matches_j1(tmp_path: Path, demo_bins: Path, fbx) -> None:
    work = fbx.workdir(tmp_path, demo_bins, "ch12/named-ops.star")
    serial, parallel = _same_as_serial(fbx, work, "named-ops.star")
    assert _summary(parallel) == _summary(serial)
    assert parallel.rstrip().endswith("7 passed, 1 failed")
    # A failure's block, with its replay command, as at -j 1.
    assert (
        "replay: faultbox test named-ops.star --test matrix_check_inventory_wal_broken" in parallel
    )


def test_ch04_at_j4_matches_j1(tmp_path: Path, demo_bins: Path, fbx) -> None:
    """Chapter 4: every test's inventory writes the same /tmp/inventory.wal; at -j 4 each
    writes its own (private /tmp), and the traces are those of -j 1."""
    work = fbx.workdir(tmp_path, demo_bins, "ch04/traces-test.star")
    serial, parallel = _same_as_serial(fbx, work, "traces-test.star", jobs="4")
    assert serial.splitlines()[-1] == parallel.splitlines()[-1]  # N passed, M failed


def _port_spec(path: Path, demo_bins: Path, port: int, wal: str) -> Path:
    path.write_text(
        f'inv = service("inv", "{demo_bins}/inventory-svc", interface("main", "tcp", {port}),\n'
        f'    env = {{"PORT": "{port}", "WAL_PATH": "{wal}"}}, healthcheck = tcp("localhost:{port}"))\n'
        "def test_a():\n"
        '    assert_true(inv.send(data="RESERVE widget 1").startswith("OK"))\n'
        "def test_b():\n"
        '    assert_true(inv.send(data="RESERVE widget 2").startswith("OK"))\n'
    )  # fmt: skip
    return path


def test_cells_have_their_own_ports_and_tmp(tmp_path: Path, demo_bins: Path, fbx) -> None:
    """The host holds the spec's port: at -j 1 the services cannot bind it; at -j 2 each test
    has a loopback of its own. The WAL the tests write under /tmp never reaches the host's."""
    wal = f"/tmp/h11-scale-{uuid.uuid4().hex}.wal"
    port = free_port()
    spec = _port_spec(tmp_path / "spec.star", demo_bins, port, wal)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        serial = fbx.faultbox("test", str(spec), cwd=tmp_path)
        assert serial.returncode == 2
        assert f"port {port} is already in use" in serial.stderr
        parallel = fbx.faultbox("test", str(spec), "-j", "2", "--output", "out.json",
                                cwd=tmp_path)  # fmt: skip
        assert parallel.returncode == 0, parallel.stderr
        # --serial: that test runs in the host's namespaces and meets the host's socket.
        mixed = fbx.faultbox("test", str(spec), "-j", "2", "--serial", "b", cwd=tmp_path)
        assert mixed.returncode == 2, mixed.stderr
        assert "--- FAIL: test_b" in mixed.stderr and "--- FAIL: test_a" not in mixed.stderr
    assert not Path(wal).exists()  # each cell's /tmp writes stayed in its namespace
    doc = json.loads((tmp_path / "out.json").read_text())
    assert [t["name"] for t in doc["tests"]] == ["test_a", "test_b"]  # the tests' order


def test_without_namespace_privileges_it_says_so_and_runs_serially(
    tmp_path: Path, demo_bins: Path, fbx
) -> None:
    import shutil

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    port = free_port()
    spec = _port_spec(tmp_path / "spec.star", demo_bins, port, f"{tmp_path}/inv.wal")
    # Root without CAP_SYS_ADMIN: unshare(CLONE_NEWNET) is refused (EPERM).
    env = dict(os.environ, PYTHONPATH=str(fbx.REPO))
    proc = subprocess.run(
        [setpriv, "--inh-caps=-sys_admin", "--bounding-set=-sys_admin",
         sys.executable, "-m", "faultbox.cli", "test", str(spec), "-j", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert "warning: -j 2 runs each test in network and mount namespaces" in proc.stderr
    assert "running one test at a time" in proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.rstrip().endswith("2 passed, 0 failed")


def test_as_an_unprivileged_user_it_says_so_and_runs_serially() -> None:
    """A user other than root (``nobody``; it keeps only CAP_DAC_READ_SEARCH, to reach the
    interpreter and the source tree wherever they are installed) gets the warning too."""
    import pwd
    import shutil
    import tempfile

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    work = Path(tempfile.mkdtemp(prefix="faultbox-nobody-"))
    try:
        work.chmod(0o777)
        (work / "plain.star").write_text(
            "".join(f"def test_{c}():\n    assert_true(True)\n" for c in "abc")
        )
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
               "HOME": str(work), "TMPDIR": str(work), "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        proc = subprocess.run(
            [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups",
             "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search",
             sys.executable, "-m", "faultbox.cli", "test", "plain.star", "-j", "3"],
            cwd=work, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (
        "warning: -j 3 runs each test in network and mount namespaces of its own, which needs "
        "root (CAP_SYS_ADMIN): unshare(CLONE_NEWNET|CLONE_NEWNS): Operation not permitted; "
        "running one test at a time"
    ) in proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.rstrip().endswith("3 passed, 0 failed")
