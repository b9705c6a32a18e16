"""Composition builtins: scenario, fault_assumption, fault_scenario, fault_matrix, monitor."""

from __future__ import annotations

from typing import Any

from starlark import Dict, StarlarkList

from ._builtin import builtin, type_name, want
from ._interp import call_position, function_name, is_callable
from .context import active_session
from .duration_args import duration_arg
from .errors import SpecError
from .plans import FaultAssumption, FaultScenarioDef, MonitorDef, ScenarioDef
from .protocol_rules import bind_rules
from .queries import query_filters
from .registry import current_registry
from .rule_sets import build_rules
from .values import InterfaceRef, Service


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
    m = MonitorDef(fn=fn, filters=query_filters("monitor", filters), name=function_name(fn))
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
    rules: Any = None,
    **syscall_faults: Any,
) -> FaultAssumption:
    """Name a reusable set of faults on ``target``: ``fault_assumption("db_down", target=api, …)``;
    protocol rules on an interface: ``fault_assumption("x", target=db.main, rules=[…])``."""
    where = f"fault_assumption({name!r})" if isinstance(name, str) else "fault_assumption()"
    want(name, str, "fault_assumption", "name", "a string")
    want(description, str, "fault_assumption", "description", "a string")
    if isinstance(target, InterfaceRef):
        if syscall_faults:
            raise SpecError(f"{where}: an interface target takes rules=[...], not syscall keywords")
        if not isinstance(rules, StarlarkList | list | tuple):
            raise SpecError(f'{where}: rules= must be a list, e.g. rules=[error(query="INSERT*")]')
        protocol = [(target, bind_rules(target, rules, where))]
        children = _assumption_list(faults, where) if faults is not None else []
        fa = FaultAssumption(
            name=name, target=None, faults={}, rules=[], monitors=_monitor_list(monitors, where),
            children=children, description=description, protocol=protocol,
        )  # fmt: skip
        current_registry().assumptions.append(fa)
        return fa
    if rules is not None:
        raise SpecError(f"{where}: rules= needs an interface target, e.g. target=db.main")
    if target is not None and not isinstance(target, Service):
        raise SpecError(f"{where}: target= must be a service, got {type_name(target)}")
    if syscall_faults and target is None:
        raise SpecError(f"{where}: fault keywords need target= (the service to fault)")
    rules = build_rules(target, syscall_faults, "fault_assumption") if target is not None else []
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
    matrix: dict[str, Any] = {"scenarios": [function_name(s) for s in scs], "faults": [f.name for f in fas],
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
