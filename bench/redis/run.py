"""Redis under faultbox: `python bench/redis/run.py [--n 50000] [--clients 10] [--reps 3]`.

redis-server with ``appendonly yes`` and ``appendfsync always`` (every SET is written to
the AOF and fdatasync'ed before the reply), measured with ``redis-benchmark -t set`` in
one run, rounds interleaved, medians of ``--reps``:

* plain — redis-server started directly, no faultbox;
* fsync — under faultbox's launcher + Supervisor (the intercept API, as the runtime uses
  it), fsync + fdatasync notified;
* fsync+write — fsync, fdatasync and the write family notified (every reply to a client is
  a write too);

each supervised configuration with the native loop and with the Python reference loop.
Every notified call is resolved, decided and recorded: one deny rule per configuration
with a glob that never matches (as a spec's fault on other files would be).
"""

from __future__ import annotations

import argparse
import errno
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from faultbox.intercept import Rule, Supervisor, expand_syscalls, launch  # noqa: E402

FSYNC = expand_syscalls("fsync")
WRITE = expand_syscalls("write")
CONFIGS: list[tuple[str, str, tuple[str, ...], str | None]] = [
    ("plain", "redis-server, no faultbox", (), None),
    ("fsync", "fsync+fdatasync notified (native loop)", FSYNC, "native"),
    ("fsync+write", "+ write family notified (native loop)", FSYNC + WRITE, "native"),
    ("fsync-py", "fsync+fdatasync notified (Python loop)", FSYNC, "python"),
    ("fsync+write-py", "+ write family notified (Python loop)", FSYNC + WRITE, "python"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"redis on port {port} not ready within {timeout}s")


def server_argv(port: int, workdir: Path) -> list[str]:
    return [
        shutil.which("redis-server") or "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(workdir),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
        "--daemonize",
        "no",
        "--loglevel",
        "warning",
    ]


@contextmanager
def redis(notify: tuple[str, ...], backend: str | None, workdir: Path) -> Iterator[int]:
    """A running redis-server (plain, or launched + supervised by faultbox); yields the port."""
    port = free_port()
    argv = server_argv(port, workdir)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if backend is None:
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
        try:
            wait_ready(port)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)
        return
    records = [0]

    def sink(_rec: object) -> None:
        records[0] += 1

    # The supervisor's one configuration, as faultbox's sessions run it (buffered, 5 ms flush).
    sup = Supervisor(sink, seed=1, backend=backend)
    glob = "/nonexistent/**/*.aof"
    sup.add_rules("redis", [Rule("io", "deny", notify, errno.EIO, path_glob=glob)])
    lp = launch(argv, env=env, notify=notify, stdout=subprocess.DEVNULL)
    sup.attach("redis", lp)
    try:
        wait_ready(port)
        yield port
    finally:
        lp.send_signal(15)
        lp.wait(10)
        sup.stop()
        lp.close()
        if sup.failure:
            raise RuntimeError(f"supervisor failed: {sup.failure}")
        if records[0] == 0:
            raise RuntimeError("no syscall was recorded: interception did not happen")


def benchmark(port: int, n: int, clients: int) -> float:
    """SET requests per second from redis-benchmark's CSV output."""
    cmd = ["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(n), "-c", str(clients)]
    out = subprocess.run([*cmd, "-P", "1", "--csv"], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if cells[0] == "SET":
            return float(cells[1])
    raise RuntimeError(f"no SET line in redis-benchmark output: {out.stdout!r}")


def machine() -> str:
    version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Linux {platform.release()} {platform.machine()}, {os.cpu_count()} vCPU, "
        f"{version.stdout.split(' sha=')[0].strip()}, load {load}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000, help="SET requests per run")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    for tool in ("redis-server", "redis-benchmark"):
        if not shutil.which(tool):
            print(f"{tool} missing: apt-get install redis-server redis-tools", file=sys.stderr)
            return 1
    rps: dict[str, list[float]] = {key: [] for key, *_ in CONFIGS}
    for rep in range(args.reps):
        for key, _label, notify, backend in CONFIGS:
            with (
                tempfile.TemporaryDirectory(prefix="fb-redis-") as tmp,
                redis(notify, backend, Path(tmp)) as port,
            ):
                rps[key].append(benchmark(port, args.n, args.clients))
        done = ", ".join(f"{k}={v[-1]:.0f}" for k, v in rps.items())
        print(f"round {rep + 1}/{args.reps}: {done}", file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in rps.items()}
    print(f"\n{machine()}")
    print(
        f"redis-benchmark -t set -n {args.n} -c {args.clients} -P 1, appendfsync always; "
        f"median of {args.reps} (requests/s)\n"
    )
    print("| configuration | median rps | min | max | % of plain |")
    print("|---|---|---|---|---|")
    for key, label, _, _ in CONFIGS:
        v = rps[key]
        pct = 100.0 * med[key] / med["plain"]
        print(f"| {key}: {label} | {med[key]:.0f} | {min(v):.0f} | {max(v):.0f} | {pct:.1f}% |")
    print("\n| target | measured | met |")
    print("|---|---|---|")
    for key, goal in (("fsync", 95.0), ("fsync+write", 80.0)):
        pct = 100.0 * med[key] / med["plain"]
        print(f"| {key} ≥ {goal:.0f}% of plain | {pct:.1f}% | {'yes' if pct >= goal else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
