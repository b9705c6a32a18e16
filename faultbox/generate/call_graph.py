"""Topology analysis: which service calls which, and what the spec calls them.

The generator needs three things from an evaluated spec:

* **edges** ``caller → callee``: every ``depends_on`` entry, plus env wiring (an env value that
  names another service's address, e.g. ``DB_ADDR = db.main.addr`` → ``localhost:5432``);
* **scenarios**: the ``scenario()`` registrations, in registration order;
* **symbols**: the global variable each service and scenario function is bound to, and the file
  that defines it, so generated code can ``load()`` it. The original assumed that a service's
  variable is named like the service; here the name is looked up in the evaluated globals.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultbox.starlark_env.loader import LoadedSpec
from faultbox.starlark_env.values import Service

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "0.0.0.0", "[::1]")


@dataclass(frozen=True)
class Symbol:
    """A global variable of a spec file: ``load(<file>, "<name>")`` brings it in."""

    name: str
    file: Path  # absolute path of the file whose globals hold it


@dataclass(frozen=True)
class Edge:
    """``caller`` talks to ``callee`` (``callee`` is a dependency of ``caller``)."""

    caller: Service
    callee: Service
    protocol: str  # the callee's first interface protocol ("" if it has none)
    via: str  # "depends_on" | "env"

    def __repr__(self) -> str:
        return f"Edge({self.caller.name} -> {self.callee.name} via {self.via})"


@dataclass(frozen=True)
class ScenarioInfo:
    name: str  # the name scenario() registered (the function's name)
    fn: Any
    symbol: Symbol | None  # None: the function is not bound to any global


@dataclass
class Topology:
    """What the generator knows about a spec."""

    source: Path  # absolute path of the main spec file
    services: list[Service]  # dependency order
    edges: list[Edge]
    scenarios: list[ScenarioInfo]
    service_symbols: dict[str, Symbol] = field(default_factory=dict)  # service name -> symbol

    def callers_of(self, svc: Service) -> list[Service]:
        return [e.caller for e in self.edges if e.callee is svc]

    @property
    def callees(self) -> list[Service]:
        out: list[Service] = []
        for e in self.edges:
            if e.callee not in out:
                out.append(e.callee)
        return out


def _module_files(spec: LoadedSpec) -> list[tuple[Path, dict[str, Any]]]:
    """(absolute file, globals) for the main file first, then every loaded file."""
    out = [(spec.path, dict(spec.module.globals))]
    for display, module in spec.modules.items():
        path = Path(display)
        path = (path if path.is_absolute() else Path.cwd() / path).resolve()
        if path != spec.path:
            out.append((path, dict(module.globals)))
    return out


def find_symbol(spec: LoadedSpec, value: Any, preferred: str = "") -> Symbol | None:
    """The global bound to ``value`` (by identity), preferring the main file and ``preferred``."""
    for path, globs in _module_files(spec):
        # Names starting with "_" are private to their file: load() cannot import them.
        names = [name for name, v in globs.items() if v is value and not name.startswith("_")]
        if not names:
            continue
        name = preferred if preferred in names else names[0]
        return Symbol(name=name, file=path)
    return None


def _env_mentions(value: str, svc: Service) -> bool:
    """Does an env value point at ``svc`` (by address or by name)?"""
    for iface in svc.interfaces.values():
        for host in (*_LOCAL_HOSTS, svc.name):
            if re.search(rf"(?<![\w.-]){re.escape(host)}:{iface.port}(?!\d)", value):
                return True
    # A reference spelled out: "db.main.addr" / "db.main:5432".
    names = "|".join(re.escape(i) for i in svc.interfaces)
    if not names:
        return False
    pattern = rf"(?<![\w.-]){re.escape(svc.name)}\.(?:{names})(?![\w-])"
    return re.search(pattern, value) is not None


def find_edges(services: list[Service]) -> list[Edge]:
    """``depends_on`` edges first (in declaration order), then env-wiring edges; no duplicates."""
    edges: list[Edge] = []
    seen: set[tuple[str, str]] = set()

    def add(caller: Service, callee: Service, via: str) -> None:
        key = (caller.name, callee.name)
        if key in seen or caller is callee:
            return
        seen.add(key)
        first = next(iter(callee.interfaces.values()), None)
        edges.append(Edge(caller, callee, first.protocol if first else "", via))

    for svc in services:
        for dep in svc.depends_on:
            add(svc, dep, "depends_on")
    for svc in services:
        for value in svc.env.values():
            for other in services:
                if other is not svc and isinstance(value, str) and _env_mentions(value, other):
                    add(svc, other, "env")
    return edges


def analyze(spec: LoadedSpec) -> Topology:
    """Edges, scenarios and variable names of an evaluated spec."""
    reg = spec.registry
    services = reg.start_order()
    symbols: dict[str, Symbol] = {}
    for svc in services:
        sym = find_symbol(spec, svc, preferred=svc.name)
        if sym is not None:
            symbols[svc.name] = sym
    scenarios = [
        ScenarioInfo(name=sc.name, fn=sc.fn, symbol=find_symbol(spec, sc.fn, preferred=sc.name))
        for sc in reg.scenarios.values()
    ]
    return Topology(
        source=spec.path,
        services=services,
        edges=find_edges(services),
        scenarios=scenarios,
        service_symbols=symbols,
    )


def load_path(source: Path, output_dir: Path) -> str:
    """The path a file in ``output_dir`` passes to ``load()`` to reach ``source``."""
    return Path(os.path.relpath(source, output_dir.resolve())).as_posix()
