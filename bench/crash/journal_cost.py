"""Cost per write of pre-image journaling (crash(lose_unsynced=True)), against the same
writes notified without it; medians of interleaved runs in one process.

    .venv/bin/python bench/crash/journal_cost.py [--writes 20000] [--size 64] [--runs 5]

Modes: ``native`` (notified, decided by the C loop), ``python`` (notified, the Python loop),
``journal`` (notified and journaled: decided in Python, a pre-image read per write).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from faultbox.intercept import Supervisor, launch

HERE = Path(__file__).resolve().parent
NOTIFY = ["write", "writev", "pwrite64", "pwritev", "pwritev2", "fsync", "fdatasync"]


def one(writer: Path, d: Path, mode: str, writes: int, size: int) -> float:
    """ns per write of one run of ``writer`` under ``mode``."""
    sup = Supervisor(lambda _r: None, backend="python" if mode == "python" else "native")
    if mode == "journal":
        sup.enable_journal("bench")
    proc = launch([str(writer), str(d / f"{mode}.dat"), str(writes), str(size)],
                  env={}, notify=NOTIFY, stdout=subprocess.PIPE)  # fmt: skip
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
    d = Path(tempfile.mkdtemp(prefix="fb-bench-crash-"))
    try:
        writer = d / "writer"
        subprocess.run(["gcc", "-O2", "-o", str(writer), str(HERE / "writer.c")], check=True)
        modes = ("native", "python", "journal")
        times: dict[str, list[float]] = {m: [] for m in modes}
        for _ in range(args.runs):  # interleaved: drifting machine load hits every mode
            for m in modes:
                times[m].append(one(writer, d, m, args.writes, args.size))
        med = {m: statistics.median(v) / 1000 for m, v in times.items()}
        print(f"{args.writes} pwrite()s of {args.size} B, median of {args.runs} runs (µs/write)")
        for m in modes:
            print(f"  {m:8s} {med[m]:6.1f}   runs: {' '.join(f'{t / 1000:.1f}' for t in times[m])}")
        print(
            f"  journaling costs {med['journal'] - med['python']:+.1f} µs/write over the "
            f"Python loop, {med['journal'] - med['native']:+.1f} over the native loop"
        )
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
