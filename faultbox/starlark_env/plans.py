"""Plan types: what a spec asks the runtime to run, built at load time and read by the runtime.

Scenarios, monitors, fault assumptions (named rule sets on a target) and fault scenarios (a
scenario under assumptions; a ``fault_matrix`` cell is one with ``matrix`` set). The builtins
in ``composition.py`` and ``faults.py`` create and use them; the runtime (discovery, runner,
session) executes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faultbox.intercept import Rule

from ._interp import HostValue
from .values import FaultRuleSpec, Service


@dataclass(eq=False)
class ScenarioDef:
    """``scenario(fn)``: a probe that runs as ``test_<name>`` and composes with faults."""

    name: str
    fn: Any
    declared_at: str = ""


@dataclass(eq=False)
class MonitorDef(HostValue):
    """``monitor(fn, **filters)``: ``fn(event)`` runs for every matching event; failing fails."""

    fn: Any
    filters: dict[str, str]
    name: str = ""

    _starlark_type = "monitor"

    def __repr__(self) -> str:
        return f"<monitor {self.name}>"


@dataclass(eq=False)
class FaultAssumption(HostValue):
    """A named, reusable set of faults on one target (plus monitors and child assumptions)."""

    name: str
    target: Service | None
    faults: dict[str, FaultRuleSpec]
    rules: list[Rule]
    monitors: list[MonitorDef] = field(default_factory=list)
    children: list[FaultAssumption] = field(default_factory=list)
    description: str = ""
    # protocol rules per interface (InterfaceRef, [ProtocolRule]): faultbox/proxy applies them
    protocol: list[tuple[Any, list[Any]]] = field(default_factory=list)

    _starlark_type = "fault_assumption"

    def __repr__(self) -> str:
        return f"<fault_assumption {self.name}>"

    @property
    def fields(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "description": self.description}

    def rules_by_service(self) -> list[tuple[Service, list[Rule]]]:
        """This assumption's rules and its children's, grouped by service (in order)."""
        out: list[tuple[Service, list[Rule]]] = []
        if self.target is not None and self.rules:
            out.append((self.target, list(self.rules)))
        for child in self.children:
            out.extend(child.rules_by_service())
        return out

    def protocol_by_interface(self) -> list[tuple[Any, list[Any]]]:
        """This assumption's protocol rules and its children's, per interface (in order)."""
        out = list(self.protocol)
        for child in self.children:
            out.extend(child.protocol_by_interface())
        return out

    def all_monitors(self) -> list[MonitorDef]:
        """This assumption's monitors and its children's."""
        out = list(self.monitors)
        for child in self.children:
            out.extend(child.all_monitors())
        return out


@dataclass(eq=False)
class FaultScenarioDef:
    """A registered fault scenario (or matrix cell): run ``scenario`` under ``faults``."""

    name: str  # test name without the test_ prefix
    scenario: Any
    faults: list[FaultAssumption]
    expect: Any = None
    monitors: list[MonitorDef] = field(default_factory=list)
    timeout_s: float | None = None
    matrix: tuple[str, str] | None = None
    declared_at: str = ""
