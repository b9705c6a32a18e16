"""Chapter 12 end to end: named operations in fault_scenario and fault_matrix."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def ch12_run(tmp_path_factory: pytest.TempPathFactory, demo_bins: Path, fbx):
    work = fbx.workdir(tmp_path_factory.mktemp("ch12"), demo_bins, "ch12/named-ops.star")
    return fbx.faultbox("test", "named-ops.star", cwd=work)


def test_persist_failure(ch12_run) -> None:
    err = ch12_run.stderr
    assert "--- PASS: test_persist_failure" in err
    assert "fault rule on inventory: persist=deny(EIO) → filter:[write," in err
    assert 'label="persist broken"' in err


def test_wal_failure_answers_409(ch12_run) -> None:
    err = ch12_run.stderr
    assert "--- PASS: test_wal_failure" in err
    assert 'path="/tmp/*.wal" label="WAL broken" (1 hit)' in err


def test_the_2x2_matrix(ch12_run) -> None:
    """The chapter says every cell fails under its fault. GET /inventory/widget never writes
    the WAL, so (check_inventory, wal_broken) answers 200 and its expect fails — the truth."""
    err = ch12_run.stderr
    assert "Fault Matrix: 2 scenarios × 2 faults = 4 cells" in err
    lines = err.splitlines()
    i = lines.index("Fault Matrix: 2 scenarios × 2 faults = 4 cells")
    assert [c.strip() for c in lines[i + 2].split("│")[1:]] == ["persist_broken", "wal_broken"]
    place = [c.strip() for c in lines[i + 4].split("│")]
    check = [c.strip() for c in lines[i + 5].split("│")]
    assert place[0] == "place_order" and check[0] == "check_inventory"  # declaration order
    assert place[1].startswith("PASS") and place[2].startswith("PASS")
    # persist=write+fsync on every fd: inventory cannot even answer CHECK → 503.
    assert check[1].startswith("PASS")
    assert check[2] == "FAIL"
    assert "Result: 3/4 passed, 1 failed" in err
    assert "  check_inventory × wal_broken: expected failure under fault" in err
    assert (
        'wal_write=deny(EIO) on inventory label="WAL broken" was installed but never fired' in err
    )
    assert err.rstrip().endswith("7 passed, 1 failed")
    assert ch12_run.returncode == 2


def test_generate_for_named_ops(tmp_path: Path, demo_bins: Path, fbx) -> None:
    work = fbx.workdir(tmp_path, demo_bins, "ch12/named-ops.star")
    proc = fbx.faultbox("generate", "named-ops.star", "--dry-run", "--no-profile", cwd=work)
    assert proc.stderr.splitlines() == [
        "  place_order × orders: 4 mutations",
        "  place_order × inventory: 3 mutations",
        "  check_inventory × orders: 4 mutations",
        "  check_inventory × inventory: 3 mutations",
        "  Total: 14 mutations",
    ]
    proc = fbx.faultbox("generate", "named-ops.star", "--scenario", "place_order", cwd=work)
    assert proc.stderr.endswith(
        "  place_order: 7 mutations fire, 0 never did\nwrote place_order.faults.star\n"
    )
    text = (work / "place_order.faults.star").read_text()
    assert 'load("named-ops.star", "inventory", "orders", "place_order")' in text
    assert 'inventory_down = fault_assumption("inventory_down",' in text
    proc = fbx.faultbox("test", "place_order.faults.star", "--test", "*partition", cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "--- PASS: test_place_order_inventory_partition" in proc.stderr
