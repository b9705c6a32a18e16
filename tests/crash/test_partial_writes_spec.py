"""partial() from a spec, end to end: the demo inventory-svc gets a short WAL write, answers
``ERR wal: short write`` and leaves a torn entry that the next entry is glued to; the trace
records the cut; a partial rule that never cuts anything is reported as never fired; bad
partial() arguments are load errors with file:line (more in tests/core/bad_specs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, run_faultbox

INVENTORY = REPO / "bin" / "inventory-svc"
PORT = 15471

SPEC = """
inventory = service("inventory", "{binary}",
    interface("main", "tcp", {port}),
    env = {{"PORT": "{port}", "WAL_PATH": "{wal}"}},
    healthcheck = tcp("localhost:{port}"),
    ops = {{"wal_write": op(syscalls = ["write", "fsync"], path = "*.wal")}},
)

torn_wal = fault_assumption("torn_wal", target = inventory,
    wal_write = partial(fraction = 0.5, label = "half an entry"))

def reserve_fails():
    assert_eq(inventory.main.send(data = "RESERVE gadget 2"), "ERR wal: short write")

fault_scenario("half_entry", scenario = reserve_fails, faults = torn_wal)

def test_short_wal_write():
    def reserve():
        # the WAL entry "RESERVE widget 5\\n" is 17 bytes: only 11 reach the file
        assert_eq(inventory.main.send(data = "RESERVE widget 5"), "ERR wal: short write")
    fault(inventory, write = partial(bytes = 11, label = "torn WAL"), run = reserve)
    assert_eq(inventory.main.send(data = "RESERVE widget 1"), "OK 99")  # stock unchanged
    cuts = events(type = "syscall", service = "inventory", decision = "partial*")
    assert_eq(len(cuts), 1)
    assert_eq(cuts[0].fields["written"], "11")
    assert_eq(cuts[0].fields["requested"], "17")
    assert_eq(cuts[0].fields["label"], "torn WAL")
    assert_true(cuts[0].fields["path"].endswith(".wal"), cuts[0].fields["path"])

def test_partial_on_small_writes_never_fires():
    def reserve():
        assert_eq(inventory.main.send(data = "RESERVE widget 1"), "OK 99")
    # every write of inventory-svc is shorter than 100 bytes: nothing to cut
    fault(inventory, write = partial(bytes = 100), run = reserve)
"""


def test_fault_assumption_on_an_op_cuts_its_writes_only(inventory: Path, tmp_path: Path) -> None:
    wal = tmp_path / "inventory.wal"
    spec = tmp_path / "partial.star"
    spec.write_text(SPEC.format(binary=inventory, port=PORT, wal=wal))
    out = tmp_path / "result.json"
    proc = run_faultbox("test", str(spec), "--test", "half_entry", "--output", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert wal.read_bytes() == b"RESERVE "  # half of "RESERVE gadget 2\n"; no fsync after it
    events = [e for e in json.loads(out.read_text())["tests"][0]["events"] if e.get("fields")]
    cut = [e["fields"] for e in events if e["fields"].get("decision", "").startswith("partial")]
    assert cut == [cut[0]] and cut[0]["op"] == "wal_write" and cut[0]["label"] == "half an entry"
    assert not [e for e in events if e["fields"].get("syscall") == "fsync"]  # it gave up


@pytest.fixture
def inventory() -> Path:
    if not INVENTORY.exists():
        pytest.skip("bin/inventory-svc is not built (make build)")
    return INVENTORY


@pytest.mark.parametrize("loop", ["native", "python"])
def test_inventory_wal_gets_a_torn_entry(inventory: Path, tmp_path: Path, loop: str) -> None:
    wal = tmp_path / "inventory.wal"
    spec = tmp_path / "partial.star"
    spec.write_text(SPEC.format(binary=inventory, port=PORT, wal=wal))
    out = tmp_path / "result.json"
    proc = run_faultbox(
        "test", str(spec), "--test", "test_short_wal_write", "--output", str(out),
        env={"FAULTBOX_SUPERVISOR": loop},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the torn prefix stays; the next (whole) entry is appended right after it: a reader
    # that splits the WAL on newlines now sees one garbled line instead of two entries
    assert wal.read_bytes() == b"RESERVE widRESERVE widget 1\n"
    result = json.loads(out.read_text())
    assert (result["pass"], result["fail"]) == (1, 0)
    (cut,) = [
        e
        for e in result["tests"][0]["events"]
        if e.get("fields", {}).get("decision", "").startswith("partial")
    ]
    assert cut["fields"]["decision"] == "partial(11 of 17 bytes)"
    assert (cut["fields"]["requested"], cut["fields"]["written"]) == ("17", "11")


def test_partial_rule_that_never_cuts_is_reported(inventory: Path, tmp_path: Path) -> None:
    spec = tmp_path / "partial.star"
    spec.write_text(SPEC.format(binary=inventory, port=PORT, wal=tmp_path / "inventory.wal"))
    proc = run_faultbox("test", str(spec), "--test", "test_partial_on_small_writes_never_fires")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert "rule write=partial(bytes=100) on inventory was installed but never fired" in text


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("fault_start(inventory, fsync = partial())", "a partial result only exists for writes"),
        ("fault_start(inventory, write = partial(bytes = 0))", "bytes= must be a whole number"),
        ("fault_start(inventory, write = partial(fraction = 1.5))", "between 0 and 1"),
        ("fault_start(inventory, write = partial(bytes = 4, fraction = 0.5))", "not both"),
    ],
)
def test_bad_partial_is_a_load_error(
    inventory: Path, tmp_path: Path, call: str, message: str
) -> None:
    spec = tmp_path / "bad.star"
    spec.write_text(
        SPEC.format(binary=inventory, port=PORT, wal=tmp_path / "w")
        + f"\ndef test_bad():\n    {call}\n"
    )
    line = spec.read_text().splitlines().index(f"    {call}") + 1
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert f"bad.star:{line}:" in first and message in first, first
    assert "Traceback" not in proc.stderr
