"""Benchmark of ``faultbox test -j N`` (not a test: run by hand, as root, nothing else running).

    python bench/parallel/bench_parallel.py [--repeat 3] [--json out.json]

Measures, in one run:

* wall time of ``faultbox test`` at -j 1, -j 2 and -j 4 (median of ``--repeat`` runs) on the
  chapter 10 generated matrix (``faultbox generate --no-profile`` of
  ``examples/ch10/scenario-test.star``) and on ``matrix24.star`` (24 cells of delay faults on
  the demo services); every run's verdicts must equal the -j 1 run's;
* the isolation cost per cell: fork + network/mount namespaces + loopback + private /tmp +
  exit + reap, minus the same without namespaces (median of 200).

Each ``faultbox`` run goes through ``/tmp/faultbox-test.lock`` (services bind fixed ports).
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

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from faultbox.runtime.isolation import enter_cell_namespaces  # noqa: E402

LOCK = "/tmp/faultbox-test.lock"


def _faultbox(work: Path, *args: str) -> tuple[float, dict[str, str]]:
    """One ``faultbox test`` run: (wall seconds, verdict per test)."""
    out = work / "out.json"
    cmd = ["flock", LOCK, sys.executable, "-m", "faultbox.cli", "test", *args, "--output",
           str(out)]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # The time is taken inside the lock (waiting for other users of the lock is not counted).
    r, w = os.pipe()
    script = f'S=$(date +%s%N); "$@"; c=$?; E=$(date +%s%N); echo "$((E-S))" >/dev/fd/{w}; exit $c'
    done = subprocess.run(["flock", LOCK, "bash", "-c", script, "-", *cmd[2:]], cwd=work,
                          env=env, capture_output=True, text=True, pass_fds=(w,))  # fmt: skip
    os.close(w)
    with os.fdopen(r) as f:
        wall = int(f.read().strip() or 0) / 1e9
    if done.returncode not in (0, 2):
        raise SystemExit(f"faultbox failed ({done.returncode}):\n{done.stderr}")
    verdicts = {t["name"]: t["result"] for t in json.loads(out.read_text())["tests"]}
    return wall, verdicts


def _workdir(tmp: Path) -> dict[str, tuple[Path, str]]:
    ch10 = tmp / "ch10"
    ch10.mkdir()
    (ch10 / "bin").symlink_to(REPO / "bin")
    for name in ("scenario-test.star", "multi-scenario.star", "my-custom-failures.star"):
        shutil.copy(REPO / "examples" / "ch10" / name, ch10 / name)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-m", "faultbox.cli", "generate", "scenario-test.star",
                    "--no-profile"], cwd=ch10, env=env, check=True, capture_output=True)  # fmt: skip
    m24 = tmp / "m24"
    m24.mkdir()
    (m24 / "bin").symlink_to(REPO / "bin")
    shutil.copy(Path(__file__).with_name("matrix24.star"), m24 / "matrix24.star")
    return {"ch10 order_flow.faults.star": (ch10, "order_flow.faults.star"),
            "matrix24.star (24 delay cells)": (m24, "matrix24.star")}  # fmt: skip


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
    return {"fork_ms": statistics.median(plain), "isolated_fork_ms": statistics.median(isolated),
            "isolation_ms": statistics.median(isolated) - statistics.median(plain),
            "isolation_p90_ms": sorted(isolated)[int(n * 0.9)] - statistics.median(plain)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    report: dict[str, object] = {"cpus": os.cpu_count(), "repeat": args.repeat}
    report["isolation"] = _cell_cost(200)
    with tempfile.TemporaryDirectory(prefix="faultbox-bench-") as tmp:
        specs = _workdir(Path(tmp))
        rows = {}
        for label, (work, spec) in specs.items():
            times: dict[str, list[float]] = {}
            baseline: dict[str, str] | None = None
            for _ in range(args.repeat):
                for jobs in ("1", "2", "4"):
                    wall, verdicts = _faultbox(work, spec, "-j", jobs)
                    baseline = baseline or verdicts
                    if verdicts != baseline:
                        raise SystemExit(f"{label}: -j {jobs} verdicts differ from -j 1")
                    times.setdefault(jobs, []).append(wall)
            med = {j: statistics.median(v) for j, v in times.items()}
            rows[label] = {"tests": len(baseline or {}), "median_s": med,
                           "ratio_j4": med["4"] / med["1"], "ratio_j2": med["2"] / med["1"]}  # fmt: skip
        report["suites"] = rows
    iso = report["isolation"]
    print(f"cpus: {report['cpus']}, median of {args.repeat} runs each")
    print("| spec | tests | -j 1 | -j 2 | -j 4 | -j 4 / -j 1 |")
    print("|---|---|---|---|---|---|")
    for label, row in rows.items():
        m = row["median_s"]
        print(f"| {label} | {row['tests']} | {m['1']:.2f} s | {m['2']:.2f} s | {m['4']:.2f} s "
              f"| {row['ratio_j4']:.2f} |")  # fmt: skip
    print(
        f"isolation per cell (median of 200): {iso['isolation_ms']:.2f} ms "  # type: ignore[index]
        f"(p90 {iso['isolation_p90_ms']:.2f} ms; fork+exit alone {iso['fork_ms']:.2f} ms)"
    )  # type: ignore[index]
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
