"""Which tests a spec defines: ``test_*`` functions, scenarios, fault scenarios, matrix cells."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faultbox.starlark_env import _interp
from faultbox.starlark_env.errors import SpecError
from faultbox.starlark_env.loader import LoadedSpec
from faultbox.starlark_env.plans import FaultScenarioDef

from .lab_stages import stage_tests


@dataclass
class TestCase:
    name: str  # test_...
    kind: str  # "function" | "scenario" | "fault_scenario"
    fn: Any = None
    fault_scenario: FaultScenarioDef | None = None
    timeout_s: float | None = None
    prepare: Callable[[Any], None] | None = None  # called with the Session before services start

    @property
    def short_name(self) -> str:
        return self.name[5:] if self.name.startswith("test_") else self.name

    @property
    def matrix(self) -> tuple[str, str] | None:
        return self.fault_scenario.matrix if self.fault_scenario else None


def discover(spec: LoadedSpec) -> list[TestCase]:
    """Every test of the spec, sorted by name (two tests with one name: SpecError)."""
    tests: dict[str, TestCase] = {}
    for name, value in spec.module.globals.items():
        if name.startswith("test_") and _interp.is_callable(value):
            tests[name] = TestCase(name=name, kind="function", fn=value)
    reg = spec.registry
    for sc in reg.scenarios.values():
        name = f"test_{sc.name}"
        if name not in tests:
            tests[name] = TestCase(name=name, kind="scenario", fn=sc.fn)
    for fs in reg.fault_scenarios:
        name = f"test_{fs.name}"
        if name in tests:
            what = "a matrix cell" if fs.matrix else f"fault_scenario({fs.name!r})"
            other = tests[name]
            clash = (
                "another matrix cell"
                if other.matrix
                else "a fault_scenario"
                if other.kind == "fault_scenario"
                else f"the function {name}"
            )
            raise SpecError(f"{what} makes a test named {name}, and so does {clash}; rename one")
        tests[name] = TestCase(
            name=name, kind="fault_scenario", fault_scenario=fs, timeout_s=fs.timeout_s
        )
    for st in stage_tests(spec):  # failure_mode() stages: test_<FM id>_<stage>
        if st.name in tests:
            raise SpecError(f"failure mode stage {st.name} clashes with another test; rename one")
        tests[st.name] = TestCase(
            name=st.name, kind="lab_stage", fn=st.fn, timeout_s=st.timeout_s, prepare=st.prepare
        )
    return [tests[k] for k in sorted(tests)]


def select(tests: list[TestCase], pattern: str) -> list[TestCase]:
    """Tests named ``pattern`` or ``test_<pattern>``; a glob (``*``) selects several."""
    import fnmatch

    wanted = {pattern, f"test_{pattern}"}
    exact = [t for t in tests if t.name in wanted]
    if exact:
        return exact
    if any(c in pattern for c in "*?["):
        return [
            t for t in tests
            if fnmatch.fnmatchcase(t.name, pattern) or fnmatch.fnmatchcase(t.name, f"test_{pattern}")
        ]  # fmt: skip
    return []


def closest(tests: list[TestCase], pattern: str) -> str | None:
    """The short name of the test ``pattern`` most likely meant (a typo, a renamed test)."""
    import difflib

    names = {t.short_name: t for t in tests}
    wanted = pattern.removeprefix("test_")
    found = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.6)
    return found[0] if found else None
