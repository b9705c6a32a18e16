"""``faultbox test --shard K/N``: which tests shard K of N runs.

The partition depends only on the tests' names (and, with ``--durations-file``, on that
file), never on the machine: every CI node computes the same N shards and every test lands
in exactly one. Without durations the names are sorted and dealt round-robin (shard sizes
differ by at most one). With durations from an earlier run's ``--output`` file, the tests
are placed longest first, each into the shard with the least time so far (greedy LPT); a
test the file does not know counts with the median of the known durations.

K and N may also come from the CI engine: a Kubernetes Indexed Job sets
``JOB_COMPLETION_INDEX`` (0-based; the total from ``FAULTBOX_SHARD_TOTAL``), GitLab's
``parallel:`` sets ``CI_NODE_INDEX``/``CI_NODE_TOTAL`` (1-based); ``FAULTBOX_SHARD=K/N``
works anywhere. An explicit ``--shard`` wins.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from faultbox.report.merge import MergeError, load_results

__all__ = [
    "ShardError",
    "load_durations",
    "longest_first",
    "parse_shard",
    "partition",
    "shard_from_env",
    "shard_names",
]

_SHARD_RX = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


class ShardError(Exception):
    """A malformed shard, an inconsistent CI environment, an unreadable durations file."""


def parse_shard(text: str, what: str = "--shard") -> tuple[int, int]:
    """``"2/4"`` → ``(2, 4)``: shard K (1-based) of N."""
    m = _SHARD_RX.fullmatch(text)
    if not m:
        raise ShardError(f"{what}: expected K/N (e.g. 1/4), got {text!r}")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 1 <= k <= n:
        raise ShardError(f"{what}: K/N needs 1 <= K <= N, got {text!r}")
    return k, n


def _int_env(env: Mapping[str, str], name: str) -> int:
    value = env[name].strip()
    if not value.isdigit():
        raise ShardError(f"{name}={env[name]!r} is not a number")
    return int(value)


def shard_from_env(env: Mapping[str, str]) -> tuple[tuple[int, int], str] | None:
    """(K, N) from a CI engine's environment and the variables it came from, or None."""
    if env.get("FAULTBOX_SHARD", "").strip():
        return parse_shard(env["FAULTBOX_SHARD"], "FAULTBOX_SHARD"), "FAULTBOX_SHARD"
    if env.get("JOB_COMPLETION_INDEX", "").strip():  # Kubernetes Indexed Job: 0-based
        if not env.get("FAULTBOX_SHARD_TOTAL", "").strip():
            raise ShardError(
                "JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job) but "
                "FAULTBOX_SHARD_TOTAL is not: set it to the Job's completions"
            )
        index = _int_env(env, "JOB_COMPLETION_INDEX")
        total = _int_env(env, "FAULTBOX_SHARD_TOTAL")
        where = "JOB_COMPLETION_INDEX/FAULTBOX_SHARD_TOTAL"
        return parse_shard(f"{index + 1}/{total}", where), where
    if env.get("CI_NODE_INDEX", "").strip() and env.get("CI_NODE_TOTAL", "").strip():
        index = _int_env(env, "CI_NODE_INDEX")  # GitLab: 1-based
        total = _int_env(env, "CI_NODE_TOTAL")
        where = "CI_NODE_INDEX/CI_NODE_TOTAL"
        return parse_shard(f"{index}/{total}", where), where
    return None


def _costs(names: Sequence[str], durations: Mapping[str, float]) -> dict[str, float]:
    """Each name's duration; one the file does not know counts with the median of the known."""
    known = [float(durations[x]) for x in names if x in durations]
    default = statistics.median(known) if known else 1.0
    return {x: float(durations.get(x, default)) for x in names}


def longest_first(names: Sequence[str], durations: Mapping[str, float]) -> list[str]:
    """``names`` longest first (classic LPT order for ``-j N``); equal durations, and unknown
    names (the median), keep their order in ``names``."""
    cost = _costs(names, durations)
    return sorted(names, key=lambda x: -cost[x])  # sorted() is stable


def partition(
    names: Sequence[str], n: int, durations: Mapping[str, float] | None = None
) -> list[list[str]]:
    """Split ``names`` into ``n`` shards (each list sorted); see the module docstring."""
    ordered = sorted(set(names))
    shards: list[list[str]] = [[] for _ in range(n)]
    if not durations:
        for i, name in enumerate(ordered):
            shards[i % n].append(name)
        return shards
    cost = _costs(ordered, durations)
    loads = [0.0] * n
    for name in sorted(ordered, key=lambda x: (-cost[x], x)):
        target = min(range(n), key=lambda i: (loads[i], i))
        shards[target].append(name)
        loads[target] += cost[name]
    return [sorted(s) for s in shards]


def shard_names(
    names: Sequence[str], k: int, n: int, durations: Mapping[str, float] | None = None
) -> set[str]:
    """The names shard ``k`` (1-based) of ``n`` runs."""
    return set(partition(names, n, durations)[k - 1])


def load_durations(path: str | Path) -> dict[str, float]:
    """Per-test durations (ms) from an earlier ``--output`` file (the longest of a test's
    runs); :class:`ShardError` if it cannot be read."""
    try:
        loaded = load_results(path)
    except MergeError as exc:
        raise ShardError(f"--durations-file: {exc}") from None
    out: dict[str, float] = {}
    for test in loaded.doc["tests"]:
        ms = test.get("duration_ms", 0)
        if isinstance(ms, (int, float)) and not isinstance(ms, bool):
            out[test["name"]] = max(out.get(test["name"], 0.0), float(ms))
    return out
