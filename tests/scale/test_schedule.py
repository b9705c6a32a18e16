"""-j N starts the longest tests first when earlier durations are known (--durations-file, or
the --output file of the spec's last run); without them, in the tests' order."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from faultbox.runtime.sharding import longest_first
from tests.conftest import REPO, free_port


def test_longest_first_is_lpt_order_and_stable() -> None:
    names = ["test_a", "test_b", "test_c", "test_d", "test_e"]
    durations = {"test_a": 100.0, "test_b": 9000.0, "test_c": 100.0, "test_d": 400.0}
    # test_e is unknown: it counts with the median of the known (250 ms); test_a and test_c,
    # equal, keep their order.
    assert longest_first(names, durations) == ["test_b", "test_d", "test_e", "test_a", "test_c"]
    assert longest_first(names, {}) == names


# The order the workers start in, straight from the runner (no services: nothing to lock).
_ORDER_SCRIPT = """
import sys
from faultbox.runtime import discovery
from faultbox.runtime.parallel import ParallelHooks, run_parallel
from faultbox.runtime.runner import RunOptions
from faultbox.runtime.sharding import longest_first
from faultbox.starlark_env.loader import load_spec

spec = load_spec(sys.argv[1])
tests = discovery.discover(spec)
durations = {"test_c": 5000.0, "test_a": 3000.0, "test_b": 10.0, "test_d": 10.0}
by_name = {t.name: t for t in tests}
order = [by_name[n] for n in longest_first([t.name for t in tests], durations)]
started = []
suite = run_parallel(spec, tests, RunOptions(), 2, start_order=order,
                     hooks=ParallelHooks(on_start=started.append))
print(",".join(started))
print(",".join(r.name for r in suite.results))
"""


def test_workers_start_in_the_given_order_results_come_in_the_tests_order(tmp_path: Path) -> None:
    (tmp_path / "plain.star").write_text(
        "".join(f"def test_{c}():\n    assert_true(True)\n" for c in "abcd")
    )
    (tmp_path / "order.py").write_text(_ORDER_SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "order.py"), str(tmp_path / "plain.star")],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    started, results = proc.stdout.split()
    assert started == "test_c,test_a,test_b,test_d"  # longest first, the rest as they were
    assert results == "test_a,test_b,test_c,test_d"  # reported in the tests' order


# Each test sends its own name to a service that appends it to a file outside /tmp (a
# cell's /tmp is private). At -j 2 the first two names written are those of the first two
# tests started: the others wait for a free worker, i.e. until one of them has finished.
_SERVICE = """\
import os, socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(os.environ["PORT"])))
srv.listen(8)
while True:
    conn, _ = srv.accept()
    data = conn.recv(100)
    if data:
        with open(sys.argv[1], "a") as f:
            f.write(data.decode().strip() + "\\n")
        conn.sendall(b"OK\\n")
    conn.close()
"""


@pytest.fixture
def record() -> Iterator[Path]:
    path = Path("/dev/shm") / f"faultbox-order-{uuid.uuid4().hex}"
    yield path
    path.unlink(missing_ok=True)


def _spec(tmp_path: Path, record: Path) -> Path:
    port = free_port()
    script = tmp_path / "svc.py"
    script.write_text(f"#!{sys.executable}\n{_SERVICE}")
    script.chmod(0o755)
    spec = tmp_path / "spec.star"
    spec.write_text(
        f'svc = service("svc", "{script}", interface("main", "tcp", {port}),\n'
        f'    args = ["{record}"], env = {{"PORT": "{port}"}},\n'
        f'    healthcheck = tcp("localhost:{port}"))\n'
        + "".join(f'def test_{c}():\n    svc.send(data="{c}")\n' for c in "abcd")
    )
    return spec


def _earlier(path: Path, star_file: str, ms: dict[str, int]) -> None:
    tests = [{"name": f"test_{c}", "result": "pass", "duration_ms": v} for c, v in ms.items()]
    doc = {"version": 2, "star_file": star_file, "duration_ms": sum(ms.values()),
           "pass": len(tests), "fail": 0, "tests": tests}  # fmt: skip
    path.write_text(json.dumps(doc))


def test_j2_starts_the_longest_tests_first(tmp_path: Path, record: Path, fbx) -> None:  # noqa: ANN001
    _spec(tmp_path, record)
    # No durations: the tests' order (test_a and test_b are the first two to run).
    plain = fbx.faultbox("test", "spec.star", "-j", "2", "--output", "first.json", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert "longest tests first" not in plain.stderr
    assert sorted(record.read_text().split()[:2]) == ["a", "b"]
    record.unlink()
    # --durations-file: test_d and test_c were the long ones last time.
    _earlier(tmp_path / "durations.json", "spec.star", {"a": 10, "b": 20, "c": 3000, "d": 9000})
    proc = fbx.faultbox("test", "spec.star", "-j", "2", "--durations-file", "durations.json",
                        cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "-j 2: longest tests first, by the durations in durations.json (4 of 4 tests known)" in (
        proc.stderr
    )
    assert sorted(record.read_text().split()[:2]) == ["c", "d"]
    assert proc.stderr.rstrip().endswith("4 passed, 0 failed")
    record.unlink()
    # The spec's last --output, about to be overwritten, serves as well.
    _earlier(tmp_path / "last.json", "spec.star", {"a": 5000, "b": 20, "c": 30, "d": 4000})
    again = fbx.faultbox("test", "spec.star", "-j", "2", "--output", "last.json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "by the durations in last.json (the last run)" in again.stderr
    assert sorted(record.read_text().split()[:2]) == ["a", "d"]
    assert [t["name"] for t in json.loads((tmp_path / "last.json").read_text())["tests"]] == [
        "test_a", "test_b", "test_c", "test_d",
    ]  # fmt: skip
    record.unlink()
    # Another spec's result file gives no order.
    shutil.copy(tmp_path / "last.json", tmp_path / "other.json")
    doc = json.loads((tmp_path / "other.json").read_text())
    doc["star_file"] = "other.star"
    (tmp_path / "other.json").write_text(json.dumps(doc))
    other = fbx.faultbox("test", "spec.star", "-j", "2", "--output", "other.json", cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert "longest tests first" not in other.stderr
