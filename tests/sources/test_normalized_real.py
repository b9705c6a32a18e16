"""Normalized traces of real servers: PostgreSQL 15 + the chapter-11 app + wal_stream.

The spec is bench/normalized/pg_app_wal.star (the one bench/normalized/measure.py measures):
PostgreSQL's openat/write/fdatasync and the app's openat/write/connect are traced while the app
takes six orders, half of whose payment calls a probability=0.5 fault refuses.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.sources.conftest import (
    EXAMPLES,
    REPO,
    needs_postgres,
    needs_redis,
    run_spec,
    shifted_copy,
)

SPEC = REPO / "bench" / "normalized" / "pg_app_wal.star"
NAME = "test_orders_with_flaky_payment"


def _normalized_run(tmp_path: Path, tag: str, seed: int = 7) -> tuple[str, dict[str, Any]]:
    out = tmp_path / f"{tag}.norm"
    run = run_spec(SPEC, tmp_path / tag, "--seed", str(seed), "--normalize", str(out))
    assert run.returncode == 0, run.output[-3000:]
    return out.read_text(), run.tests[NAME]


def _diff(a: Path, b: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faultbox.cli", "diff", str(a), str(b), "--no-color", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def _pids(test: dict[str, Any]) -> set[str]:
    return {e["fields"]["pid"] for e in test["events"]
            if e["type"] in ("syscall", "service_started") and e.get("fields", {}).get("pid")}  # fmt: skip


@needs_postgres
def test_normalized_real_run_has_no_tmpdir_slot_or_pid(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    text, test = _normalized_run(tmp_path, "one")
    raw = str(test["events"])
    # The test's directory: /tmp/faultbox-run-<8 random>/faultbox-<8 random>. (postgres-fresh's
    # template cache, /tmp/faultbox-pg-templates-<uid>, is the same path in every run and stays.)
    session_dir = r"/faultbox-(run-)?[a-z0-9_]{8}(?![a-z0-9_-])"
    # The raw trace does have all three; the normalized one has none of them.
    assert re.search(session_dir, raw) and re.search(r"\bfaultbox_\d+_\d+\b", raw)
    assert not re.search(session_dir, text)
    assert not re.search(r"\bfaultbox_\d+_\d+\b", text)
    assert "{tmpdir}/postgres/data/" in text and "{slot}" in text and "[{pid}]" in text
    pids = _pids(test)
    assert len(pids) > 3  # postmaster, its children, the app's threads
    # A pid may equal a relation file's number (base/13572/2691); those whole-number path
    # components are kept on purpose, so look everywhere else.
    rest = re.sub(r"(?<=/)\d+(?=/|$)", "", text, flags=re.MULTILINE)
    found = sorted(p for p in pids if re.search(rf"(?<!\d){p}(?!\d)", rest))
    assert not found, found
    lines = text.splitlines()
    wal = lines[lines.index("--- postgres wal ---") + 1 :]
    created = sum(1 for e in test["events"] if e["type"] == "wal")
    assert created == len(wal) > 0
    assert all(
        re.fullmatch(r"orders INSERT created_at=\{time\} id=\d item=\w+ qty=1", w) for w in wal
    )
    assert "--- api stdout ---" in lines and "--- postgres stderr ---" in lines


@needs_postgres
def test_two_runs_of_one_seed_are_identical_narrowed_to_app_syscalls_and_wal(
    tmp_path: Path,
) -> None:
    files = []
    for tag in ("a", "b"):
        (tmp_path / tag).mkdir()
        _normalized_run(tmp_path, tag)
        files.append(tmp_path / f"{tag}.norm")
    narrowed = _diff(files[0], files[1], "--type", "api:syscall", "--type", "postgres:wal")
    assert narrowed.returncode == 0, narrowed.stdout
    assert narrowed.stdout.startswith("traces are identical (narrowed: ")
    # What was compared is not trivial: the refused payment calls and the WAL inserts.
    text = files[0].read_text()
    assert "connect deny(connection refused) 127.0.0.1:38080" in text
    app = _diff(files[0], files[1], "--service", "api")
    assert app.returncode == 0, app.stdout


@needs_redis
def test_redis_poll_and_log_lines_normalize_the_same_in_two_runs(
    tmp_path: Path, public_tmp: Path
) -> None:
    spec = shifted_copy(EXAMPLES / "redis-poll.star", public_tmp, {6379: 36379, 8080: 38081})
    files = []
    for tag in ("a", "b"):
        out = tmp_path / f"{tag}.norm"
        run = run_spec(spec, tmp_path, "--normalize", str(out))
        assert run.returncode == 0, run.output[-3000:]
        files.append(out)
    text = files[0].read_text()
    lines = text.splitlines()
    # Sections: services first, then streams sorted by service and type (poll < stdout).
    poll = lines[lines.index("--- redis poll ---") + 1 : lines.index("--- redis stdout ---")]
    assert poll == ["GET session:active value=", "GET session:active value=alice"]
    redis_log = lines[lines.index("--- redis stdout ---") + 1 :]
    assert any("pid={pid}" in ln for ln in redis_log), redis_log
    assert any(re.match(r"\{pid\}:[A-Z] \{time\} ", ln) for ln in redis_log), redis_log
    proc = _diff(files[0], files[1], "--type", "poll", "--type", "stdout", "--type", "step")
    assert proc.returncode == 0, proc.stdout
