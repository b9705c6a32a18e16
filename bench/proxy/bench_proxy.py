"""Latency the protocol proxy adds per request when no rule matches.

Real PostgreSQL 15 and Redis 7 on loopback, asked directly and through faultbox's proxy
(ProxyHub, the relay services' redirected connections run through). The hub runs in a process
of its own, as in a test (services are other processes than faultbox), and records its
``proxy`` events into a real EventLog. Two proxied interfaces per server: ``idle`` (no rule
active: the usual state between faults) and ``rule`` (a rule set active that matches none of
the requests, so each request is decided before it goes).

Clients, each asked directly and through both interfaces, rounds interleaved, medians of the
per-request times over all rounds, in one run:

- PostgreSQL: a loop of ``SELECT 1`` (psycopg2, simple protocol) and ``pgbench -S`` (the
  per-transaction log, one client);
- Redis: a loop of GETs (redis-py) and ``redis-benchmark -t get`` (its p50, one client).

``--before DIR`` adds a second hub run from another source tree (e.g. ``git archive`` of an
older commit): its relays are measured in the same rounds. Run through the test lock, or in a
private network namespace (``unshare -n sh -c 'ip link set lo up && …'``):

    flock /tmp/faultbox-test.lock .venv/bin/python bench/proxy/bench_proxy.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2
import redis

REPO = Path(__file__).resolve().parents[2]
PG_FRESH = REPO / "tests" / "sources" / "specs" / "services" / "postgres-fresh"
PG_PORT, REDIS_PORT = 15499, 16499
ROUNDS, PER_ROUND = 6, 1000
PGBENCH_TX, REDIS_BENCH_N = 2000, 5000


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"port {port} did not open")


def serve_hub() -> None:
    """``--serve-hub``: listen for pg.idle, pg.rule, redis.idle, redis.rule; print the ports as
    JSON; relay until stdin closes."""
    from faultbox.proxy import ProtocolRule, ProxyHub, RuleBook
    from faultbox.trace.events import EventLog
    from faultbox.trace.vocabulary import EventType

    log = EventLog()
    book = RuleBook()

    def record(owner: str, fields: dict[str, str]) -> None:
        log.emit(EventType.PROXY, owner, fields)

    hub = ProxyHub(book, record)
    ports = {}
    for name, proto, port in (("pg", "postgres", PG_PORT), ("redis", "redis", REDIS_PORT)):
        for mode in ("idle", "rule"):
            ports[f"{name}.{mode}"] = hub.listen(f"{name}.{mode}", proto, name, port)[
                socket.AF_INET
            ]
    book.add("pg.rule", [ProtocolRule("error", criteria=(("query", "DELETE*"),))])
    book.add("redis.rule", [ProtocolRule("error", criteria=(("command", "SET"),))])
    print(json.dumps(ports), flush=True)
    sys.stdin.read()
    hub.close()


def _start_hub(tree: Path) -> tuple[subprocess.Popen[str], dict[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen([sys.executable, __file__, "--serve-hub"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())


def _loop(fn: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(PER_ROUND):
        t = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def _pgbench(port: int, tmp: Path) -> list[float]:
    prefix = tmp / f"pgb{port}"
    subprocess.run(["pgbench", "-n", "-S", "-c", "1", "-t", str(PGBENCH_TX), "-l",
                    f"--log-prefix={prefix}", "-h", "127.0.0.1", "-p", str(port), "-U",
                    "postgres", "postgres"], check=True, capture_output=True, cwd=tmp)  # fmt: skip
    out: list[float] = []
    for log in tmp.glob(f"pgb{port}*"):
        out += [float(line.split()[2]) for line in log.read_text().splitlines()]
        log.unlink()
    return out


def _redis_benchmark(port: int) -> list[float]:
    run = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "1", "-n",
                          str(REDIS_BENCH_N), "-t", "get", "--csv"], check=True,
                         capture_output=True, text=True)  # fmt: skip
    header, row = run.stdout.strip().splitlines()[:2]
    cols = [c.strip('"') for c in header.split(",")]
    vals = [c.strip('"') for c in row.split(",")]
    return [float(vals[cols.index("p50_latency_ms")]) * 1000]


def main() -> None:
    if sys.argv[1:] == ["--serve-hub"]:
        serve_hub()
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", type=Path, help="a source tree whose relays are measured too")
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="faultbox-bench-proxy-"))
    tmp.chmod(0o777)
    procs: list[subprocess.Popen[str] | subprocess.Popen[bytes]] = []
    try:
        rs = subprocess.Popen(["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                               "--save", "", "--dir", str(tmp)], stdout=subprocess.DEVNULL)  # fmt: skip
        procs.append(rs)
        pg = subprocess.Popen(
            ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--",
             str(PG_FRESH), str(tmp / "data"), "-p", str(PG_PORT), "-k", str(tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(pg)
        _wait_port(REDIS_PORT, rs)
        _wait_port(PG_PORT, pg)
        subprocess.run(["pgbench", "-i", "-s", "1", "-q", "-h", "127.0.0.1", "-p", str(PG_PORT),
                        "-U", "postgres", "postgres"], check=True, capture_output=True)  # fmt: skip
        hubs = {"after": REPO} | ({"before": opts.before} if opts.before else {})
        targets: dict[str, dict[str, int]] = {"direct": {"pg": PG_PORT, "redis": REDIS_PORT}}
        for label, tree in hubs.items():
            proc, ports = _start_hub(tree)
            procs.append(proc)
            for mode in ("idle", "rule"):
                targets[f"{label} {mode}"] = {"pg": ports[f"pg.{mode}"],
                                              "redis": ports[f"redis.{mode}"]}  # fmt: skip
        curs = {k: psycopg2.connect(host="127.0.0.1", port=t["pg"], user="postgres",
                                    dbname="postgres").cursor() for k, t in targets.items()}  # fmt: skip
        clients = {k: redis.Redis(host="127.0.0.1", port=t["redis"]) for k, t in targets.items()}
        clients["direct"].set("k", "v")
        subprocess.run(["redis-cli", "-p", str(REDIS_PORT), "set", "key:__rand_int__", "v"],
                       check=True, capture_output=True)  # fmt: skip

        def select1(cur: object) -> Callable[[], object]:
            def run() -> object:
                cur.execute("SELECT 1")  # type: ignore[attr-defined]
                return cur.fetchone()  # type: ignore[attr-defined]

            return run

        kinds: dict[str, Callable[[str], list[float]]] = {
            "postgres SELECT 1 loop (psycopg2)": lambda k: _loop(select1(curs[k])),
            "pgbench -S (per transaction)": lambda k: _pgbench(targets[k]["pg"], tmp),
            "redis GET loop (redis-py)": lambda k: _loop(lambda: clients[k].get("k")),
            "redis-benchmark -t get (p50)": lambda k: _redis_benchmark(targets[k]["redis"]),
        }
        samples: dict[str, dict[str, list[float]]] = {kind: {k: [] for k in targets}
                                                      for kind in kinds}  # fmt: skip
        for fn in kinds.values():  # warm-up
            for k in targets:
                fn(k)
        for _ in range(ROUNDS):
            for kind, fn in kinds.items():
                for k in targets:
                    samples[kind][k] += fn(k)
        for kind, per in samples.items():
            d = statistics.median(per["direct"])
            cells = [f"direct {d:6.1f}"]
            for k, v in per.items():
                if k != "direct":
                    m = statistics.median(v)
                    cells.append(f"{k} {m:6.1f} (+{m - d:5.1f})")
            print(f"{kind:36} " + "   ".join(cells) + " µs")
        for c in curs.values():
            c.connection.close()
        for cl in clients.values():
            cl.close()
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, rounds {ROUNDS}, "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    finally:
        for p in reversed(procs):
            if p.stdin is not None:
                p.stdin.close()
            else:
                p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
