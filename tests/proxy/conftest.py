"""Helpers for the protocol-fault tests: `faultbox test` on the specs of tests/proxy/specs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SPECS = Path(__file__).resolve().parent / "specs"
VENV_BIN = Path(sys.executable).parent
HAVE_POSTGRES = Path("/usr/lib/postgresql/15/bin/postgres").exists()
HAVE_REDIS = shutil.which("redis-server") is not None
_HINT = "run tests/servers.sh to install it"
needs_postgres = pytest.mark.skipif(not HAVE_POSTGRES, reason=f"PostgreSQL 15 missing: {_HINT}")
needs_redis = pytest.mark.skipif(not HAVE_REDIS, reason=f"redis-server missing: {_HINT}")


@dataclass
class Run:
    returncode: int
    output: str
    tests: dict[str, dict[str, Any]]

    def result(self, name: str) -> str:
        return str(self.tests[name]["result"])

    def events(self, name: str, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.tests[name]["events"] if e["type"] == type_]


def run_spec(name: str, tmp_path: Path, *args: str) -> Run:
    """`faultbox test specs/NAME --output …` with the venv first on PATH (the apps run on the
    venv's python3: psycopg2, redis)."""
    out = tmp_path / "trace.json"
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        [sys.executable, "-m", "faultbox.cli", "test", str(SPECS / name), "--output", str(out),
         *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    tests = {}
    if out.exists():
        tests = {t["name"]: t for t in json.loads(out.read_text())["tests"]}
    return Run(proc.returncode, proc.stdout + proc.stderr, tests)
