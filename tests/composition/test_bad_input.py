"""Composition mistakes are spec errors: exit 1 with file:line, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from faultbox.starlark_env.loader import SpecLoadError, load_spec

CASES = {
    "override_not_in_matrix": (
        'load("scenario-test.star", "api", "db", "order_flow")\n'
        "def other():\n    pass\n"
        'db_down = fault_assumption("db_down", target = api, connect = deny("ECONNREFUSED"))\n'
        "fault_matrix(\n    scenarios = [order_flow],\n    faults = [db_down],\n"
        "    overrides = {(other, db_down): lambda r: assert_true(r.status >= 500)},\n)\n",
        "override_not_in_matrix.star:5: fault_matrix(): overrides= names (other, db_down) "
        "which is not a cell of this matrix",
    ),
    "exclude_not_in_matrix": (
        'load("scenario-test.star", "api", "db", "order_flow")\n'
        'db_down = fault_assumption("db_down", target = api, connect = deny("ECONNREFUSED"))\n'
        'disk_full = fault_assumption("disk_full", target = db, write = deny("ENOSPC"))\n'
        "fault_matrix(\n    scenarios = [order_flow],\n    faults = [db_down],\n"
        "    exclude = [(order_flow, disk_full)],\n)\n",
        "exclude_not_in_matrix.star:4: fault_matrix(): exclude= names (order_flow, disk_full) "
        "which is not a cell of this matrix",
    ),
    "scenario_not_a_function": (
        'x = 1\nscenario("order_flow")\n',
        "scenario_not_a_function.star:2: scenario(): the argument must be a function, got string",
    ),
    "assumption_without_target": (
        'db_down = fault_assumption("db_down",\n    connect = deny("ECONNREFUSED"),\n)\n',
        "assumption_without_target.star:1: fault_assumption('db_down'): fault keywords need "
        "target= (the service to fault)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_load_error(case: str, spec_dir: Path, fbx) -> None:
    fbx.workdir(spec_dir, None, "ch10/scenario-test.star")
    text, message = CASES[case]
    (spec_dir / f"{case}.star").write_text(text)
    with pytest.raises(SpecLoadError) as info:
        load_spec(spec_dir / f"{case}.star")
    assert str(info.value) == message


@pytest.mark.parametrize("command", ["test", "generate"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_exits_1(case: str, command: str, tmp_path: Path, demo_bins: Path, fbx) -> None:
    work = fbx.workdir(tmp_path, demo_bins, "ch10/scenario-test.star")
    text, message = CASES[case]
    (work / f"{case}.star").write_text(text)
    proc = fbx.faultbox(command, f"{case}.star", cwd=work)
    assert proc.returncode == 1
    assert proc.stderr == f"error: {message}\n"
