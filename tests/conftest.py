"""Fixtures shared by every test directory: the repo, the demo binaries, running faultbox."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from faultbox.intercept import native

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


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out on its own (bind to 0, connect without bind)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


# Ports for specs come from just below the ephemeral range. A port picked by binding 0 and
# closing lies *inside* that range: between the close and the service's own bind, any
# outgoing connection on the machine (more of them on a loaded machine with slow services)
# may get it as its local port, and the service fails with "address in use". Ports below the
# range are only ever taken by an explicit bind: other tests' fixed ports, serialised by the
# test lock (/tmp/faultbox-test.lock). The start depends on the pid so that two pytest
# processes (a run outside the lock) do not walk the same sequence.
_PORT_HIGH = _ephemeral_low()
_PORT_LOW = min(30000, _PORT_HIGH - 1000)
_port_cursor = [os.getpid() * 61 % (_PORT_HIGH - _PORT_LOW)]


def _bindable(port: int) -> bool:
    """Nothing listens on ``port`` (any address) and no connection of it lingers."""
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))  # no SO_REUSEADDR: a TIME_WAIT socket counts as taken
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port for a service to bind, outside the kernel's ephemeral range.

    Never the same port twice in one pytest process (two calls in a test get two ports).
    """
    span = _PORT_HIGH - _PORT_LOW
    for _ in range(span):
        port = _PORT_LOW + _port_cursor[0] % span
        _port_cursor[0] += 1
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port in {_PORT_LOW}..{_PORT_HIGH - 1}")


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


def shown(path: Path, cwd: Path | str = REPO) -> str:
    """How faultbox names ``path`` in an error when run in ``cwd`` (run_faultbox's default):
    relative to cwd when that is shorter than going up two levels, else absolute."""
    rel = os.path.relpath(path, cwd)
    return Path(path).as_posix() if rel.startswith("../..") else rel


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


@pytest.fixture(params=["native", "python"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test with both supervisor loops: the GIL-free native one and the Python one
    (one configuration, two loops: tests/intercept/test_intercept_native.py)."""
    if request.param == "native" and native.load() is None:
        pytest.skip(f"no native loop: {native.load_error()}")
    return str(request.param)


def compile_c(src: Path, out: Path, *flags: str) -> Path:
    """``gcc -O2 flags -o out src`` (a test target); skips the test when gcc is missing."""
    if not shutil.which("gcc"):
        pytest.skip(f"gcc is needed to build {src.name}")
    subprocess.run(
        ["gcc", "-O2", *flags, "-o", str(out), str(src)], check=True, capture_output=True
    )
    return out
