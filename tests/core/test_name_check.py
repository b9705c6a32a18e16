"""The load-time name check follows Starlark's scoping: no false alarms, no missed names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_faultbox, shown

# Every way a spec can bind a name; the spec runs and passes.
LEGAL = """
load("lib.star", "helper", twice = "double")

if False:
    ONLY_IN_A_BRANCH = 1

def events(**kwargs):
    # A spec function shadowing a query builtin: its keywords are the spec's business.
    return kwargs

def test_scoping():
    total = 0
    for i, (a, b) in enumerate([(1, 2), (3, 4)]):
        total += a + b + i
    squares = {k: v * v for k, v in [(1, 2)] if v}
    def inner(x, *rest, scale = 2, **more):
        return [x * scale + len(rest) + len(more) for _ in range(1)][0]
    pick = lambda n, d = total: n + d
    assert_eq(total, 11)
    assert_eq(squares, {1: 4})
    assert_eq(inner(1), 2)
    assert_eq(pick(1), 12)
    assert_eq(later(), "later")
    assert_eq(helper(), "lib")
    assert_eq(twice(2), 4)
    assert_eq(events(servce = "x"), {"servce": "x"})
    if False:
        print(ONLY_IN_A_BRANCH)

def later():
    return "later"
"""

LIB = """
def helper():
    return _private()

def _private():
    return "lib"

def double(x):
    return x * 2
"""


def test_every_kind_of_binding_is_known(tmp_path: Path) -> None:
    (tmp_path / "lib.star").write_text(LIB)
    spec = tmp_path / "spec.star"
    spec.write_text(LEGAL)
    proc = run_faultbox("test", str(spec), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--- PASS: test_scoping" in proc.stderr


@pytest.mark.parametrize(
    ("source", "line", "expect"),
    [
        # A default value is evaluated where the function is defined.
        ("def f(x = undefined_default):\n    return x\n", 1, "name 'undefined_default'"),
        # A comprehension variable does not leak out of its comprehension.
        ("def test_x():\n    ys = [y for y in [1]]\n    print(y)\n", 3, "name 'y'"),
        # A parameter of one function is not visible in another.
        ("def f(arg):\n    return arg\ndef test_x():\n    return arg\n", 4, "name 'arg'"),
        # Inside a lambda inside a test body.
        ("def test_x():\n    f = lambda: asert_true(True)\n", 2, "(did you mean assert_true?)"),
    ],
    ids=["default", "comprehension", "other-function", "lambda"],
)
def test_an_undefined_name_is_a_load_error(
    tmp_path: Path, source: str, line: int, expect: str
) -> None:
    spec = tmp_path / "spec.star"
    spec.write_text(source)
    proc = run_faultbox("test", str(spec), timeout=120)
    assert proc.returncode == 1, proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith(f"error: {shown(spec)}:{line}: name "), first
    assert expect in first, first


def test_an_undefined_name_in_a_loaded_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "lib.star").write_text("def helper():\n    return missing_thing()\n")
    spec = tmp_path / "spec.star"
    spec.write_text('load("lib.star", "helper")\ndef test_x():\n    helper()\n')
    proc = run_faultbox("test", str(spec), timeout=120)
    assert proc.returncode == 1, proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith(f"error: {shown(tmp_path / 'lib.star')}:2: name 'missing_thing'"), first
