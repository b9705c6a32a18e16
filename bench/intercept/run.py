"""Cost of one intercepted syscall: `python bench/intercept/run.py [--n 100000] [--reps 5]`.

Every configuration runs once per round, rounds repeat ``--reps`` times (interleaved, so
the noise of a shared machine spreads over all of them), and the table shows medians with
ratios against baselines measured in the same run. Needs root (seccomp + /proc of the
target), gcc, and strace for (f).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cases  # noqa: E402

from faultbox.intercept import native  # noqa: E402

Case = Callable[[cases.Build, int], float]
CASES: list[tuple[str, str, Case]] = [
    ("a", "no filter", cases.no_filter),
    ("b", "filter installed, write not notified", cases.filter_not_notified),
    ("e", "floor: minimal C supervisor (poll → recv → CONTINUE), sync wake-up", cases.floor(True)),
    ("e0", "floor without SYNC_WAKE_UP (target and supervisor on 2 CPUs)", cases.floor(False)),
    (
        "e+",
        "floor + readlinkat(/proc/TID/fd) + ID_VALID (C, no rules/records)",
        cases.floor(True, True),
    ),
    ("c", "faultbox, allow + path + glob + record (native loop)", cases.allowed("native")),
    ("d", "faultbox, deny EIO + path + glob + record (native loop)", cases.denied("native")),
    ("c-py", "faultbox, allow … (Python reference loop)", cases.allowed("python")),
    ("d-py", "faultbox, deny … (Python reference loop)", cases.denied("python")),
    ("f", "strace -f -e inject=write:error=EIO", cases.strace_inject),
]


def machine() -> str:
    """One line naming the machine (the numbers mean little without it)."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Linux {platform.release()} {platform.machine()}, {os.cpu_count()} vCPU ({cpu}), "
        f"Python {platform.python_version()}, load {load}"
    )


def measure(n: int, reps: int, only: set[str] | None) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {key: [] for key, _, _ in CASES}
    with tempfile.TemporaryDirectory(prefix="fb-bench-") as tmp:
        build = cases.compile_helpers(Path(tmp))
        for rep in range(reps):
            for key, _, fn in CASES:
                if only and key not in only:
                    continue
                results[key].append(fn(build, n))
            done = ", ".join(f"{k}={v[-1]:.2f}" for k, v in results.items() if v)
            print(f"round {rep + 1}/{reps}: {done}", file=sys.stderr, flush=True)
    return results


def report(results: dict[str, list[float]], n: int, reps: int) -> None:
    med = {k: statistics.median(v) for k, v in results.items() if v}
    print(f"\n{machine()}")
    print(
        f"{n} one-byte writes to a file (ext4 /tmp) per run, median of {reps} runs (µs per call)\n"
    )
    print("| case | configuration | median µs | min | max | × floor (e) |")
    print("|---|---|---|---|---|---|")
    for key, label, _ in CASES:
        if key not in med:
            continue
        v = results[key]
        ratio = f"{med[key] / med['e']:.2f}" if "e" in med else "-"
        row = f"| {key} | {label} | {med[key]:.2f} | {min(v):.2f} | {max(v):.2f} | {ratio} |"
        print(row)
    print("\n| target | measured | met |")
    print("|---|---|---|")
    checks = []
    if "a" in med and "b" in med:
        d = med["b"] - med["a"]
        checks.append(("(b) − (a) ≤ 0.1 µs", f"{d:+.3f} µs", d <= 0.1))
    if "c" in med and "e" in med:
        r = med["c"] / med["e"]
        checks.append(("(c) ≤ 1.5 × (e)", f"{r:.2f} ×", r <= 1.5))
    if "c" in med and "f" in med:
        r = med["f"] / med["c"]
        checks.append(("(c) ≥ 3 × faster than (f)", f"{r:.2f} ×", r >= 3.0))
    if "c" in med and "e+" in med:
        r = med["c"] / med["e+"]
        checks.append(("(info) (c) / (e+): faultbox beyond naming the file", f"{r:.2f} ×", True))
    if "c-py" in med and "c" in med:
        r = med["c-py"] / med["c"]
        checks.append(("(info) Python loop / native loop", f"{r:.2f} ×", True))
    for name, value, ok in checks:
        print(f"| {name} | {value} | {'yes' if ok else 'NO'} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="writes per run (default 100000)")
    ap.add_argument("--reps", type=int, default=5, help="runs per configuration (default 5)")
    ap.add_argument("--only", default="", help="comma-separated case keys, e.g. a,b,e,c")
    args = ap.parse_args()
    if native.load() is None:
        print(f"native loop unavailable: {native.load_error()}", file=sys.stderr)
        return 1
    only = {k.strip() for k in args.only.split(",") if k.strip()} or None
    try:
        results = measure(args.n, args.reps, only)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"benchmark failed: {e}", file=sys.stderr)
        return 1
    report(results, args.n, args.reps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
