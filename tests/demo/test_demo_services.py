"""End-to-end tests of the demo services: build them with demo/build.py into a temporary
directory, launch the real executables and talk to them over TCP/HTTP."""

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("mock-db", "mock-api", "inventory-svc", "order-svc")


# --------------------------------------------------------------------------- helpers


# Generous bounds: the services are Python programs, and the suite must pass with every core
# busy (make test-loaded), where a start-up or a log line can take seconds.
def wait_port(port, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"service exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise AssertionError(f"port {port} not ready after {timeout}s")


class Service:
    def __init__(self, proc, port, stdout_path):
        self.proc = proc
        self.port = port
        self.stdout_path = stdout_path

    def logs(self):
        """stdout lines, each parsed as JSON (asserts every line is a JSON object)."""
        lines = self.stdout_path.read_text().splitlines()
        out = [json.loads(line) for line in lines]
        assert all(isinstance(o, dict) and o.get("level") in ("INFO", "ERROR") for o in out)
        return out

    def wait_log(self, pred, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [o for o in self.logs() if pred(o)]
            if found:
                return found
            time.sleep(0.02)
        raise AssertionError(f"no matching log line in {self.logs()}")


@pytest.fixture(scope="session")
def bin_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-bin")
    res = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "build.py"), "--bin", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    for name in NAMES:
        assert f"wrote {out / name}" in res.stdout
        assert f"wrote {out / 'linux' / name}" in res.stdout
    return out


@pytest.fixture
def launch(bin_dir, tmp_path):
    procs = []

    def start(name, env=None, port=None, stdout=None):
        port = port or free_port()
        full_env = {"PORT": str(port), **(env or {})}
        stdout_path = tmp_path / f"{name}-{port}.stdout"
        out = open(stdout if stdout else stdout_path, "wb")  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                [str(bin_dir / name)],
                env=full_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=open(tmp_path / f"{name}-{port}.stderr", "wb"),  # noqa: SIM115
            )
        finally:
            out.close()
        procs.append(proc)
        wait_port(port, proc)
        return Service(proc, port, stdout_path)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def line_session(port, *commands, timeout=5.0):
    """Send commands on one connection; return one answer line per command."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        f = s.makefile("rwb")
        answers = []
        for cmd in commands:
            f.write(cmd.encode() + b"\n")
            f.flush()
            answers.append(f.readline().decode().rstrip("\n"))
        return answers


def line_cmd(port, cmd):
    return line_session(port, cmd)[0]


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), resp
    finally:
        conn.close()


def post_order(port, sku="widget", qty=1):
    status, body, _ = request(port, "POST", "/orders", json.dumps({"sku": sku, "qty": qty}))
    return status, json.loads(body)


# --------------------------------------------------------------------------- build


def test_build_layout_and_idempotence(bin_dir):
    interp = os.path.realpath(sys.executable)
    for name in NAMES:
        for path in (bin_dir / name, bin_dir / "linux" / name):
            assert os.access(path, os.X_OK)
            assert path.read_text().splitlines()[0] == f"#!{interp} -IS"
        assert (bin_dir / name).read_bytes() == (bin_dir / "linux" / name).read_bytes()
    res = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "build.py"), "--bin", str(bin_dir)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "wrote" not in res.stdout
    assert res.stdout.count("unchanged") == 2 * len(NAMES)


# --------------------------------------------------------------------------- mock-db


def test_mock_db_protocol(launch):
    db = launch("mock-db")
    assert line_session(
        db.port,
        "PING",
        "SET key1 value1",
        "GET key1",
        "GET missing",
        "SET k2 a value with spaces",
        "get k2",
        "FOO bar",
        "SET onlykey",
    ) == [
        "PONG",
        "OK",
        "value1",
        "NOT_FOUND",
        "OK",
        "a value with spaces",
        "ERR unknown command: FOO",
        "ERR usage: SET key value",
    ]
    # state is shared across connections
    assert line_cmd(db.port, "GET key1") == "value1"


def test_mock_db_quit_closes(launch):
    db = launch("mock-db")
    with socket.create_connection(("127.0.0.1", db.port), timeout=5) as s:
        s.sendall(b"PING\nQUIT\nPING\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data == b"PONG\n"


def test_mock_db_logs(launch):
    db = launch("mock-db")
    line_session(db.port, "SET key1 value1", "GET key1")
    logs = db.wait_log(lambda o: o.get("op") == "GET")
    assert logs[0]["msg"] == "GET key1"
    all_logs = db.logs()
    assert f"listening on :{db.port}" in all_logs[0]["msg"]
    sets = [o for o in all_logs if o.get("op") == "SET"]
    assert sets and sets[0]["msg"] == "SET key1 value1" and sets[0]["level"] == "INFO"
    assert not [o for o in all_logs if o["level"] == "ERROR"]


# --------------------------------------------------------------------------- mock-api


def test_mock_api_roundtrip(launch):
    db = launch("mock-db")
    api = launch("mock-api", {"DB_ADDR": f"localhost:{db.port}"})
    assert request(api.port, "GET", "/health")[:2] == (200, "ok\n")
    assert request(api.port, "POST", "/data/key1", "value1")[:2] == (200, "stored: key1=value1\n")
    assert request(api.port, "GET", "/data/key1")[:2] == (200, "value1\n")
    assert request(api.port, "GET", "/data/nope")[:2] == (404, "not found\n")
    assert request(api.port, "POST", "/data/k2", "")[:2] == (200, "stored: k2=default\n")
    assert request(api.port, "GET", "/elsewhere")[0] == 404
    assert request(api.port, "DELETE", "/data/key1")[0] == 405
    assert line_cmd(db.port, "GET key1") == "value1"
    api.wait_log(lambda o: o.get("msg") == "GET /data/nope 404")


def test_mock_api_keepalive_chunked_and_escapes(launch):
    db = launch("mock-db")
    api = launch("mock-api", {"DB_ADDR": f"127.0.0.1:{db.port}"})
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    try:
        conn.request("POST", "/data/a%2Fb", body=iter([b"chun", b"ked"]))  # chunked body
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"stored: a/b=chunked\n")
        conn.request("GET", "/data/a%2Fb?x=1")  # same connection
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (200, b"chunked\n")
    finally:
        conn.close()


def test_mock_api_db_down(launch):
    api = launch("mock-api", {"DB_ADDR": f"localhost:{free_port()}"})
    for method, body in (("POST", "v"), ("GET", None)):
        status, text, _ = request(api.port, method, "/data/key1", body)
        assert status == 500
        assert text.startswith("db error: connect to db: dial tcp 127.0.0.1:")
        assert "connection refused" in text
    errors = api.wait_log(lambda o: o["level"] == "ERROR")
    assert "error" in errors[0]["msg"].lower()


def test_mock_api_db_no_response(launch):
    """A db that accepts and closes without answering (as under write=deny on the db)."""
    srv = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def accept_and_close():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.recv(100)
            conn.close()

    thread = threading.Thread(target=accept_and_close, daemon=True)
    thread.start()
    try:
        api = launch("mock-api", {"DB_ADDR": f"localhost:{srv.getsockname()[1]}"})
        assert request(api.port, "POST", "/data/key1", "value1")[:2] == (
            500,
            "db error: no response from db\n",
        )
        logs = api.wait_log(lambda o: o["level"] == "ERROR")
        assert logs[0]["msg"] == "db error: no response from db"
    finally:
        stop.set()
        thread.join()
        srv.close()


# --------------------------------------------------------------------------- inventory-svc


def test_inventory_protocol_and_wal(launch, tmp_path):
    wal = tmp_path / "inventory.wal"
    inv = launch("inventory-svc", {"WAL_PATH": str(wal)})
    assert line_session(
        inv.port,
        "PING",
        "CHECK widget",
        "CHECK gadget",
        "CHECK gizmo",
        "CHECK nope",
        "RESERVE widget 3",
        "reserve gadget 50",
        "RESERVE gizmo 26",
        "RESERVE nope 1",
        "RESERVE widget x",
        "CHECK widget",
        "BOGUS",
    ) == [
        "PONG",
        "100",
        "50",
        "25",
        "NOT_FOUND",
        "OK 97",
        "OK 0",
        "ERR insufficient_stock 25",
        "ERR not_found",
        'ERR bad qty: strconv.Atoi: parsing "x": invalid syntax',
        "97",
        "ERR unknown: BOGUS",
    ]
    assert wal.read_text() == "RESERVE widget 3\nRESERVE gadget 50\n"
    assert oct(wal.stat().st_mode & 0o777) == "0o644"
    logs = inv.logs()
    assert any(o.get("op") == "RESERVE" and o["msg"].startswith("RESERVE widget 3") for o in logs)


def test_inventory_wal_unwritable(launch, tmp_path):
    inv = launch("inventory-svc", {"WAL_PATH": str(tmp_path / "missing-dir" / "x.wal")})
    assert line_session(inv.port, "RESERVE widget 5", "CHECK widget") == [
        "ERR wal: no such file or directory",
        "100",  # stock unchanged
    ]
    errors = inv.wait_log(lambda o: o["level"] == "ERROR")
    assert errors[0]["op"] == "RESERVE" and errors[0]["step"] == "open"


def test_inventory_double_write_variant(launch, tmp_path):
    wal = tmp_path / "inventory.wal"
    inv = launch("inventory-svc", {"WAL_PATH": str(wal), "INVENTORY_DOUBLE_WRITE": "1"})
    assert line_cmd(inv.port, "RESERVE gizmo 2") == "OK 23"
    assert wal.read_text() == "RESERVE gizmo 2\nRESERVE gizmo 2\n"


def _strace_works():
    if not shutil.which("strace"):
        return False
    return (
        subprocess.run(["strace", "-o", "/dev/null", "true"], capture_output=True).returncode == 0
    )


@pytest.mark.skipif(not _strace_works(), reason="strace unavailable or ptrace not permitted")
@pytest.mark.parametrize("double", [False, True])
def test_inventory_syscalls_per_order(launch, bin_dir, tmp_path, double):
    """Chapter 4: the WAL append is openat -> one write -> fsync -> close, every socket write is
    write(2), and an order costs inventory fewer than 10 writes (one more with the bug)."""
    wal = tmp_path / "inventory.wal"
    port = free_port()
    trace = tmp_path / "strace.txt"
    env = {"PORT": str(port), "WAL_PATH": str(wal)}
    if double:
        env["INVENTORY_DOUBLE_WRITE"] = "1"
    proc = subprocess.Popen(
        ["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=%file,%desc,%network", "--"]
        + [str(bin_dir / "inventory-svc")],
        env={**env, "PATH": os.environ.get("PATH", "")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc)
        orders = launch("order-svc", {"INVENTORY_ADDR": f"localhost:{port}"})
        # a round trip: inventory has served the readiness probes before the mark
        assert line_cmd(port, "PING") == "PONG"
        mark = len(trace.read_text().splitlines())
        assert post_order(orders.port)[0] == 200
        # the trace is read once the service has exited (below): nothing to wait for here
    finally:
        # signal the traced service itself (strace ignores/defers SIGTERM for its tracee)
        traced_pid = int(trace.read_text().split(None, 1)[0])
        os.kill(traced_pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(traced_pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
    lines = trace.read_text().splitlines()[mark:]
    calls = [ln.split(None, 1)[1].split("(", 1)[0] for ln in lines if "(" in ln]
    writes = [ln for ln in lines if " write(" in ln]
    wal_lines = [ln for ln in lines if str(wal) in ln or "RESERVE widget 1\\n" in ln]
    assert 1 <= len(writes) < 10, writes
    assert not {"sendto", "recvfrom", "sendmsg", "recvmsg", "writev"} & set(calls), calls
    opens = [ln for ln in wal_lines if "openat(" in ln]
    assert len(opens) == 1 and "O_WRONLY|O_CREAT|O_APPEND" in opens[0] and "0644" in opens[0]
    wal_writes = [ln for ln in writes if "write(" in ln and '"RESERVE widget 1\\n", 17' in ln]
    # the entry goes to the WAL (once, or twice with the bug) and nowhere else is it echoed
    assert len(wal_writes) == (2 if double else 1), wal_writes
    assert sum(" fsync(" in ln for ln in lines) == 1
    assert wal.read_text() == "RESERVE widget 1\n" * (2 if double else 1)


# --------------------------------------------------------------------------- order-svc


@pytest.fixture
def stack(launch, tmp_path):
    wal = tmp_path / "inventory.wal"
    inv = launch("inventory-svc", {"WAL_PATH": str(wal)})
    orders = launch("order-svc", {"INVENTORY_ADDR": f"localhost:{inv.port}"})
    return inv, orders, wal


def test_order_happy_path(stack):
    inv, orders, wal = stack
    assert request(orders.port, "GET", "/health")[:2] == (200, "ok\n")
    status, order = post_order(orders.port, "widget", 2)
    assert status == 200
    assert order == {
        "id": order["id"],
        "sku": "widget",
        "qty": 2,
        "status": "confirmed",
        "remaining_stock": 98,
    }
    assert wal.read_text() == "RESERVE widget 2\n"
    status, body, resp = request(orders.port, "GET", f"/orders/{order['id']}")
    assert status == 200 and json.loads(body) == order
    assert resp.getheader("Content-Type") == "application/json"
    assert request(orders.port, "GET", "/orders/9999")[0] == 404
    status, body, _ = request(orders.port, "GET", "/inventory/widget")
    assert (status, json.loads(body)) == (200, {"sku": "widget", "qty": 98})
    assert request(orders.port, "GET", "/inventory/nope")[0] == 404
    # qty <= 0 (or missing) means 1
    status, order = post_order(orders.port, "gizmo", 0)
    assert (status, order["qty"], order["remaining_stock"]) == (200, 1, 24)
    logs = orders.wait_log(lambda o: o.get("op") == "ORDER")
    assert logs[0]["status"] == "confirmed"


def test_order_errors(stack):
    _inv, orders, _wal = stack
    status, order = post_order(orders.port, "nope", 1)
    assert status == 404 and order["status"] == "failed" and order["error"] == "sku not found"
    status, order = post_order(orders.port, "gizmo", 26)
    assert status == 409 and order["status"] == "failed"
    assert order["error"] == "ERR insufficient_stock 25"
    status, body, _ = request(orders.port, "GET", f"/orders/{order['id']}")  # failed orders kept
    assert status == 200 and json.loads(body)["status"] == "failed"
    for bad in (
        "not json",
        '{"sku" "widget"}',
        '{"sku": "widget"} x',
        '{"sku": 5}',
        '{"sku": "widget", "qty": "2"}',
        "[1]",
        b"\xff",
    ):
        assert request(orders.port, "POST", "/orders", bad)[0] == 400, bad
    assert request(orders.port, "POST", "/orders", '{"qty": 1}')[:2] == (400, "sku required\n")
    assert request(orders.port, "GET", "/orders")[0] == 405


def test_order_wal_failure_is_409(launch, tmp_path):
    inv = launch("inventory-svc", {"WAL_PATH": str(tmp_path / "no-such-dir" / "inv.wal")})
    orders = launch("order-svc", {"INVENTORY_ADDR": f"localhost:{inv.port}"})
    status, order = post_order(orders.port)
    assert status == 409
    assert order["status"] == "failed" and order["error"].startswith("ERR wal: ")
    assert line_cmd(inv.port, "CHECK widget") == "100"


def test_order_inventory_down_is_503(launch):
    dead = free_port()
    orders = launch("order-svc", {"INVENTORY_ADDR": f"localhost:{dead}"})
    status, order = post_order(orders.port)
    assert status == 503
    assert order["status"] == "failed"
    assert order["error"] == (
        f"inventory unreachable: connect: dial tcp 127.0.0.1:{dead}: connect: connection refused"
    )
    status, body, _ = request(orders.port, "GET", "/inventory/widget")
    assert status == 503 and body.startswith("inventory error: ")
    logs = orders.wait_log(lambda o: o["level"] == "ERROR")
    assert "inventory unreachable" in logs[0]["msg"]


# --------------------------------------------------------------------------- robustness


def test_services_survive_failing_stdout(launch, tmp_path):
    """stdout on /dev/full: every log write fails with ENOSPC; the services keep working."""
    db = launch("mock-db", stdout="/dev/full")
    api = launch("mock-api", {"DB_ADDR": f"localhost:{db.port}"}, stdout="/dev/full")
    inv = launch("inventory-svc", {"WAL_PATH": str(tmp_path / "w.wal")}, stdout="/dev/full")
    orders = launch("order-svc", {"INVENTORY_ADDR": f"localhost:{inv.port}"}, stdout="/dev/full")
    assert request(api.port, "POST", "/data/k", "v")[:2] == (200, "stored: k=v\n")
    assert request(api.port, "GET", "/data/k")[:2] == (200, "v\n")
    assert post_order(orders.port)[0] == 200
    assert line_cmd(inv.port, "CHECK widget") == "99"
    for svc in (db, api, inv, orders):
        assert svc.proc.poll() is None


def test_services_survive_vanishing_clients(launch, tmp_path):
    """Clients that reset the connection before the reply, and oversized lines."""
    db = launch("mock-db")
    inv = launch("inventory-svc", {"WAL_PATH": str(tmp_path / "w.wal")})
    api = launch("mock-api", {"DB_ADDR": f"localhost:{db.port}"})
    for port, payload in (
        (db.port, b"SET a b\n" * 200),
        (inv.port, b"CHECK widget\n" * 200),
        (api.port, b"GET /health HTTP/1.1\r\n\r\n" * 200),
        (db.port, b"x" * 200_000),
    ):
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            with contextlib.suppress(OSError):
                s.sendall(payload)
            s.close()  # RST
    # not synchronisation: a moment for a crash to happen; the checks below pass without it
    time.sleep(0.3)
    assert line_cmd(db.port, "PING") == "PONG"
    assert line_cmd(inv.port, "PING") == "PONG"
    assert request(api.port, "GET", "/health")[0] == 200


@pytest.mark.parametrize("name", NAMES)
def test_sigterm_exits_zero_within_1s(launch, tmp_path, name):
    env = {"WAL_PATH": str(tmp_path / "w.wal")} if name == "inventory-svc" else {}
    svc = launch(name, env)
    # an idle open connection must not delay the exit: one request on it first, so the service
    # has surely accepted it (and, for HTTP, keeps it alive) before the signal
    idle = socket.create_connection(("127.0.0.1", svc.port), timeout=30)
    try:
        if name in ("mock-api", "order-svc"):
            idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert idle.recv(64).startswith(b"HTTP/1.1 200")
        else:
            idle.sendall(b"PING\n")
            assert idle.recv(64) == b"PONG\n"
        t0 = time.monotonic()
        svc.proc.send_signal(signal.SIGTERM)
        # "within 1 s" on an idle machine; 10 s with every core busy still separates a prompt
        # exit from one that waits for the idle client (which would never come)
        assert svc.proc.wait(timeout=10.0) == 0
        assert time.monotonic() - t0 < 10.0
    finally:
        idle.close()
    # the port is free again
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", svc.port))


def test_minimal_environment_and_port_in_use(bin_dir, tmp_path):
    """Runs with nothing but PORT in the environment; a taken port exits 1 with a log line."""
    port = free_port()
    with socket.socket() as blocker:
        blocker.bind(("", port))
        blocker.listen()
        res = subprocess.run(
            [str(bin_dir / "mock-db")], env={"PORT": str(port)}, capture_output=True, timeout=10
        )
    assert res.returncode == 1
    line = json.loads(res.stdout.decode().splitlines()[0])
    assert line["level"] == "ERROR" and "listen" in line["msg"]
