"""Latency the protocol proxy adds per request when no rule matches.

Real PostgreSQL 15 (a loop of simple queries, psycopg2) and Redis 7 (a loop of GETs, redis-py),
each asked directly and through faultbox's proxy (ProxyHub, the relay services' redirected
connections run through; a rule set is active that matches none of the requests, so every
request is parsed and decided). Batches alternate direct / proxied; medians of the per-request
times over all batches, in one run. Run through the test lock:

    flock /tmp/faultbox-test.lock .venv/bin/python bench/proxy/bench_proxy.py
"""

from __future__ import annotations

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

from faultbox.proxy import ProtocolRule, ProxyHub, RuleBook

REPO = Path(__file__).resolve().parents[2]
PG_FRESH = REPO / "tests" / "sources" / "specs" / "services" / "postgres-fresh"
PG_PORT, REDIS_PORT = 15499, 16499
BATCHES, PER_BATCH = 10, 1000


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


def _per_request(fn: Callable[[], object]) -> list[float]:
    out = []
    for _ in range(PER_BATCH):
        t = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def _compare(name: str, direct: Callable[[], object], proxied: Callable[[], object]) -> None:
    for fn in (direct, proxied):  # warm-up
        for _ in range(200):
            fn()
    d: list[float] = []
    p: list[float] = []
    for _ in range(BATCHES):
        d += _per_request(direct)
        p += _per_request(proxied)
    md, mp = statistics.median(d), statistics.median(p)
    print(f"{name:28} direct {md:7.1f} µs   proxied {mp:7.1f} µs   added {mp - md:6.1f} µs"
          f"   (n={len(d)} each)")  # fmt: skip


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="faultbox-bench-proxy-"))
    tmp.chmod(0o777)
    procs = []
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
        book = RuleBook()
        hub = ProxyHub(book, lambda owner, fields: None)
        pg_proxy = hub.listen("pg.main", "postgres", "pg", PG_PORT)[socket.AF_INET]
        rd_proxy = hub.listen("redis.main", "redis", "redis", REDIS_PORT)[socket.AF_INET]
        book.add("pg.main", [ProtocolRule("error", criteria=(("query", "DELETE*"),))])
        book.add("redis.main", [ProtocolRule("error", criteria=(("command", "SET"),))])
        conns = [psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
                 for port in (PG_PORT, pg_proxy)]  # fmt: skip
        curs = [c.cursor() for c in conns]

        def query(i: int) -> Callable[[], object]:
            def run() -> object:
                curs[i].execute("SELECT 1")
                return curs[i].fetchone()

            return run

        _compare("postgres SELECT 1 (simple)", query(0), query(1))
        clients = [redis.Redis(host="127.0.0.1", port=p) for p in (REDIS_PORT, rd_proxy)]
        clients[0].set("k", "v")
        _compare("redis GET", lambda: clients[0].get("k"), lambda: clients[1].get("k"))
        for c in conns:
            c.close()
        for cl in clients:
            cl.close()
        hub.close()
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
