"""--shard K/N: a partition by test name only, every test in exactly one shard, balanced;
K/N from the CI engines' environments; a durations file balances by time."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from faultbox.runtime.sharding import (
    ShardError,
    load_durations,
    parse_shard,
    partition,
    shard_from_env,
)

NAMES = [f"test_matrix_order_flow_fault_{i:02d}" for i in range(23)] + ["test_order_flow"]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 30])
def test_every_test_lands_in_exactly_one_shard_balanced_by_count(n: int) -> None:
    shards = partition(NAMES, n)
    assert len(shards) == n
    flat = [name for shard in shards for name in shard]
    assert sorted(flat) == sorted(NAMES)  # all of them, none twice
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1


def test_the_partition_depends_only_on_the_names_not_their_order() -> None:
    shuffled = list(NAMES)
    random.Random(7).shuffle(shuffled)
    assert partition(shuffled, 4) == partition(NAMES, 4)
    # A fixed answer: any machine, any Python (no hash randomisation) computes this split.
    assert partition(["test_a", "test_b", "test_c", "test_d", "test_e"], 2) == [
        ["test_a", "test_c", "test_e"],
        ["test_b", "test_d"],
    ]


def test_durations_balance_by_time_longest_first() -> None:
    durations = {"test_slow": 10000.0, "test_mid": 6000.0, "test_a": 3000.0, "test_b": 3000.0}
    shards = partition(list(durations) + ["test_new"], 2, durations)
    # test_new is unknown: it counts with the median (4500 ms).
    assert shards == [["test_a", "test_slow"], ["test_b", "test_mid", "test_new"]]
    loads = [sum(durations.get(x, 4500.0) for x in s) for s in shards]
    assert loads == [13000.0, 13500.0]  # by count (3/2 split) it would be 16000/10500 or worse


def test_durations_come_from_an_earlier_output_file(tmp_path: Path) -> None:
    doc = {"version": 2, "star_file": "x.star", "duration_ms": 5, "pass": 2, "fail": 0,
           "tests": [{"name": "test_a", "result": "pass", "duration_ms": 120},
                     {"name": "test_a", "result": "pass", "duration_ms": 300, "run_index": 1},
                     {"name": "test_b", "result": "pass", "duration_ms": 40}]}  # fmt: skip
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    assert load_durations(path) == {"test_a": 300.0, "test_b": 40.0}
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ShardError, match="--durations-file: .*bad.json:1: not JSON"):
        load_durations(tmp_path / "bad.json")


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1", "1/2/3", ""])
def test_a_malformed_shard_is_refused(text: str) -> None:
    with pytest.raises(ShardError, match="--shard"):
        parse_shard(text)


def test_shards_from_ci_environments() -> None:
    # Kubernetes Indexed Job: 0-based index, the total from FAULTBOX_SHARD_TOTAL.
    k8s = {"JOB_COMPLETION_INDEX": "0", "FAULTBOX_SHARD_TOTAL": "3"}
    assert shard_from_env(k8s) == ((1, 3), "JOB_COMPLETION_INDEX/FAULTBOX_SHARD_TOTAL")
    # GitLab parallel: 1-based.
    gitlab = {"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "2"}
    assert shard_from_env(gitlab) == ((2, 2), "CI_NODE_INDEX/CI_NODE_TOTAL")
    assert shard_from_env({"FAULTBOX_SHARD": "3/4", **gitlab}) == ((3, 4), "FAULTBOX_SHARD")
    assert shard_from_env({}) is None
    with pytest.raises(ShardError, match="FAULTBOX_SHARD_TOTAL is not"):
        shard_from_env({"JOB_COMPLETION_INDEX": "1"})
    with pytest.raises(ShardError, match="1 <= K <= N"):
        shard_from_env({"JOB_COMPLETION_INDEX": "3", "FAULTBOX_SHARD_TOTAL": "3"})
    with pytest.raises(ShardError, match="not a number"):
        shard_from_env({"CI_NODE_INDEX": "x", "CI_NODE_TOTAL": "2"})
