"""--shard K/N and faultbox merge: two shards of chapter 12 run every test exactly once, and
their merged results are one run's (JSON totals, one JUnit file, the matrix, the failures)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest


def _names(path: Path) -> list[str]:
    return [t["name"] for t in json.loads(path.read_text())["tests"]]


@pytest.fixture(scope="module")
def ch12(tmp_path_factory: pytest.TempPathFactory, demo_bins: Path, fbx) -> Path:  # noqa: ANN001
    """chapter 12 run whole, as shard 1/2 and as shard 2/2 (each with --output and --junit)."""
    work = fbx.workdir(tmp_path_factory.mktemp("ch12"), demo_bins, "ch12/named-ops.star")
    whole = fbx.faultbox("test", "named-ops.star", "--output", "whole.json", cwd=work)
    assert whole.returncode == 2, whole.stderr
    for k in ("1", "2"):
        proc = fbx.faultbox("test", "named-ops.star", "--shard", f"{k}/2", "-j", "2",
                            "--output", f"s{k}.json", "--junit", f"s{k}.xml", cwd=work)  # fmt: skip
        assert proc.returncode in (0, 2), proc.stderr
        assert f"shard {k}/2: 4 of 8 tests" in proc.stderr
    return work


def test_two_shards_run_every_test_exactly_once(ch12: Path) -> None:
    one, two = _names(ch12 / "s1.json"), _names(ch12 / "s2.json")
    assert not set(one) & set(two)
    assert sorted(one + two) == sorted(_names(ch12 / "whole.json"))
    # Each shard's file says which shard of which partition it is; a whole run's does not.
    for k in (1, 2):
        doc = json.loads((ch12 / f"s{k}.json").read_text())
        assert doc["shard"] == {"index": k, "total": 2, "of_tests": 8}
    assert "shard" not in json.loads((ch12 / "whole.json").read_text())


def test_merge_refuses_a_missing_or_repeated_shard(ch12: Path, tmp_path: Path, fbx) -> None:  # noqa: ANN001
    """A shard whose results never arrived (its CI job died) must not pass as a smaller run."""
    alone = fbx.faultbox("merge", "s1.json", "--junit", str(tmp_path / "m.xml"), cwd=ch12)
    assert alone.returncode == 1, alone.stderr
    assert (
        "error: missing the results of shard 2/2 (of 8 tests in 2 shards; given: 1/2)"
        in alone.stderr
    )
    assert not (tmp_path / "m.xml").exists()
    (tmp_path / "again.json").write_text((ch12 / "s1.json").read_text())
    twice = fbx.faultbox("merge", "s1.json", str(tmp_path / "again.json"), "s2.json", cwd=ch12)
    assert twice.returncode == 1
    assert "shard 1/2 is given twice" in twice.stderr
    mixed = fbx.faultbox("merge", "s1.json", "whole.json", cwd=ch12)
    assert mixed.returncode == 1
    assert "cannot merge a whole run (whole.json) with shards of one" in mixed.stderr
    other = json.loads((ch12 / "s2.json").read_text())
    other["shard"]["total"] = 3
    (tmp_path / "other.json").write_text(json.dumps(other))
    parts = fbx.faultbox("merge", "s1.json", str(tmp_path / "other.json"), cwd=ch12)
    assert parts.returncode == 1
    assert "cannot merge shards of different partitions" in parts.stderr
    assert "Traceback" not in alone.stderr + twice.stderr + mixed.stderr + parts.stderr
    # faultbox report (one HTML page) of one shard is fine: only merge needs them all.
    html = fbx.faultbox("report", "s1.json", "--output", str(tmp_path / "s1.html"), cwd=ch12)
    assert html.returncode == 0, html.stderr


def test_merge_gives_one_runs_totals_junit_and_matrix(ch12: Path, fbx) -> None:  # noqa: ANN001
    proc = fbx.faultbox("merge", "s2.json", "s1.json", "--output", "merged.json",
                        "--junit", "merged.xml", cwd=ch12)  # fmt: skip
    assert proc.returncode == 2, proc.stderr  # one test failed
    whole = json.loads((ch12 / "whole.json").read_text())
    merged = json.loads((ch12 / "merged.json").read_text())
    assert (merged["pass"], merged["fail"]) == (whole["pass"], whole["fail"]) == (7, 1)
    assert [t["name"] for t in merged["tests"]] == [t["name"] for t in whole["tests"]]
    assert [(c["scenario"], c["fault"], c["passed"]) for c in merged["matrix"]["cells"]] == [
        (c["scenario"], c["fault"], c["passed"]) for c in whole["matrix"]["cells"]
    ]
    suite = ET.parse(ch12 / "merged.xml").getroot().find("testsuite")
    assert suite is not None
    cases = [c.get("name") for c in suite.iter("testcase")]
    assert sorted(cases) == sorted(t["name"] for t in whole["tests"])
    assert (suite.get("tests"), suite.get("failures")) == ("8", "1")
    err = proc.stderr
    # The failure with its replay command, the matrix over all cells, the totals.
    assert "--- FAIL: test_matrix_check_inventory_wal_broken" in err
    assert "replay: faultbox test named-ops.star --test matrix_check_inventory_wal_broken" in err
    assert "Fault Matrix: 2 scenarios × 2 faults = 4 cells" in err
    assert "Result: 3/4 passed, 1 failed" in err
    assert err.rstrip().endswith("7 passed, 1 failed")


def test_merge_refuses_other_specs_and_overlaps(ch12: Path, tmp_path: Path, fbx) -> None:  # noqa: ANN001
    other = json.loads((ch12 / "s2.json").read_text())
    other["star_file"] = "another.star"
    (tmp_path / "other.json").write_text(json.dumps(other))
    proc = fbx.faultbox("merge", str(ch12 / "s1.json"), str(tmp_path / "other.json"),
                        cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1
    assert "cannot merge results of different specs" in proc.stderr
    assert "Traceback" not in proc.stderr
    old = json.loads((ch12 / "s2.json").read_text())
    old["faultbox_version"] = "0.0.1"
    (tmp_path / "old.json").write_text(json.dumps(old))
    proc = fbx.faultbox("merge", str(ch12 / "s1.json"), str(tmp_path / "old.json"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "different faultbox versions" in proc.stderr
    both = json.loads((ch12 / "whole.json").read_text())
    both["shard"] = {"index": 2, "total": 2, "of_tests": 8}  # claims to be shard 2 of 2
    (tmp_path / "both.json").write_text(json.dumps(both))
    proc = fbx.faultbox("merge", str(ch12 / "s1.json"), str(tmp_path / "both.json"), cwd=tmp_path)
    assert proc.returncode == 1
    assert "shards must run different tests" in proc.stderr


_PLAIN = "".join(f"def test_{c}():\n    assert_true(True)\n" for c in "abcde")


def test_shard_from_the_ci_environment(
    tmp_path: Path, fbx, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    (tmp_path / "plain.star").write_text(_PLAIN)
    by_flag = fbx.faultbox("test", "plain.star", "--shard", "2/2", "--output", "f.json",
                           cwd=tmp_path)  # fmt: skip
    assert by_flag.returncode == 0, by_flag.stderr
    monkeypatch.setenv("CI_NODE_INDEX", "2")  # GitLab: 1-based
    monkeypatch.setenv("CI_NODE_TOTAL", "2")
    gitlab = fbx.faultbox("test", "plain.star", "--output", "g.json", cwd=tmp_path)
    assert "shard 2/2 (from CI_NODE_INDEX/CI_NODE_TOTAL): 2 of 5 tests" in gitlab.stderr
    monkeypatch.delenv("CI_NODE_INDEX")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")  # Kubernetes: 0-based
    monkeypatch.setenv("FAULTBOX_SHARD_TOTAL", "2")
    k8s = fbx.faultbox("test", "plain.star", "--output", "k.json", cwd=tmp_path)
    assert "shard 2/2 (from JOB_COMPLETION_INDEX/FAULTBOX_SHARD_TOTAL)" in k8s.stderr
    names = _names(tmp_path / "f.json")
    assert names == ["test_b", "test_d"]
    assert _names(tmp_path / "g.json") == names == _names(tmp_path / "k.json")
    bad = fbx.faultbox("test", "plain.star", "--shard", "3/2", cwd=tmp_path)
    assert bad.returncode == 1
    assert "error: --shard: K/N needs 1 <= K <= N, got '3/2'" in bad.stderr


def test_a_durations_file_balances_the_shards(tmp_path: Path, fbx) -> None:  # noqa: ANN001
    (tmp_path / "plain.star").write_text(_PLAIN)
    tests = [{"name": f"test_{c}", "result": "pass", "duration_ms": ms}
             for c, ms in zip("abcde", [9000, 100, 100, 100, 100], strict=True)]  # fmt: skip
    doc = {"version": 2, "star_file": "plain.star", "duration_ms": 0, "pass": 5, "fail": 0,
           "tests": tests}  # fmt: skip
    (tmp_path / "durations.json").write_text(json.dumps(doc))
    proc = fbx.faultbox("test", "plain.star", "--shard", "1/2", "--durations-file",
                        "durations.json", "--output", "one.json", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert _names(tmp_path / "one.json") == ["test_a"]  # the long one alone
