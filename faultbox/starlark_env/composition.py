"""Composition builtins: scenario, fault_assumption, fault_scenario, fault_matrix, monitor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlark import Dict, StarlarkList

from ._builtin import builtin, type_name, want
from ._interp import HostValue, call_position, function_name, is_callable
from .duration_args import duration_arg
from .errors import SpecError
from .faults import build_rules
from .registry import ScenarioDef, current_registry
from .values import FaultRuleSpec, Service


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
    rules: list[Any]
    monitors: list[MonitorDef] = field(default_factory=list)
    children: list[FaultAssumption] = field(default_factory=list)
    description: str = ""

    _starlark_type = "fault_assumption"

    def __repr__(self) -> str:
        return f"<fault_assumption {self.name}>"

    @property
    def fields(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "description": self.description}

    def rules_by_service(self) -> list[tuple[Service, list[Any]]]:
        """This assumption's rules and its children's, grouped by service (in order)."""
        out: list[tuple[Service, list[Any]]] = []
        if self.target is not None and self.rules:
            out.append((self.target, list(self.rules)))
        for child in self.children:
            out.extend(child.rules_by_service())
        return out

    def all_monitors(self) -> list[MonitorDef]:
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


def _monitor_list(value: Any, where: str) -> list[MonitorDef]:
    if value is None:
        return []
    if not isinstance(value, StarlarkList | list | tuple):
        raise SpecError(f"{where}: monitors= must be a list of monitor(...) values")
    out = []
    for m in value:
        if not isinstance(m, MonitorDef):
            raise SpecError(f"{where}: monitors= items must be monitor(...), got {type_name(m)}")
        out.append(m)
    return out


def _function(value: Any, where: str, arg: str) -> Any:
    if not is_callable(value):
        raise SpecError(f"{where}: {arg} must be a function, got {type_name(value)}")
    return value


def _named_function(value: Any, where: str, arg: str) -> Any:
    """A function whose name can name a test (``def``, not ``lambda``)."""
    _function(value, where, arg)
    if function_name(value) == "lambda":
        raise SpecError(f"{where}: {arg} must be a def'd function (its name names the tests)")
    return value


def _assumption_list(value: Any, where: str) -> list[FaultAssumption]:
    if isinstance(value, FaultAssumption):
        return [value]
    if isinstance(value, StarlarkList | list | tuple):
        out = []
        for item in value:
            if not isinstance(item, FaultAssumption):
                raise SpecError(
                    f"{where}: faults= items must be fault_assumption(...), got {type_name(item)}"
                )
            out.append(item)
        return out
    raise SpecError(f"{where}: faults= must be a fault_assumption or a list of them")


@builtin("scenario")
def scenario(fn: Any) -> None:
    """Register a probe: it runs as ``test_<name>`` and can be composed with faults."""
    _named_function(fn, "scenario()", "the argument")
    reg = current_registry()
    name = function_name(fn)
    if name in reg.scenarios and reg.scenarios[name].fn is not fn:
        raise SpecError(f"scenario(): a scenario named {name!r} is already registered")
    reg.scenarios[name] = ScenarioDef(name=name, fn=fn)


@builtin("monitor")
def monitor(fn: Any, **filters: Any) -> MonitorDef:
    """``monitor(fn, service=…, syscall=…)``: call ``fn(event)`` for every matching event."""
    if isinstance(fn, str):
        raise SpecError(
            "monitor(): write monitor(check_fn, service=..., syscall=...) — "
            "the first argument is the function called for every matching event"
        )
    _function(fn, "monitor()", "the first argument")
    from .queries import query_filters

    m = MonitorDef(fn=fn, filters=query_filters("monitor", filters), name=function_name(fn))
    from faultbox.runtime.context import active_session

    session = active_session()
    if session is not None:  # created inside a running test: watches the rest of that test
        session.add_monitors([m])
    else:
        current_registry().monitors.append(m)
    return m


@builtin("fault_assumption")
def fault_assumption(
    name: str,
    target: Any = None,
    monitors: Any = None,
    faults: Any = None,
    description: str = "",
    **syscall_faults: Any,
) -> FaultAssumption:
    """Name a reusable set of faults on ``target``: ``fault_assumption("db_down", target=api, …)``."""
    where = f"fault_assumption({name!r})" if isinstance(name, str) else "fault_assumption()"
    want(name, str, "fault_assumption", "name", "a string")
    want(description, str, "fault_assumption", "description", "a string")
    if target is not None and not isinstance(target, Service):
        raise SpecError(f"{where}: target= must be a service, got {type_name(target)}")
    if syscall_faults and target is None:
        raise SpecError(f"{where}: fault keywords need target= (the service to fault)")
    rules = build_rules(target, syscall_faults, "fault_assumption") if syscall_faults else []
    children = _assumption_list(faults, where) if faults is not None else []
    if not syscall_faults and not children:
        raise SpecError(f'{where}: give at least one fault (e.g. write=deny("EIO")) or faults=[…]')
    fa = FaultAssumption(
        name=name, target=target, faults=dict(syscall_faults), rules=rules,
        monitors=_monitor_list(monitors, where), children=children, description=description,
    )  # fmt: skip
    current_registry().assumptions.append(fa)
    return fa


@builtin("fault_scenario")
def fault_scenario(
    name: str,
    scenario: Any = None,
    faults: Any = None,
    expect: Any = None,
    monitors: Any = None,
    timeout: Any = None,
) -> None:
    """Register ``test_<name>``: run ``scenario`` under ``faults``, then check ``expect(result)``."""
    want(name, str, "fault_scenario", "name", "a string")
    where = f"fault_scenario({name!r})"
    if scenario is None:
        raise SpecError(f"{where}: scenario= is required")
    _function(scenario, where, "scenario=")
    if expect is not None:
        _function(expect, where, "expect=")
    reg = current_registry()
    if any(fs.name == name for fs in reg.fault_scenarios):
        raise SpecError(f"{where}: a fault scenario with this name already exists")
    reg.fault_scenarios.append(
        FaultScenarioDef(
            name=name,
            scenario=scenario,
            faults=_assumption_list(faults, where) if faults is not None else [],
            expect=expect,
            monitors=_monitor_list(monitors, where),
            timeout_s=duration_arg(timeout, "fault_scenario", "timeout") if timeout else None,
            declared_at=call_position(),
        )  # fmt: skip
    )


def _pair_list(value: Any, where: str, arg: str) -> list[tuple[Any, Any]]:
    if isinstance(value, Dict | dict):
        items = list(value.keys())
    elif isinstance(value, StarlarkList | list | tuple):
        items = list(value)
    else:
        raise SpecError(f"{where}: {arg} must contain (scenario, fault) pairs")
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise SpecError(f"{where}: {arg} keys must be (scenario, fault) pairs, got {item!r}")
    return items


@builtin("fault_matrix")
def fault_matrix(
    scenarios: Any = None,
    faults: Any = None,
    default_expect: Any = None,
    expect: Any = None,
    overrides: Any = None,
    exclude: Any = None,
    monitors: Any = None,
) -> None:
    """Register one test per (scenario, fault) cell: ``test_matrix_<scenario>_<fault>``."""
    where = "fault_matrix()"
    if default_expect is not None and expect is not None:
        raise SpecError(f"{where}: give default_expect= or expect=, not both")
    default_expect = default_expect if default_expect is not None else expect
    if not isinstance(scenarios, StarlarkList | list | tuple) or not scenarios:
        raise SpecError(f"{where}: scenarios= must be a non-empty list of functions")
    scs = [_named_function(s, where, "scenarios= items") for s in scenarios]
    fas = _assumption_list(faults, where) if faults is not None else []
    if not fas:
        raise SpecError(f"{where}: faults= must be a non-empty list of fault_assumption(...)")
    if default_expect is not None:
        _function(default_expect, where, "default_expect=")
    cells = {(s, f) for s in scs for f in fas}
    override_map: dict[tuple[Any, Any], Any] = {}
    if overrides is not None and not isinstance(overrides, Dict | dict):
        raise SpecError(f"{where}: overrides= must be a dict {{(scenario, fault): expect_fn}}")
    if overrides is not None:
        for pair in _pair_list(overrides, where, "overrides="):
            if pair not in cells:
                raise SpecError(
                    f"{where}: overrides= names ({function_name(pair[0])}, "
                    f"{getattr(pair[1], 'name', pair[1])}) which is not a cell of this matrix"
                )
            override_map[pair] = _function(overrides[pair], where, "overrides= values")
    excluded = set()
    if exclude is not None:
        for pair in _pair_list(exclude, where, "exclude="):
            if pair not in cells:
                raise SpecError(
                    f"{where}: exclude= names ({function_name(pair[0])}, "
                    f"{getattr(pair[1], 'name', pair[1])}) which is not a cell of this matrix"
                )
            excluded.add(pair)
    mons = _monitor_list(monitors, where)
    reg = current_registry()
    matrix = {"scenarios": [function_name(s) for s in scs], "faults": [f.name for f in fas],
              "excluded": []}  # fmt: skip
    for s in scs:
        for f in fas:
            sname = function_name(s)
            if (s, f) in excluded:
                matrix["excluded"].append((sname, f.name))
                continue
            reg.fault_scenarios.append(
                FaultScenarioDef(
                    name=f"matrix_{sname}_{f.name}",
                    scenario=s,
                    faults=[f],
                    expect=override_map.get((s, f), default_expect),
                    monitors=mons,
                    matrix=(sname, f.name),
                    declared_at=call_position(),
                )  # fmt: skip
            )
    reg.matrices.append(matrix)
