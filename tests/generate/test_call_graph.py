"""Topology analysis: edges, scenarios and the variable names generated code loads."""

from __future__ import annotations

from pathlib import Path

from faultbox.generate.call_graph import analyze, find_edges, load_path
from faultbox.starlark_env.loader import load_spec

THREE_TIER = """
db = service("db", "bin/mock-db", interface("main", "tcp", 5432))
cache = service("cache", "bin/mock-db", interface("main", "tcp", 6379),
    env = {"PORT": "6379"})
api = service("api", "bin/mock-api", interface("public", "http", 8080),
    env = {"DB_ADDR": db.main.addr, "CACHE": cache.main.addr},
    depends_on = [db])

def order_flow():
    return api.get(path="/health")

scenario(order_flow)
"""


def _load(spec_dir: Path, text: str, name: str = "spec.star"):
    (spec_dir / name).write_text(text, encoding="utf-8")
    return load_spec(spec_dir / name)


def test_ch10_topology(spec_dir: Path, fbx) -> None:
    topo = analyze(_load(spec_dir, fbx.CH10_TOPOLOGY))
    assert [s.name for s in topo.services] == ["db", "api"]
    assert [(e.caller.name, e.callee.name, e.via, e.protocol) for e in topo.edges] == [
        ("api", "db", "depends_on", "tcp")
    ]
    assert [sc.name for sc in topo.scenarios] == ["order_flow"]
    assert topo.scenarios[0].symbol.name == "order_flow"
    assert {k: v.name for k, v in topo.service_symbols.items()} == {"db": "db", "api": "api"}
    assert topo.source == (spec_dir / "spec.star").resolve()


def test_env_wiring_adds_an_edge_without_depends_on(spec_dir: Path) -> None:
    topo = analyze(_load(spec_dir, THREE_TIER))
    assert [(e.caller.name, e.callee.name, e.via) for e in topo.edges] == [
        ("api", "db", "depends_on"),  # depends_on first; the env edge to db is not repeated
        ("api", "cache", "env"),
    ]
    assert [s.name for s in topo.callees] == ["db", "cache"]


def test_env_values_that_merely_contain_a_name_are_not_edges(spec_dir: Path) -> None:
    text = """
db = service("db", "bin/mock-db", interface("main", "tcp", 5432))
api = service("api", "bin/mock-api", interface("public", "http", 8080),
    env = {"DB_FILE": "/var/db.sqlite", "PORT": "8080", "OTHER": "localhost:54321"})
"""
    topo = analyze(_load(spec_dir, text))
    assert topo.edges == []


def test_env_spelled_as_name_and_port_or_interface(spec_dir: Path) -> None:
    text = """
db = service("db", "bin/mock-db", interface("main", "tcp", 5432))
a = service("a", "bin/mock-api", interface("public", "http", 8080), env = {"X": "db:5432"})
b = service("b", "bin/mock-api", interface("public", "http", 8081), env = {"X": "tcp://db.main"})
"""
    spec = load_spec(_write(spec_dir, text))
    edges = find_edges(spec.registry.start_order())
    assert [(e.caller.name, e.callee.name) for e in edges] == [("a", "db"), ("b", "db")]


def _write(spec_dir: Path, text: str) -> Path:
    path = spec_dir / "spec.star"
    path.write_text(text, encoding="utf-8")
    return path


def test_variable_names_come_from_the_spec(spec_dir: Path) -> None:
    text = """
database = service("db", "bin/mock-db", interface("main", "tcp", 5432))
frontend = service("api", "bin/mock-api", interface("public", "http", 8080),
    depends_on = [database])

def _probe():
    return frontend.get(path="/health")

write_then_read = _probe
scenario(write_then_read)
"""
    topo = analyze(_load(spec_dir, text))
    assert topo.service_symbols["db"].name == "database"
    assert topo.service_symbols["api"].name == "frontend"
    # scenario() registers the function's own name; the loadable global is the alias.
    assert topo.scenarios[0].name == "_probe"
    assert topo.scenarios[0].symbol.name == "write_then_read"


def test_service_not_bound_to_a_global_has_no_symbol(spec_dir: Path) -> None:
    text = """
dbs = [service("db", "bin/mock-db", interface("main", "tcp", 5432))]
api = service("api", "bin/mock-api", interface("public", "http", 8080), depends_on = dbs)
"""
    topo = analyze(_load(spec_dir, text))
    assert "db" not in topo.service_symbols
    assert topo.service_symbols["api"].name == "api"


def test_symbols_of_loaded_files(spec_dir: Path, fbx) -> None:
    (spec_dir / "topology.star").write_text(fbx.CH10_TOPOLOGY, encoding="utf-8")
    text = 'load("topology.star", "api", "db")\n\ndef probe():\n    return api.get(path="/")\n\nscenario(probe)\n'
    topo = analyze(_load(spec_dir, text))
    # Loaded names are globals of the main file too: one load() of the main file suffices.
    assert topo.service_symbols["db"].file == (spec_dir / "spec.star").resolve()


def test_load_path_is_relative_to_the_output_directory(tmp_path: Path) -> None:
    source = tmp_path / "specs" / "ch10" / "scenario-test.star"
    assert load_path(source, tmp_path) == "specs/ch10/scenario-test.star"
    assert load_path(source, tmp_path / "specs" / "ch10") == "scenario-test.star"
    assert load_path(source, tmp_path / "out") == "../specs/ch10/scenario-test.star"
