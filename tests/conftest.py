"""Fixtures shared by every test directory: the repo, the demo binaries, running faultbox."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def demo_bin() -> Path:
    """The demo services, built once per test session into <repo>/bin."""
    subprocess.run(
        [sys.executable, str(REPO / "demo" / "build.py"), "--bin", str(REPO / "bin")],
        check=True,
        capture_output=True,
    )
    return REPO / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_faultbox(
    *args: str, cwd: Path | str = REPO, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the faultbox CLI as a user would, capturing output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "faultbox.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def write_demo_spec(
    path: Path, demo_bin: Path, body: str, *, api: bool = False
) -> tuple[Path, int, int | None]:
    """Write a spec declaring mock-db as ``db`` (and mock-api as ``api``, using it) on free
    ports, followed by ``body`` (dedented). Returns (path, db port, api port or None)."""
    import textwrap

    db_port = free_port()
    text = (
        f'db = service("db", "{demo_bin}/mock-db", interface("main", "tcp", {db_port}),\n'
        f'    env = {{"PORT": "{db_port}"}}, healthcheck = tcp("localhost:{db_port}"))\n'
    )
    api_port = None
    if api:
        api_port = free_port()
        text += (
            f'api = service("api", "{demo_bin}/mock-api", interface("public", "http", {api_port}),\n'
            f'    env = {{"PORT": "{api_port}", "DB_ADDR": db.main.addr}}, depends_on = [db],\n'
            f'    healthcheck = http("localhost:{api_port}/health"))\n'
        )
    path.write_text(text + textwrap.dedent(body))
    return path, db_port, api_port
