"""Kill what faultbox started if faultbox itself is killed (SIGKILL, OOM killer, a crash in C).

Normally each test stops its services and the subreaper (``reaper.py``) ends what they forked.
When faultbox dies without running that code, the kernel's parent-death signal kills only each
service's own process: a wrapper script's child, a worker or a daemon would run on and keep
its port. So faultbox starts this watchdog once per run, in a session of its own, and marks
every service with ``FAULTBOX_RUN_ID=<id>`` in its environment, which all its descendants
inherit. The watchdog waits for its stdin (a pipe only faultbox holds) to close — that
happens however faultbox ends — then SIGKILLs every process still carrying the mark.

Containers too: a container service's processes carry the mark as well (they are the host's
processes, in other namespaces), so they are killed like the others; the containers themselves
are then removed through the Docker engine's API (``remove_containers``: the run's label
``faultbox.run=<id>``, a plain HTTP call on the engine's socket — no SDK without site-packages).

Disk too: every test's temporary directory (services' ``"{tmpdir}"`` data, a PostgreSQL
cluster of 39 MB) lives inside one *run directory* created with the watchdog
(``<TMPDIR>/faultbox-run-XXXXXXXX``). After killing the marked processes the watchdog removes
it; a normal exit removes it at once (``atexit``), so nothing waits on the watchdog then.

This file is also the watchdog program: it runs as ``python -I -S watchdog.py RUN_ID`` and
imports nothing from faultbox, so it starts in a few milliseconds.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

RUN_ID_ENV = "FAULTBOX_RUN_ID"
RUN_DIR_PREFIX = "faultbox-run-"
CONTAINER_LABEL = "faultbox.run"  # = common.docker_engine.LABEL_RUN (no faultbox import here)
ENGINE_TIMEOUT_S = 20.0

_run_id: str | None = None
_run_dir: str | None = None
_keepalive: subprocess.Popen[bytes] | None = None


def ensure_watchdog() -> str:
    """Start this run's watchdog (once per process) and return the run id to mark services."""
    global _run_id, _run_dir, _keepalive
    if _run_id is None:
        # local import: the watchdog program (python -I -S this file) imports no faultbox
        from faultbox.runtime.interrupts import deferred

        # A Ctrl-C between creating the run directory and registering its removal (or in
        # tempfile's first probe of TMPDIR) would leave it: the signal waits for the end.
        with deferred():
            _start(uuid.uuid4().hex)
    assert _run_id is not None
    return _run_id


def _start(run_id: str) -> None:
    """Create the run directory and start the watchdog process."""
    global _run_id, _run_dir, _keepalive
    run_dir = tempfile.mkdtemp(prefix=RUN_DIR_PREFIX)
    # Traversable (not listable) for services that run as another user= (tmpdirs.py).
    os.chmod(run_dir, 0o711)
    atexit.register(shutil.rmtree, run_dir, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != RUN_ID_ENV}
    # Its stdin is a pipe whose write end only this process holds (non-inheritable, so no
    # service gets a copy): the pipe closes exactly when faultbox exits, however it exits.
    try:
        _keepalive = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__), run_id, run_dir],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the terminal's group must not reach it
            env=env,
        )
    except OSError as exc:  # a safety net only: the run goes on without it
        print(f"faultbox: warning: no watchdog ({exc})", file=sys.stderr)
    _run_id, _run_dir = run_id, run_dir


def run_tmpdir() -> str:
    """This run's directory (created with the watchdog): make every temporary dir inside it."""
    ensure_watchdog()
    assert _run_dir is not None
    return _run_dir


def marked_pids(run_id: str) -> list[int]:
    """PIDs of the processes whose environment carries ``FAULTBOX_RUN_ID=run_id``."""
    needle = f"{RUN_ID_ENV}={run_id}".encode()
    found = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = f.read()
        except OSError:  # gone, or not ours to read
            continue
        if needle in env.split(b"\0"):
            found.append(int(name))
    return found


def kill_marked(run_id: str, rounds: int = 5) -> int:
    """SIGKILL every marked process until none is left (forks may race); how many were hit."""
    total = 0
    for _ in range(rounds):
        pids = marked_pids(run_id)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                total += 1
            except OSError:
                pass
        time.sleep(0.02)
    return total


def remove_run_dir(run_id: str, run_dir: str, rounds: int = 20) -> bool:
    """Remove the run directory once nothing marked can write into it; True if it is gone."""
    if not os.path.basename(run_dir).startswith(RUN_DIR_PREFIX):
        return False  # never remove anything but a run directory
    for _ in range(rounds):
        shutil.rmtree(run_dir, ignore_errors=True)
        if not os.path.lexists(run_dir):
            return True
        # A file appeared while we removed (a process that was still dying): again.
        kill_marked(run_id, rounds=1)
        time.sleep(0.05)
    return not os.path.lexists(run_dir)


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=ENGINE_TIMEOUT_S)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(ENGINE_TIMEOUT_S)
        self.sock.connect(self._path)


def _engine_connection() -> http.client.HTTPConnection | None:
    """A connection to the engine at DOCKER_HOST (unix:// or tcp://; default the socket)."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if host.startswith("unix://"):
        path = host[len("unix://") :]
        return _UnixHTTPConnection(path) if os.path.exists(path) else None
    if host.startswith("tcp://"):
        hostport = host[len("tcp://") :].rstrip("/")
        return http.client.HTTPConnection(hostport, timeout=ENGINE_TIMEOUT_S)
    return None  # ssh:// or TLS: the SDK's business; nothing we can do without it


def _engine(method: str, path: str) -> tuple[int, bytes]:
    conn = _engine_connection()
    if conn is None:
        return 0, b""
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def remove_containers(run_id: str) -> int:
    """Force-remove every container labelled with the run; how many (0 without an engine)."""
    query = urllib.parse.urlencode(
        {"all": "1", "filters": json.dumps({"label": [f"{CONTAINER_LABEL}={run_id}"]})}
    )
    try:
        status, body = _engine("GET", f"/containers/json?{query}")
        if status != 200:
            return 0
        removed = 0
        for entry in json.loads(body):
            status, _ = _engine("DELETE", f"/containers/{entry['Id']}?force=1&v=1")
            removed += status in (204, 404)
        return removed
    except (OSError, ValueError, KeyError, http.client.HTTPException):
        return 0  # no engine, or it went away: there is nothing left to remove on it


def _main(run_id: str, run_dir: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    kill_marked(run_id)
    remove_containers(run_id)  # before the run directory: their bind mounts point into it
    remove_run_dir(run_id, run_dir)


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
