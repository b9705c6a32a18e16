"""faultbox merge's shard checks on result documents (report/merge.py), without running tests."""

from __future__ import annotations

from typing import Any

import pytest

from faultbox.report.merge import LoadedResults, MergeError, merge_results
from faultbox.trace.export_json import TRACE_FORMAT_VERSION


def _shard(path: str, shard: Any, names: list[str]) -> LoadedResults:
    doc: dict[str, Any] = {"version": TRACE_FORMAT_VERSION, "star_file": "m.star",
                           "tests": [{"name": n, "result": "pass"} for n in names]}  # fmt: skip
    if shard is not None:
        doc["shard"] = shard
    return LoadedResults(path, doc)


def _of(k: int, n: int = 3, of: int = 5) -> dict[str, int]:
    return {"index": k, "total": n, "of_tests": of}


def test_all_shards_merge_in_any_order() -> None:
    files = [_shard("c", _of(3), ["test_c"]), _shard("a", _of(1), ["test_a", "test_d"]),
             _shard("b", _of(2), ["test_b", "test_e"])]  # fmt: skip
    doc = merge_results(files, all_shards=True)
    assert [t["name"] for t in doc["tests"]] == ["test_a", "test_b", "test_c", "test_d", "test_e"]
    assert "shard" not in doc  # the merged set is a whole run


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([_shard("a", _of(1), ["test_a"]), _shard("c", _of(3), ["test_c"])],
         r"missing the results of shard 2/3 \(of 5 tests in 3 shards; given: 1/3, 3/3\)"),
        ([_shard("a", _of(1), ["test_a"]), _shard("a2", _of(1), []),
          _shard("b", _of(2), ["test_b"])], "shard 1/3 is given twice: a and a2"),
        ([_shard("a", _of(1), ["test_a"]), _shard("b", _of(2, n=4), ["test_b"])],
         "cannot merge shards of different partitions: a is a shard of 3 .5 tests., b of 4"),
        ([_shard("a", _of(1), ["test_a"]), _shard("w", None, ["test_b"])],
         r"cannot merge a whole run \(w\) with shards of one"),
        ([_shard("a", {"index": "x", "total": 3}, ["test_a"])],
         r"a: malformed \"shard\" record"),
    ],
)  # fmt: skip
def test_incomplete_or_inconsistent_shards_are_refused(
    files: list[LoadedResults], message: str
) -> None:
    with pytest.raises(MergeError, match=message):
        merge_results(files, all_shards=True)


def test_a_report_of_some_shards_needs_not_all() -> None:
    doc = merge_results([_shard("a", _of(1), ["test_a"])])  # faultbox report's call
    assert [t["name"] for t in doc["tests"]] == ["test_a"]
