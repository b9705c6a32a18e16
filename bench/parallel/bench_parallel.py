"""Benchmark of ``faultbox test -j N`` (not a test: run by hand, as root).

    python bench/parallel/bench_parallel.py [--repeat 3] [--json out.json] [--no-lock]

Measures, in one run:

* wall time of ``faultbox test`` at -j 1, -j 2 and -j 4 (median of ``--repeat`` rounds; the
  configurations alternate within each round, so a noisy minute hits all of them) on
  - chapter 10's generated matrix as ``faultbox generate examples/ch10/scenario-test.star``
    writes it (profiling on: 3 cells that fired, the partition test, the scenario),
  - the same with ``--no-profile`` (6 cells, partition, scenario),
  - ``matrix24.star`` (24 cells of delay faults on the demo services);
  plus -j 4 started longest first (``--durations-file`` of that round's -j 1 run). Every
  run's verdicts must equal the -j 1 run's. Each run writes a fresh ``--output`` file, so
  the plain -j runs start the tests in the spec's order;
* the per-test durations of the -j 1 runs (medians), for the critical path: at -j N a run
  cannot be shorter than its longest test, nor than the sum of its tests / N;
* the isolation cost per cell: fork + network/mount namespaces + loopback + private /tmp +
  exit + reap, minus the same without namespaces (median of 200).

Each ``faultbox`` run goes through ``/tmp/faultbox-test.lock`` (services bind fixed ports),
timed inside the lock. ``--no-lock``: for a run in a private network namespace of its own
(``unshare -n sh -c 'ip link set lo up && python bench/parallel/bench_parallel.py
--no-lock'``): the specs' services only bind loopback ports and write no files, so they
cannot meet anyone else's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from faultbox.runtime.isolation import enter_cell_namespaces  # noqa: E402

LOCK = "/tmp/faultbox-test.lock"
CONFIGS = ("1", "2", "4", "4lpt")  # -j 1, -j 2, -j 4, -j 4 longest first


def _faultbox(work: Path, lock: bool, *args: str) -> tuple[float, dict[str, Any]]:
    """One ``faultbox test`` run: (wall seconds, its --output document)."""
    out = work / "out.json"
    out.unlink(missing_ok=True)  # no earlier result: the spec's order unless told otherwise
    cmd = [sys.executable, "-m", "faultbox.cli", "test", *args, "--output", str(out)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # The time is taken inside the lock (waiting for other users of the lock is not counted).
    r, w = os.pipe()
    script = f'S=$(date +%s%N); "$@"; c=$?; E=$(date +%s%N); echo "$((E-S))" >/dev/fd/{w}; exit $c'
    prefix = ["flock", LOCK] if lock else []
    done = subprocess.run([*prefix, "bash", "-c", script, "-", *cmd], cwd=work, env=env,
                          capture_output=True, text=True, pass_fds=(w,))  # fmt: skip
    os.close(w)
    with os.fdopen(r) as f:
        wall = int(f.read().strip() or 0) / 1e9
    if done.returncode not in (0, 2):
        raise SystemExit(f"faultbox failed ({done.returncode}):\n{done.stderr}")
    return wall, json.loads(out.read_text())


def _ch10(tmp: Path, name: str, *generate_args: str) -> Path:
    work = tmp / name
    work.mkdir()
    (work / "bin").symlink_to(REPO / "bin")
    for spec in ("scenario-test.star", "multi-scenario.star", "my-custom-failures.star"):
        shutil.copy(REPO / "examples" / "ch10" / spec, work / spec)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-m", "faultbox.cli", "generate", "scenario-test.star",
                    *generate_args], cwd=work, env=env, check=True, capture_output=True)  # fmt: skip
    return work


def _workdirs(tmp: Path) -> dict[str, tuple[Path, str]]:
    m24 = tmp / "m24"
    m24.mkdir()
    (m24 / "bin").symlink_to(REPO / "bin")
    shutil.copy(Path(__file__).with_name("matrix24.star"), m24 / "matrix24.star")
    return {
        "ch10 `order_flow.faults.star` (generate, profiling on)":
            (_ch10(tmp, "ch10"), "order_flow.faults.star"),
        "ch10 `order_flow.faults.star` (generate --no-profile)":
            (_ch10(tmp, "ch10np", "--no-profile"), "order_flow.faults.star"),
        "`matrix24.star` (24 delay cells)": (m24, "matrix24.star"),
    }  # fmt: skip


def _cell_cost(n: int) -> dict[str, float]:
    """Median ms of fork→exit→reap with and without entering the namespaces."""

    def once(isolate: bool) -> float:
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            if isolate:
                enter_cell_namespaces()
            os._exit(0)
        os.waitpid(pid, 0)
        return (time.perf_counter() - start) * 1000

    plain = [once(False) for _ in range(n)]
    isolated = [once(True) for _ in range(n)]
    base = statistics.median(plain)
    return {"fork_ms": base, "isolated_fork_ms": statistics.median(isolated),
            "isolation_ms": statistics.median(isolated) - base,
            "isolation_p90_ms": sorted(isolated)[int(n * 0.9)] - base}  # fmt: skip


def _suite(work: Path, spec: str, repeat: int, lock: bool) -> dict[str, Any]:
    times: dict[str, list[float]] = {c: [] for c in CONFIGS}
    per_test: dict[str, list[float]] = {}
    baseline: dict[str, str] | None = None
    for _ in range(repeat):
        for config in CONFIGS:
            jobs, lpt = config.removesuffix("lpt"), config.endswith("lpt")
            extra = ["--durations-file", "j1.json"] if lpt else []
            wall, doc = _faultbox(work, lock, spec, "-j", jobs, *extra)
            verdicts = {t["name"]: t["result"] for t in doc["tests"]}
            if config == "1":
                shutil.copy(work / "out.json", work / "j1.json")
                for t in doc["tests"]:
                    per_test.setdefault(t["name"], []).append(t["duration_ms"] / 1000)
            baseline = baseline or verdicts
            if verdicts != baseline:
                raise SystemExit(f"{spec}: -j {config} verdicts differ from -j 1's")
            times[config].append(wall)
    med = {c: statistics.median(v) for c, v in times.items()}
    tests = {name: statistics.median(v) for name, v in per_test.items()}
    longest = max(tests.values())
    return {
        "tests": len(tests), "passed": sum(v == "pass" for v in (baseline or {}).values()),
        "runs_s": times, "median_s": med,
        "ratio": {c: med[c] / med["1"] for c in CONFIGS},
        "test_median_s": tests, "longest_test_s": longest, "sum_tests_s": sum(tests.values()),
        # No -j 4 run can beat this: its longest test, or a quarter of all the test time.
        "j4_bound_s": max(longest, sum(tests.values()) / 4),
    }  # fmt: skip


def _private_netns() -> bool:
    """Whether the benchmark runs in another network namespace than whoever started it
    (``unshare -n sh -c '… exec python …'``: the parent is the shell outside)."""
    try:
        parent = os.stat(f"/proc/{os.getppid()}/ns/net").st_ino
        return os.stat("/proc/self/ns/net").st_ino != parent
    except OSError:  # /proc/1 and the like may be out of reach in a container
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default="")
    ap.add_argument("--no-lock", action="store_true",
                    help="do not take the test lock (run in a private network namespace)")  # fmt: skip
    args = ap.parse_args()
    report: dict[str, Any] = {"cpus": os.cpu_count(), "repeat": args.repeat,
                              "lock": not args.no_lock, "private_netns": _private_netns(),
                              "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                              "loadavg_start": os.getloadavg()}  # fmt: skip
    report["isolation"] = _cell_cost(200)
    with tempfile.TemporaryDirectory(prefix="faultbox-bench-") as tmp:
        specs = _workdirs(Path(tmp))
        report["suites"] = {label: _suite(work, spec, args.repeat, not args.no_lock)
                            for label, (work, spec) in specs.items()}  # fmt: skip
    report["loadavg_end"] = os.getloadavg()
    if args.json:  # first: the figures survive a mistake in the printing
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    _print(report)


def _print(report: dict[str, Any]) -> None:
    print(f"cpus: {report['cpus']}, median of {report['repeat']} rounds, started "
          f"{report['started']}, load {report['loadavg_start'][0]:.2f} → "
          f"{report['loadavg_end'][0]:.2f}, private netns: {report['private_netns']}, "
          f"lock: {report['lock']}")  # fmt: skip
    print("| spec | tests | -j 1 | -j 2 | -j 4 | -j 4 longest first | -j 2 / -j 1 | "
          "-j 4 / -j 1 | longest-first / -j 1 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for label, row in report["suites"].items():
        m, q = row["median_s"], row["ratio"]
        print(f"| {label} | {row['tests']} | {m['1']:.2f} s | {m['2']:.2f} s | {m['4']:.2f} s "
              f"| {m['4lpt']:.2f} s | {q['2']:.2f} | {q['4']:.2f} | {q['4lpt']:.2f} |")  # fmt: skip
    for label, row in report["suites"].items():
        print(f"{label}: longest test {row['longest_test_s']:.2f} s, all tests "
              f"{row['sum_tests_s']:.2f} s, so -j 4 >= {row['j4_bound_s']:.2f} s "
              f"(= {row['j4_bound_s'] / row['median_s']['1']:.2f} x -j 1)")  # fmt: skip
        for name, s in sorted(row["test_median_s"].items(), key=lambda kv: -kv[1])[:3]:
            print(f"    {name}: {s:.2f} s")
    iso = report["isolation"]
    print(f"isolation per cell (median of 200): {iso['isolation_ms']:.2f} ms "
          f"(p90 {iso['isolation_p90_ms']:.2f} ms; fork+exit alone {iso['fork_ms']:.2f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
