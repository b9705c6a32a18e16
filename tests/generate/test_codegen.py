"""Code generation: the ch10 file as the tutorial prints it, and generated files that load."""

from __future__ import annotations

import datetime
from pathlib import Path

from faultbox.generate import codegen
from faultbox.generate.call_graph import analyze
from faultbox.generate.mutations import build_mutations, select
from faultbox.runtime import discovery
from faultbox.starlark_env.loader import load_spec

CH10_SEED = "000_ffbf53216ec0c214.txt"
DAY = datetime.date(2026, 4, 10)


def _generate(spec_dir: Path, text: str, out: str = "out.faults.star", **filters):
    (spec_dir / "spec.star").write_text(text, encoding="utf-8")
    topo = analyze(load_spec(spec_dir / "spec.star"))
    muts = select(build_mutations(topo), **filters)
    path = spec_dir / out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(codegen.render(topo, muts, path, "spec.star", DAY), encoding="utf-8")
    return path, muts


def test_ch10_static_output_is_the_tutorials_plus_covers_and_recvfrom(spec_dir: Path, fbx) -> None:
    """Unprofiled, the ch10 file is the tutorial's, with two differences: every mutation says
    which syscalls it covers, and the connection reset also denies recvfrom (the tutorial's
    read= alone never fires on a client that receives with recvfrom(2))."""
    (spec_dir / "scenario-test.star").write_text(fbx.CH10_TOPOLOGY, encoding="utf-8")
    topo = analyze(load_spec(spec_dir / "scenario-test.star"))
    out = spec_dir / "order_flow.faults.star"
    text = codegen.render(topo, build_mutations(topo), out, "scenario-test.star", DAY)
    header, body = text.split("\n\n", 1)
    assert header.splitlines()[2:4] == ["# Source: scenario-test.star", "# Generated: 2026-04-10"]
    lines = body.rstrip("\n").splitlines()
    covers = [ln for ln in lines if ln.startswith("# covers: ")]
    assert covers == [
        "# covers: connect",
        "# covers: connect",
        "# covers: read, readv, pread64, preadv, preadv2, recvfrom, recvmsg",
        "# covers: write, writev, pwrite64, pwritev, pwritev2",
        "# covers: write, writev, pwrite64, pwritev, pwritev2",
        "# covers: fsync, fdatasync",
        "# covers: connect between api and db",
    ]
    assert '    read = deny("ECONNRESET"),\n    recvfrom = deny("ECONNRESET"),\n)' in body
    tutorial = [ln for ln in lines if ln not in covers and "recvfrom = " not in ln]
    expected = fbx.seed_block(CH10_SEED, 'load("scenario-test.star"', "What happened")
    assert tutorial == expected.rstrip("\n").splitlines()


def test_generated_file_loads_and_defines_the_cells(spec_dir: Path, fbx) -> None:
    path, _ = _generate(spec_dir, fbx.CH10_TOPOLOGY)
    spec = load_spec(path)
    names = [t.name for t in discovery.discover(spec)]
    assert names == [
        "test_matrix_order_flow_db_connection_reset", "test_matrix_order_flow_db_down",
        "test_matrix_order_flow_db_slow", "test_matrix_order_flow_disk_full",
        "test_matrix_order_flow_disk_io_error", "test_matrix_order_flow_fsync_failure",
        "test_order_flow", "test_order_flow_db_partition",
    ]  # fmt: skip
    assert spec.registry.matrices[0]["faults"] == [
        "db_down", "db_slow", "db_connection_reset", "disk_io_error", "disk_full", "fsync_failure",
    ]  # fmt: skip


def test_variable_names_from_the_spec_are_used(spec_dir: Path) -> None:
    text = """
database = service("db", "bin/mock-db", interface("main", "tcp", 5432))
frontend = service("api", "bin/mock-api", interface("public", "http", 8080),
    env = {"PORT": "8080", "DB_ADDR": database.main.addr},
    depends_on = [database])

def flow():
    return frontend.get(path="/health")

scenario(flow)
"""
    path, _ = _generate(spec_dir, text)
    body = path.read_text()
    assert 'load("spec.star", "database", "flow", "frontend")' in body
    assert '    target = frontend,\n    connect = deny("ECONNREFUSED"),' in body
    assert "partition(frontend, database, run=flow)" in body
    assert 'db_down = fault_assumption("db_down",' in body  # assumption names: service names
    assert len(discovery.discover(load_spec(path))) == 8


def test_several_callees_keep_every_disk_fault_and_load(spec_dir: Path) -> None:
    text = """
db = service("db", "bin/mock-db", interface("main", "tcp", 5432))
cache = service("cache", "bin/mock-db", interface("main", "tcp", 6379))
api = service("api", "bin/mock-api", interface("public", "http", 8080), depends_on = [db, cache])

def order_flow():
    return api.get(path="/health")

scenario(order_flow)
"""
    path, muts = _generate(spec_dir, text)
    body = path.read_text()
    assert "# note: connect/receive faults on api hit all of its connections (db, cache)" in body
    assert "faults = [\n        db_down,\n" in body  # a long list: one fault per line
    spec = load_spec(path)
    assert len(spec.registry.matrices[0]["faults"]) == 12
    assert {"db_disk_io_error", "cache_disk_io_error", "cache_fsync_failure"} <= set(
        spec.registry.matrices[0]["faults"]
    )
    assert codegen.count(muts) == 14


def test_output_in_a_subdirectory_loads_the_source_relatively(spec_dir: Path, fbx) -> None:
    path, _ = _generate(spec_dir, fbx.CH10_TOPOLOGY, out="generated/all.faults.star")
    assert 'load("../spec.star",' in path.read_text()
    # ... which load() refuses (outside the loading spec's directory): the command checks this.
    (spec_dir / "sub").mkdir()
    (spec_dir / "sub" / "spec.star").write_text(fbx.CH10_TOPOLOGY)
    topo = analyze(load_spec(spec_dir / "sub" / "spec.star"))
    text = codegen.render(topo, build_mutations(topo), spec_dir / "x.faults.star", "sub/spec.star")
    assert 'load("sub/spec.star", "api", "db", "order_flow")' in text


def test_only_partitions_leaves_out_assumptions_and_matrix(spec_dir: Path, fbx) -> None:
    path, _ = _generate(spec_dir, fbx.CH10_TOPOLOGY, service="db", category="network")
    body = path.read_text()
    assert "fault_matrix(\n" not in body and "= fault_assumption(" not in body
    assert 'load("spec.star", "api", "db", "order_flow")' in body
    assert [t.name for t in discovery.discover(load_spec(path))] == [
        "test_order_flow", "test_order_flow_db_partition",
    ]  # fmt: skip


def test_disk_only_loads_only_what_it_uses(spec_dir: Path, fbx) -> None:
    path, _ = _generate(spec_dir, fbx.CH10_TOPOLOGY, category="disk")
    body = path.read_text()
    assert 'load("spec.star", "db", "order_flow")' in body
    assert "# network faults" not in body and "Network Partitions" not in body
    load_spec(path)


def test_no_mutations() -> None:
    from faultbox.generate.call_graph import Topology

    topo = Topology(source=Path("/x/spec.star"), services=[], edges=[], scenarios=[])
    text = codegen.render(topo, [], Path("/x/a.faults.star"), "spec.star", DAY)
    assert text.endswith("# No mutations generated.\n")
