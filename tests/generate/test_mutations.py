"""The mutation table, naming, filters and dry-run counts."""

from __future__ import annotations

from pathlib import Path

from faultbox.generate.call_graph import analyze
from faultbox.generate.mutations import (
    MUTATION_TABLE,
    build_mutations,
    dry_run_counts,
    sanitize,
    select,
)
from faultbox.starlark_env.loader import load_spec

TWO_CALLEES = """
db = service("db", "bin/mock-db", interface("main", "tcp", 5432))
cache = service("cache", "bin/mock-db", interface("main", "tcp", 6379))
api = service("api", "bin/mock-api", interface("public", "http", 8080),
    depends_on = [db, cache])

def order_flow():
    return api.get(path="/health")

scenario(order_flow)
"""

TWO_CALLERS = """
db = service("db", "bin/mock-db", interface("main", "tcp", 5432))
api = service("api", "bin/mock-api", interface("public", "http", 8080), depends_on = [db])
worker = service("worker", "bin/mock-api", interface("public", "http", 8081), depends_on = [db])

def order_flow():
    return api.get(path="/health")

scenario(order_flow)
"""


def _topo(spec_dir: Path, text: str):
    (spec_dir / "spec.star").write_text(text, encoding="utf-8")
    return analyze(load_spec(spec_dir / "spec.star"))


def _rows(mutations):
    return [(m.name, m.target.name, m.keys, m.kind.action, m.kind.arg) for m in mutations]


def test_table_has_the_originals_seven_kinds() -> None:
    assert [k.kind for k in MUTATION_TABLE] == [
        "down", "slow", "reset", "partition", "io_error", "disk_full", "fsync_fail",
    ]  # fmt: skip
    assert [k.category for k in MUTATION_TABLE].count("network") == 4


def test_ch10_mutations_in_the_tutorials_order(spec_dir: Path, fbx) -> None:
    muts = build_mutations(_topo(spec_dir, fbx.CH10_TOPOLOGY))
    assert _rows(muts) == [
        ("db_down", "api", ("connect",), "deny", "ECONNREFUSED"),
        ("db_slow", "api", ("connect",), "delay", "5s"),
        # the original's read= only: never fires on clients receiving with recvfrom(2)
        ("db_connection_reset", "api", ("read", "recvfrom"), "deny", "ECONNRESET"),
        ("test_order_flow_db_partition", "api", (), "partition", ""),
        ("disk_io_error", "db", ("write",), "deny", "EIO"),
        ("disk_full", "db", ("write",), "deny", "ENOSPC"),
        ("fsync_failure", "db", ("fsync",), "deny", "EIO"),
    ]
    assert dry_run_counts(muts) == [("order_flow", "api", 4), ("order_flow", "db", 3)]


def test_disk_faults_are_named_per_callee_when_there_are_several(spec_dir: Path) -> None:
    muts = build_mutations(_topo(spec_dir, TWO_CALLEES))
    names = [m.name for m in muts]
    assert names == [
        "db_down", "db_slow", "db_connection_reset", "test_order_flow_db_partition",
        "cache_down", "cache_slow", "cache_connection_reset", "test_order_flow_cache_partition",
        "db_disk_io_error", "db_disk_full", "db_fsync_failure",
        "cache_disk_io_error", "cache_disk_full", "cache_fsync_failure",
    ]  # fmt: skip
    assert {m.target.name for m in muts if m.name.startswith("cache_disk")} == {"cache"}
    assert dry_run_counts(muts) == [
        ("order_flow", "api", 8), ("order_flow", "db", 3), ("order_flow", "cache", 3)
    ]  # fmt: skip


def test_network_faults_are_named_per_caller_when_a_callee_has_several(spec_dir: Path) -> None:
    muts = build_mutations(_topo(spec_dir, TWO_CALLERS))
    assert [m.name for m in muts] == [
        "api_db_down", "api_db_slow", "api_db_connection_reset",
        "test_order_flow_api_db_partition",
        "worker_db_down", "worker_db_slow", "worker_db_connection_reset",
        "test_order_flow_worker_db_partition",
        # one callee: the tutorial's names; db's disk faults appear once, not once per edge
        "disk_io_error", "disk_full", "fsync_failure",
    ]  # fmt: skip


def test_each_scenario_gets_its_own_mutations(spec_dir: Path, fbx) -> None:
    text = fbx.CH10_TOPOLOGY + "\ndef health_check():\n    pass\n\nscenario(health_check)\n"
    muts = build_mutations(_topo(spec_dir, text))
    assert len(muts) == 14
    assert [m.name for m in muts if m.is_partition] == [
        "test_order_flow_db_partition",
        "test_health_check_db_partition",
    ]
    assert dry_run_counts(muts)[2:] == [("health_check", "api", 4), ("health_check", "db", 3)]


def test_filters(spec_dir: Path, fbx) -> None:
    muts = build_mutations(_topo(spec_dir, fbx.CH10_TOPOLOGY))
    assert [m.name for m in select(muts, service="db")] == [
        "test_order_flow_db_partition", "disk_io_error", "disk_full", "fsync_failure",
    ]  # fmt: skip
    assert [m.name for m in select(muts, category="network")] == [
        "db_down", "db_slow", "db_connection_reset", "test_order_flow_db_partition",
    ]  # fmt: skip
    assert len(select(muts, category="disk", service="api")) == 0
    assert select(muts, scenario="nope") == []


def test_names_are_the_same_with_or_without_filters(spec_dir: Path) -> None:
    muts = build_mutations(_topo(spec_dir, TWO_CALLEES))
    only_db = select(muts, service="db", category="disk")
    assert [m.name for m in only_db] == ["db_disk_io_error", "db_disk_full", "db_fsync_failure"]


def test_a_name_taken_by_a_loaded_symbol_gets_a_suffix(spec_dir: Path, fbx) -> None:
    muts = build_mutations(_topo(spec_dir, fbx.CH10_TOPOLOGY), reserved={"disk_full", "db_down"})
    assert [m.name for m in muts][:2] == ["db_down_fault", "db_slow"]
    assert "disk_full_fault" in [m.name for m in muts]


def test_sanitize() -> None:
    assert sanitize("Order-DB disk") == "order_db_disk"
    assert sanitize("9lives") == "_9lives"
