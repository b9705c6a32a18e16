"""How reproducible is the normalized trace of a real PostgreSQL + app + wal_stream run?

Runs ``faultbox test pg_app_wal.star --seed SEED --normalize run-N.norm`` RUNS times, then
compares every pair of runs (10 pairs for 5 runs) with ``faultbox diff``, not narrowed and
narrowed several ways, and says which services/types the differing lines belong to.

    flock /tmp/faultbox-test.lock .venv/bin/python bench/normalized/measure.py [--runs 5]
        [--seed 7] [--keep DIR]

Needs PostgreSQL 15 (tests/servers.sh). Prints a Markdown table (docs/traces.md has one).
"""

from __future__ import annotations

import argparse
import collections
import difflib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from faultbox.trace.narrow import parse_lines  # noqa: E402  (after the path is set)

SPEC = HERE / "pg_app_wal.star"

#: (name, diff arguments)
NARROWINGS: list[tuple[str, list[str]]] = [
    ("not narrowed", []),
    ("app syscalls + wal (`--type api:syscall --type postgres:wal`)",
     ["--type", "api:syscall", "--type", "postgres:wal"]),
    ("the app (`--service api`)", ["--service", "api"]),
    ("steps + stdout + wal (`--type step --type stdout --type wal`)",
     ["--type", "step", "--type", "stdout", "--type", "wal"]),
    ("postgres syscalls (`--type postgres:syscall`)", ["--type", "postgres:syscall"]),
    ("postgres stderr (`--type postgres:stderr`)", ["--type", "postgres:stderr"]),
    ("everything, order ignored (`--ignore-order`)", ["--ignore-order"]),
    ("everything, order ignored, without the start-up race line "
     "(`--ignore-order --exclude '*the database system is starting up'`)",
     ["--ignore-order", "--exclude", "*the database system is starting up"]),
]  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)  # ch11-app needs the venv's python3
    env["PATH"] = f"{venv_bin}{os.pathsep}{env.get('PATH', '')}"
    return env


def faultbox(*args: str) -> subprocess.CompletedProcess[str]:
    """One ``python -m faultbox.cli`` call from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "faultbox.cli", *args],
        cwd=REPO, capture_output=True, text=True, env=_env(), timeout=600,
    )  # fmt: skip


def run_once(out: Path, seed: int) -> None:
    proc = faultbox("test", str(SPEC), "--seed", str(seed), "--normalize", str(out))
    if proc.returncode != 0:
        raise SystemExit(f"run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def differing(a: Path, b: Path) -> collections.Counter[str]:
    """``service type`` → number of lines that differ between two normalized traces."""
    la, lb = parse_lines(a.read_text()), parse_lines(b.read_text())
    sm = difflib.SequenceMatcher(None, [x.text for x in la], [x.text for x in lb], autojunk=False)
    count: collections.Counter[str] = collections.Counter()
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag != "equal":
            for ln in [*la[i1:i2], *lb[j1:j2]]:
                count[f"{ln.service} {ln.type or ln.kind}"] += 1
    return count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="keep the .norm files in this directory")
    opts = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fb-normalized-"))
    try:
        files = [work / f"run-{i}.norm" for i in range(opts.runs)]
        for f in files:
            run_once(f, opts.seed)
        pairs = list(itertools.combinations(files, 2))
        print(f"{opts.runs} runs of {SPEC.name}, seed {opts.seed}, {len(pairs)} pairs; "
              f"{len(files[0].read_text().splitlines())} lines in run 0\n")  # fmt: skip
        print("| narrowed to | identical pairs | lines compared (run 0) |")
        print("|---|---|---|")
        for name, args in NARROWINGS:
            same = sum(faultbox("diff", str(a), str(b), "--no-color", *args).returncode == 0
                       for a, b in pairs)  # fmt: skip
            note = faultbox("diff", str(files[0]), str(files[0]), *args).stdout.strip()
            compared = (
                note.split("narrowed: ", 1)[1].split(" vs")[0] if "narrowed" in note else "all"
            )
            print(f"| {name} | {same} / {len(pairs)} | {compared} |")
        total: collections.Counter[str] = collections.Counter()
        for a, b in pairs:
            total.update(differing(a, b))
        print("\ndiffering lines over all pairs, by service and type:")
        for key, n in total.most_common():
            print(f"  {key}: {n}")
        if opts.keep:
            opts.keep.mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copy(f, opts.keep / f.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
