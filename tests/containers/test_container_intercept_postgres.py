"""A denied WAL fsync inside the PostgreSQL container, seen in the trace with its container
path (issue 16's acceptance). Image: faultbox-test/postgres:15 (tests/containers.sh)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faultbox.intercept import Rule, expand_syscalls, native
from tests.conftest import free_port
from tests.containers.intercept_harness import ContainerHarness, build_target, docker_client

PG_IMAGE = "faultbox-test/postgres:15"
FSYNC = expand_syscalls("fsync")
WAL_GLOB = "/var/lib/postgresql/data/pg_wal/*"


@pytest.fixture(scope="module")
def client() -> Any:
    c = docker_client()
    try:
        c.images.get(PG_IMAGE)
    except Exception:
        print(f"SKIP containers: image {PG_IMAGE} not built (tests/containers.sh up)")
        pytest.skip(f"image {PG_IMAGE} not built (tests/containers.sh up)")
    return c


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_target(tmp_path_factory.mktemp("ct-target"))


@pytest.fixture(params=["native", "python"])
def ch(client: Any, target: Path, request: pytest.FixtureRequest) -> Iterator[ContainerHarness]:
    if request.param == "native" and native.load() is None:
        pytest.skip(f"no native loop: {native.load_error()}")
    h = ContainerHarness(client, PG_IMAGE, target, str(request.param))
    try:
        yield h
    finally:
        h.close()


def _connect(port: int, deadline: float) -> Any:
    import psycopg2  # local import: only this test needs the driver

    while True:
        try:
            return psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)  # polling readiness with a deadline, not synchronisation


def test_denied_wal_fsync_in_postgres_container(ch: ContainerHarness) -> None:
    import psycopg2  # local import: only this test needs the driver

    port = free_port()
    image = ch.client.images.get(PG_IMAGE)
    argv = [
        *image.attrs["Config"]["Entrypoint"],
        *image.attrs["Config"]["Cmd"],
        "-c",
        f"port={port}",
    ]
    started = ch.start(argv, FSYNC, service="db")
    conn = _connect(port, time.monotonic() + 120)
    conn.autocommit = True
    handle = ch.rules(
        "db", Rule("fsync", "deny", FSYNC, errno=5, errno_name="EIO", path_glob=WAL_GLOB)
    )
    with pytest.raises(psycopg2.Error):  # the commit's WAL flush fails: PANIC
        conn.cursor().execute("CREATE TABLE t (x int)")
    conn.close()
    # the backend PANICs; the postmaster restarts (crash recovery) instead of exiting
    deadline = time.monotonic() + 120
    while "PANIC" not in (out := started.container.logs().decode(errors="replace")):
        assert time.monotonic() < deadline, out
        time.sleep(0.2)  # polling the log with a deadline
    denied = [r for r in ch.of() if r.decision == "deny(input/output error)"]
    assert denied, ch.records
    assert all(r.syscall in FSYNC for r in denied)
    assert all(r.path.startswith("/var/lib/postgresql/data/pg_wal/0000") for r in denied), denied
    assert ch.sup.hits(handle)[0] == len(denied)


# docs/containers.md, "Syscall faults inside containers": the example, on a free port and
# with args= for the port (the image's own command plus -c port=N)
DOC_SPEC = """
pg = service("postgres",
    interface("main", "postgres", {port}),
    image = "faultbox-test/postgres:15",
    args = ["postgres", "-c", "port={port}"],
    healthcheck = tcp("localhost:{port}"),
    ops = {{"wal_sync": op(syscalls = ["fsync"], path = "/var/lib/postgresql/data/pg_wal/*")}},
)

def test_wal_fsync_fails():
    pg.main.exec(sql = "SELECT 1")  # ready: the startup process and its own fsyncs are done
    r = fault(pg, wal_sync = deny("EIO"), run = lambda: pg.main.exec(sql = "CREATE TABLE t (x int)"))
    assert_true(r.error != "", "the commit must fail")
    assert_eventually(service = "postgres", syscall = "fdatasync", decision = "deny*",
                      path = "/var/lib/postgresql/data/pg_wal/*")
"""


def test_docs_example_spec(client: Any, tmp_path: Path) -> None:
    from tests.conftest import run_faultbox

    spec = tmp_path / "pg.star"
    spec.write_text(DOC_SPEC.format(port=free_port()))
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 0 failed" in proc.stdout + proc.stderr
