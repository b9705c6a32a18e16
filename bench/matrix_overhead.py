"""Per-cell overhead of a fault matrix against a plain shell script doing the same lifecycle.

    .venv/bin/python bench/matrix_overhead.py [--rounds 5] [--bin DIR]

faultbox side: the ch10 topology (mock-db, then mock-api with depends_on, tcp and http
healthchecks) and the six fault assumptions ``faultbox generate`` writes for it, in a
``fault_matrix`` over an idle scenario (``def idle(): return None``), so a cell is only
lifecycle: launch under seccomp filters, healthchecks, apply/remove the fault, stop both, clean
up. Cells run in-process through the runner (``run_test``), ``--rounds`` times; each phase is
timed by wrapping ``Session.start_services`` / ``Session.teardown``.

Baseline: one bash script that, per iteration, starts the same two binaries the same way
(db, poll its port until it accepts; api, poll ``GET /health`` until 200 — both every 20 ms,
faultbox's poll interval, via bash's /dev/tcp), then SIGTERMs both and waits for them. Same
number of iterations as cells. Prints medians (ms) and the ratio; standard library + faultbox.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPEC = (ROOT / "examples" / "ch10" / "scenario-test.star").read_text(encoding="utf-8")
MATRIX = """
def idle():
    return None

scenario(idle)

db_down = fault_assumption("db_down", target = api, connect = deny("ECONNREFUSED"))
db_slow = fault_assumption("db_slow", target = api, connect = delay("5s"))
db_connection_reset = fault_assumption("db_connection_reset", target = api,
    read = deny("ECONNRESET"))
disk_io_error = fault_assumption("disk_io_error", target = db, write = deny("EIO"))
disk_full = fault_assumption("disk_full", target = db, write = deny("ENOSPC"))
fsync_failure = fault_assumption("fsync_failure", target = db, fsync = deny("EIO"))

fault_matrix(
    scenarios = [idle],
    faults = [db_down, db_slow, db_connection_reset, disk_io_error, disk_full, fsync_failure],
)
"""

BASH = r"""
set -u
BIN="$1"; N="$2"
now() { date +%s%N; }
wait_tcp() { until (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null; do sleep 0.02; done; }
wait_http() {
  until (exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$2" >&3 \
         && IFS= read -r line <&3 && [[ "$line" == *" 200 "* ]]) 2>/dev/null; do sleep 0.02; done
}
for ((i = 0; i < N; i++)); do
  t0=$(now)
  PORT=5432 "$BIN/mock-db" >/dev/null 2>&1 & db=$!
  wait_tcp 5432
  PORT=8080 DB_ADDR=localhost:5432 "$BIN/mock-api" >/dev/null 2>&1 & api=$!
  wait_http 8080 /health
  t1=$(now)
  kill -TERM "$api" "$db"; wait "$api" "$db" 2>/dev/null
  t2=$(now)
  echo "$(( (t1 - t0) / 1000 )) $(( (t2 - t1) / 1000 ))"
done
"""


def _timed(store: list[float], fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            store.append((time.perf_counter() - t0) * 1000.0)

    return wrapper


def run_faultbox(work: Path, rounds: int, intercept: bool = True) -> dict[str, list[float]]:
    """Run the idle matrix ``rounds`` times in-process; per-cell phase times in ms.

    ``intercept=False`` runs the scenario's plain test instead, with the notify sets emptied (no
    seccomp filter): the lifecycle cost alone, apart from intercepting start-up syscalls.
    """
    from faultbox.runtime import discovery
    from faultbox.runtime.runner import RunOptions, run_test
    from faultbox.runtime.session import Session
    from faultbox.starlark_env.loader import load_spec

    (work / "scenario-test.star").write_text(SPEC, encoding="utf-8")
    (work / "matrix.star").write_text(
        'load("scenario-test.star", "api", "db")\n' + MATRIX, encoding="utf-8"
    )
    os.chdir(work)
    spec = load_spec("matrix.star")
    tests = discovery.discover(spec)
    cells = [t for t in tests if t.matrix is not None]
    if not intercept:  # the plain scenario test, as many times as there are cells
        spec.registry.notify_sets = {name: set() for name in spec.registry.services}
        cells = [t for t in tests if t.name == "test_idle"] * len(cells)
    start: list[float] = []
    stop: list[float] = []
    total: list[float] = []
    original = Session.start_services, Session.teardown
    Session.start_services = _timed(start, original[0])  # type: ignore[method-assign]
    Session.teardown = _timed(stop, original[1])  # type: ignore[method-assign]
    opts = RunOptions()
    run_test(spec, cells[0], 0, opts)  # warm-up (launcher build, imports)
    start.clear(), stop.clear()
    for _ in range(rounds):
        for case in cells:
            for _attempt in range(20):
                n_start, n_stop = len(start), len(stop)
                t0 = time.perf_counter()
                result = run_test(spec, case, 0, opts)
                elapsed = (time.perf_counter() - t0) * 1000.0
                if result.passed:
                    total.append(elapsed)
                    break
                if "already in use" not in result.reason:
                    raise SystemExit(f"{case.name} failed: {result.reason}")
                # Another program holds 5432/8080 (a shared machine): drop the sample, retry.
                del start[n_start:], stop[n_stop:]
                time.sleep(1.0)
            else:
                raise SystemExit(f"{case.name}: ports 5432/8080 stayed busy")
    Session.start_services, Session.teardown = original  # type: ignore[method-assign]
    return {"start": start, "stop": stop, "total": total}


def run_bash(bin_dir: Path, n: int) -> dict[str, list[float]]:
    """The shell baseline, ``n`` iterations after one warm-up; per-iteration times in ms."""
    t0 = time.perf_counter()
    out = subprocess.run(
        ["bash", "-c", BASH, "bench", str(bin_dir), str(n + 1)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    wall = (time.perf_counter() - t0) * 1000.0
    rows = [tuple(int(x) / 1000.0 for x in line.split()) for line in out.splitlines()][1:]
    return {
        "start": [r[0] for r in rows],
        "stop": [r[1] for r in rows],
        "total": [r[0] + r[1] for r in rows],
        "wall_per_iter": [wall / (n + 1)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="matrix rounds (6 cells each)")
    parser.add_argument("--bin", help="demo binaries (default: build into a temporary directory)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fbx-bench-") as tmp:
        work = Path(tmp)
        bin_dir = Path(args.bin).resolve() if args.bin else work / "bin"
        if not args.bin:
            subprocess.run(
                [sys.executable, str(ROOT / "demo" / "build.py"), "--bin", str(bin_dir)],
                check=True, capture_output=True,
            )  # fmt: skip
        elif not (work / "bin").exists():
            (work / "bin").symlink_to(bin_dir)
        fb = run_faultbox(work, args.rounds)
        sh = run_bash(bin_dir, len(fb["total"]))
        bare = run_faultbox(work, args.rounds, intercept=False)

    def med(xs: list[float]) -> float:
        return statistics.median(xs)

    ratio = med(fb["total"]) / med(sh["total"])
    print(
        f"cells: {len(fb['total'])} ({args.rounds} rounds × 6); Python {platform.python_version()}"
    )
    print("| phase | faultbox median ms | bash median ms | ratio |")
    print("|---|---|---|---|")
    for phase, label in (("start", "start + healthchecks"), ("stop", "teardown"),
                         ("total", "whole cell")):  # fmt: skip
        f, s = med(fb[phase]), med(sh[phase])
        print(f"| {label} | {f:.1f} | {s:.1f} | {f / s:.2f}× |")
    print(f"target ≤ 1.30×: {'met' if ratio <= 1.3 else 'NOT met'} ({ratio:.2f}×)")
    b = med(bare["total"])
    print(f"without seccomp filters (notify sets emptied): {b:.1f} ms per cell "
          f"({b / med(sh['total']):.2f}× bash)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
