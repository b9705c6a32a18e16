"""Hostile spec inputs that are easier to generate than to keep as files in bad_specs/.

Each gets a clear answer from the real CLI: a spec error is exit 1 with ``file:line`` and no
traceback; a legal spec (a long flat sum) loads and runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_faultbox, shown


def _first_error(proc: object) -> str:
    stderr = proc.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return stderr.strip().splitlines()[0]


def _refused(spec: Path) -> str:
    # A spec error leaves nothing behind: no run directory, no crash report.
    tmp = spec.parent / "tmpdir"
    tmp.mkdir(exist_ok=True)
    proc = run_faultbox("test", str(spec), timeout=120, env={"TMPDIR": str(tmp)})
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    assert list(tmp.iterdir()) == []
    return _first_error(proc)


@pytest.mark.parametrize("terms", [300, 1200, 10_000])
def test_a_long_flat_sum_loads_and_runs(tmp_path: Path, terms: int) -> None:
    # At module level and inside a test body (evaluated later, on the test's thread).
    total = " + ".join(["1"] * terms)
    floats = " + ".join(["0.5"] * terms)
    spec = tmp_path / "sum.star"
    spec.write_text(
        f"N = {total}\n"
        f"assert_eq(N, {terms})\n"
        f"HALF = {floats}\n"
        "def test_sum():\n"
        f"    assert_eq({total}, N)\n"
        f"    assert_eq(HALF, {terms} * 0.5)\n"
        f"    assert_eq(0 or {' or '.join(['0'] * terms)} or 7, 7)\n"
    )
    proc = run_faultbox("test", str(spec), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout + proc.stderr


def test_operator_chains_keep_their_meaning(tmp_path: Path) -> None:
    # The loop that evaluates a chain must keep left-to-right order and short-circuits.
    spec = tmp_path / "chain.star"
    spec.write_text(
        "def test_chain():\n"
        "    assert_eq(1 - 2 - 3, -4)\n"
        "    assert_eq(2 * 3 + 4 * 5 - 6 // 4, 25)\n"
        "    assert_eq(1.5 - 0.25 * 2 + 3 // 2 - 1 % 2, 1.0)\n"
        "    assert_eq(0 or '' or 5 and 7, 7)\n"
        "    assert_eq(1 and 0 and fail('not short-circuited'), 0)\n"
        "    assert_eq(1 or fail('not short-circuited') or 2, 1)\n"
        "    assert_eq('a' + 'b' + str(1) + 'c', 'ab1c')\n"
    )
    proc = run_faultbox("test", str(spec), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "expression",
    [
        "str(" * 3000 + "1" + ")" * 3000,  # calls
        "[" * 3000 + "1" + "]" * 3000,  # brackets
        "not " * 3000 + "True",
        "lambda: " * 3000 + "1",
        "1 if True else " * 3000 + "2",
        "str" + ".x" * 3000,
        "{1: " * 3000 + "1" + "}" * 3000,
    ],
    ids=["calls", "lists", "not", "lambda", "conditional", "dots", "dicts"],
)
def test_absurd_nesting_is_a_clear_error(tmp_path: Path, expression: str) -> None:
    spec = tmp_path / "deep.star"
    spec.write_text(f"# deep\nx = {expression}\n")
    first = _refused(spec)
    assert first.startswith(f"error: {shown(spec)}:2: "), first
    assert "too deeply nested" in first, first


def test_absurd_nesting_inside_a_test_body_is_a_load_error(tmp_path: Path) -> None:
    spec = tmp_path / "deep.star"
    spec.write_text("def test_x():\n    pass\n\ndef test_y():\n    x = " + "-" * 400 + "1\n")
    first = _refused(spec)
    assert first.startswith(f"error: {shown(spec)}:5: expression too deeply nested"), first


def test_a_file_that_is_not_utf8_is_refused_at_its_line(tmp_path: Path) -> None:
    spec = tmp_path / "latin1.star"
    spec.write_bytes(b"# fine\n# caf\xe9\nx = 1\n")
    first = _refused(spec)
    assert first.startswith(f"error: {shown(spec)}:2: not a UTF-8 text file"), first


def test_a_byte_order_mark_is_not_a_syntax_error(tmp_path: Path) -> None:
    spec = tmp_path / "bom.star"
    spec.write_bytes(b"\xef\xbb\xbfdef test_x():\n    assert_eq(1, 1)\n")
    proc = run_faultbox("test", str(spec), timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_a_loaded_file_that_is_not_utf8_is_refused_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "lib.star").write_bytes(b"x = 1\ny = '\xff'\n")
    spec = tmp_path / "main.star"
    spec.write_text('load("lib.star", "x")\n')
    first = _refused(spec)
    assert first.startswith(f"error: {shown(tmp_path / 'lib.star')}:2: not a UTF-8 text file"), (
        first
    )


def test_a_load_cycle_through_the_main_spec_names_the_chain(tmp_path: Path) -> None:
    (tmp_path / "a.star").write_text('load("b.star", "y")\nx = 1\n')
    (tmp_path / "b.star").write_text('# b\nload("a.star", "x")\ny = 2\n')
    first = _refused(tmp_path / "a.star")
    assert first.startswith(f"error: {shown(tmp_path / 'b.star')}:2: "), first
    assert "circular load: a.star → b.star → a.star" in first, first


def test_a_load_cycle_between_loaded_files_names_the_chain(tmp_path: Path) -> None:
    (tmp_path / "main.star").write_text('load("b.star", "y")\n')
    (tmp_path / "b.star").write_text('load("c.star", "z")\ny = 1\n')
    (tmp_path / "c.star").write_text('load("b.star", "y")\nz = 1\n')
    first = _refused(tmp_path / "main.star")
    assert first.startswith(f"error: {shown(tmp_path / 'c.star')}:1: "), first
    assert "circular load: b.star → c.star → b.star" in first, first


@pytest.mark.parametrize(
    ("line", "expect"),
    [
        ('delay("10000000h")', "delay(): duration '10000000h' is longer than the maximum of 24h"),
        ('delay("24h0m1s")', "delay(): duration '24h0m1s' is longer than the maximum of 24h"),
    ],
)
def test_durations_beyond_24h_are_load_errors(tmp_path: Path, line: str, expect: str) -> None:
    spec = tmp_path / "long.star"
    spec.write_text(
        f'db = service("db", "/bin/true", interface("main", "tcp", 5432))\nSLOW = {line}\n'
    )
    first = _refused(spec)
    assert first == f"error: {shown(spec)}:2: {expect}", first


def test_a_duration_of_exactly_24h_is_accepted(tmp_path: Path) -> None:
    spec = tmp_path / "day.star"
    spec.write_text('SLOW = delay("24h")\ndef test_x():\n    assert_eq(1, 1)\n')
    proc = run_faultbox("test", str(spec), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("value", ["600h", "100000000"])
def test_timeout_flag_beyond_24h_is_refused(tmp_path: Path, value: str) -> None:
    spec = tmp_path / "ok.star"
    spec.write_text("def test_x():\n    pass\n")
    proc = run_faultbox("test", str(spec), "--timeout", value, timeout=120)
    assert proc.returncode != 0
    assert "longer than the maximum of 24h" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_matrix_cell_clashing_with_a_test_function_names_its_line(tmp_path: Path) -> None:
    spec = tmp_path / "clash.star"
    spec.write_text(
        'db = service("db", "/bin/true", interface("main", "tcp", 5432))\n'
        "def probe():\n    pass\n"
        'down = fault_assumption("down", target = db, connect = deny("ECONNREFUSED"))\n'
        "def test_matrix_probe_down():\n    pass\n"
        "fault_matrix(scenarios = [probe], faults = [down])\n"
    )
    first = _refused(spec)
    assert first.startswith(f"error: {shown(spec)}:7: a matrix cell makes a test named"), first
