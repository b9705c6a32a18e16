"""The corpus of bad specs: each is refused at load time with ``file:line``, exit 1, no traceback.

Every file in bad_specs/ starts with ``# expect: <text>`` and ``# line: <n>``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, run_faultbox

CORPUS = sorted((Path(__file__).parent / "bad_specs").glob("*.star"))


def _header(path: Path) -> tuple[str, int]:
    lines = path.read_text().splitlines()
    expect = lines[0].removeprefix("# expect:").strip()
    line = int(lines[1].removeprefix("# line:").strip())
    return expect, line


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 15


@pytest.mark.parametrize("spec", CORPUS, ids=[p.stem for p in CORPUS])
def test_bad_spec_is_refused_with_location(spec: Path) -> None:
    expect, line = _header(spec)
    rel = spec.relative_to(REPO).as_posix()
    proc = run_faultbox("test", rel, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith(f"error: {rel}:{line}: "), first
    assert expect in first, first
    assert proc.stdout == ""


def test_two_tests_with_one_name_are_refused(tmp_path: Path) -> None:
    spec = tmp_path / "spec.star"
    spec.write_text(
        "def x():\n    pass\ndef test_x():\n    pass\nfault_scenario('x', scenario=x)\n"
    )
    proc = run_faultbox("test", str(spec))
    assert proc.returncode == 1
    assert "fault_scenario('x') makes a test named test_x, and so does the function test_x" in (
        proc.stderr
    )
