"""Cost of a partial() decision per write, against the same write notified and allowed;
medians of interleaved runs in one process.

    .venv/bin/python bench/crash/partial_cost.py [--writes 20000] [--size 64] [--runs 5]

Modes: ``native``/``python`` (notified, no rule: CONTINUE), ``native-partial``/
``python-partial`` (every write cut to half by ``partial(fraction=0.5)``: the supervisor reads
the prefix from the target, copies its fd with pidfd_getfd, writes it and answers the short
count; under the native loop the decision is made in C and the write handed to Python).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from faultbox.intercept import Rule, Supervisor, expand_syscalls, launch

HERE = Path(__file__).resolve().parent
WRITES = tuple(expand_syscalls("write"))
MODES = ("native", "native-partial", "python", "python-partial")


def one(writer: Path, d: Path, mode: str, writes: int, size: int) -> float:
    """ns per write of one run of ``writer`` under ``mode``."""
    sup = Supervisor(lambda _r: None, backend=mode.split("-")[0])
    if mode.endswith("-partial"):
        sup.add_rules("bench", [Rule("write", "partial", WRITES, partial_fraction=0.5)])
    proc = launch([str(writer), str(d / f"{mode}.dat"), str(writes), str(size)],
                  env={}, notify=list(WRITES), stdout=subprocess.PIPE)  # fmt: skip
    try:
        sup.attach("bench", proc)
        out, _ = proc.popen.communicate(timeout=600)
        assert proc.returncode == 0, proc.returncode
        return float(out)
    finally:
        sup.stop()
        proc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=20000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="fb-bench-partial-"))
    try:
        writer = d / "short_writer"
        src = HERE / "short_writer.c"
        subprocess.run(["gcc", "-O2", "-o", str(writer), str(src)], check=True)
        times: dict[str, list[float]] = {m: [] for m in MODES}
        for _ in range(args.runs):  # interleaved: drifting machine load hits every mode
            for m in MODES:
                times[m].append(one(writer, d, m, args.writes, args.size))
        med = {m: statistics.median(v) / 1000 for m, v in times.items()}
        print(f"{args.writes} pwrite()s of {args.size} B, median of {args.runs} runs (µs/write)")
        for m in MODES:
            print(
                f"  {m:15s} {med[m]:6.1f}   runs: {' '.join(f'{t / 1000:.1f}' for t in times[m])}"
            )
        for loop in ("native", "python"):
            extra = med[f"{loop}-partial"] - med[loop]
            print(f"  a partial decision costs {extra:+.1f} µs/write over the {loop} loop")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
