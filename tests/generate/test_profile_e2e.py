"""Generated mutations fire: generate (profile run on real services), run the file, and check
every cell's per-fault hit counts in the JSON result."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent

#: Chapter 12's services, the WAL in the test's own directory; two scenarios, one writes.
DISK_SPEC = """\
inventory = service("inventory", "bin/inventory-svc",
    interface("main", "tcp", 5432),
    env = {"PORT": "5432", "WAL_PATH": "{tmpdir}/inventory.wal"},
    healthcheck = tcp("localhost:5432"),
)
orders = service("orders", "bin/order-svc",
    interface("public", "http", 8080),
    env = {"PORT": "8080", "INVENTORY_ADDR": inventory.main.addr},
    depends_on = [inventory],
    healthcheck = http("localhost:8080/health"),
)

def place_order():
    return orders.post(path="/orders", body='{"sku":"widget","qty":1}')
scenario(place_order)

def check_inventory():
    return orders.get(path="/inventory/widget")
scenario(check_inventory)
"""

#: mock-db behind a front end that receives with recvfrom(2) (recv_api.py).
RECV_SPEC = """\
db = service("db", "bin/mock-db",
    interface("main", "tcp", 5432),
    healthcheck = tcp("localhost:5432"),
)
api = service("api", "./recv-api",
    interface("public", "http", 8080),
    env = {"PORT": "8080", "DB_ADDR": db.main.addr},
    depends_on = [db],
    healthcheck = http("localhost:8080/health"),
)

def lookup():
    return api.get(path="/data/k")
scenario(lookup)
"""


def _run(work: Path, fbx: Any, faults_file: str, *args: str) -> dict[str, Any]:
    """``faultbox test FILE --output r.json``; the parsed JSON result."""
    proc = fbx.faultbox("test", faults_file, "--output", "r.json", *args, cwd=work)
    assert proc.returncode in (0, 2), proc.stderr
    return dict(json.loads((work / "r.json").read_text()))


def _assert_every_generated_fault_fired(result: dict[str, Any], generated: set[str]) -> None:
    """Each generated cell's fault rules, and each partition test's, fired in that test."""
    ran = {t["name"]: t for t in result["tests"]}
    assert generated <= set(ran), sorted(generated - set(ran))
    for name in sorted(generated):
        faults = ran[name]["faults"]
        if name.endswith("_partition"):
            assert sum(f["hits"] for f in faults if f["kind"] == "partition") > 0, name
            continue
        rules = [f for f in faults if f["kind"] == "fault"]
        assert rules, name
        assert all(f["hits"] > 0 for f in rules), (name, rules)


def _generated_tests(text: str, scenarios: list[str]) -> set[str]:
    """Test names a generated file defines: matrix cells and partition tests."""
    names = {ln.split(" = ")[0] for ln in text.splitlines() if " = fault_assumption(" in ln}
    excluded = {
        (ln.split("(")[1].split(",")[0], ln.split(", ")[1].split(")")[0])
        for ln in text.splitlines()
        if ln.startswith("        (") and "),  # never fires" in ln
    }
    cells = {f"test_matrix_{sc}_{n}" for sc in scenarios for n in names if (sc, n) not in excluded}
    parts = {ln[4:].split("(")[0] for ln in text.splitlines() if ln.startswith("def test_")}
    return cells | parts


def test_ch10_generates_no_disk_fault_for_a_db_without_disk_and_every_fault_fires(
    tmp_path: Path, demo_bins: Path, fbx: Any
) -> None:
    work = fbx.workdir(tmp_path, demo_bins, "ch10/scenario-test.star")
    proc = fbx.faultbox("generate", "scenario-test.star", cwd=work)
    assert proc.returncode == 0, proc.stderr
    text = (work / "order_flow.faults.star").read_text()
    # mock-db keeps its data in memory: its writes all go to sockets and its stdout pipe.
    assert "target = db" not in text
    assert "#   order_flow × disk_io_error (write on db): db wrote to no file (" in text
    assert (
        "#   order_flow × fsync_failure (fsync on db): db never called fsync or fdatasync" in text
    )
    assert "# covers: connect (seen 2× from api to db in the profile run)\ndb_down = " in text
    assert "# covers: read, readv, pread64, preadv, preadv2 (seen read " in text
    generated = _generated_tests(text, ["order_flow"])
    assert generated == {
        "test_matrix_order_flow_db_down", "test_matrix_order_flow_db_slow",
        "test_matrix_order_flow_db_connection_reset", "test_order_flow_db_partition",
    }  # fmt: skip
    _assert_every_generated_fault_fired(_run(work, fbx, "order_flow.faults.star"), generated)


def test_disk_faults_only_where_the_scenario_writes_a_file_and_every_fault_fires(
    tmp_path: Path, demo_bins: Path, fbx: Any
) -> None:
    work = fbx.workdir(tmp_path, demo_bins)
    (work / "shop.star").write_text(DISK_SPEC)
    proc = fbx.faultbox("generate", "shop.star", "--output", "shop.faults.star", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "  place_order: 7 mutations fire, 0 never did" in proc.stderr
    assert "  check_inventory: 4 mutations fire, 3 never did" in proc.stderr
    text = (work / "shop.faults.star").read_text()
    # place_order appends to the WAL (write + fsync); check_inventory only reads memory.
    assert "#   place_order: seen write 1× on /" in text and "/inventory.wal in the" in text
    assert "        (check_inventory, disk_io_error),  # never fires here (see the end)" in text
    assert "        (check_inventory, fsync_failure),  # never fires here (see the end)" in text
    assert "(fsync on inventory): inventory never called fsync or fdatasync" in text
    generated = _generated_tests(text, ["place_order", "check_inventory"])
    assert len(generated) == 11
    assert "test_matrix_place_order_fsync_failure" in generated
    assert "test_matrix_check_inventory_disk_full" not in generated
    result = _run(work, fbx, "shop.faults.star")
    _assert_every_generated_fault_fired(result, generated)
    assert "test_matrix_check_inventory_disk_full" not in {t["name"] for t in result["tests"]}


@pytest.fixture
def recv_work(tmp_path: Path, demo_bins: Path, fbx: Any) -> Path:
    work = fbx.workdir(tmp_path, demo_bins)
    script = work / "recv-api"
    script.write_text(f"#!{sys.executable}\n" + (HERE / "recv_api.py").read_text())
    script.chmod(0o755)
    (work / "lookup.star").write_text(RECV_SPEC)
    return work


def test_a_recvfrom_client_gets_a_reset_on_recvfrom_and_it_fires(recv_work: Path, fbx: Any) -> None:
    proc = fbx.faultbox("generate", "lookup.star", cwd=recv_work)
    assert proc.returncode == 0, proc.stderr
    text = (recv_work / "lookup.faults.star").read_text()
    assert "# covers: recvfrom, recvmsg (seen recvfrom " in text
    assert '    recvfrom = deny("ECONNRESET"),\n)' in text
    assert "read = deny(" not in text  # read(2) is never used on its sockets
    generated = _generated_tests(text, ["lookup"])
    assert "test_matrix_lookup_db_connection_reset" in generated
    _assert_every_generated_fault_fired(_run(recv_work, fbx, "lookup.faults.star"), generated)


def test_unprofiled_the_read_family_alone_would_never_fire(recv_work: Path, fbx: Any) -> None:
    """Why the reset covers recvfrom: on this client its read= rule gets 0 hits."""
    proc = fbx.faultbox("generate", "lookup.star", "--no-profile", cwd=recv_work)
    assert proc.returncode == 0, proc.stderr
    result = _run(
        recv_work, fbx, "lookup.faults.star", "--test", "matrix_lookup_db_connection_reset"
    )
    (cell,) = result["tests"]
    hits = {f["syscall"]: f["hits"] for f in cell["faults"] if f["kind"] == "fault"}
    assert hits["read"] == 0 and hits["recvfrom"] > 0, hits
