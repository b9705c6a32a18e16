"""Merging result files (``--output`` JSON) of one spec run in several shards.

``load_results(path)`` reads and checks one file; ``merge_results(docs)`` combines the tests,
matrix cells and totals of several into one document of the same format. Files of different
specs or faultbox versions are refused (:class:`MergeError`, a one-line message for the CLI),
and so is a test present in two files: shards run disjoint subsets of one spec's tests.
Files of ``--shard K/N`` runs say so (``"shard"``); merging them needs all N, once each.
Used by ``faultbox report`` and meant for ``faultbox merge``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultbox.trace.export_json import TRACE_FORMAT_VERSION

__all__ = ["LoadedResults", "MergeError", "load_results", "merge_files", "merge_results"]


class MergeError(Exception):
    """A result file cannot be read, or the files do not belong to one run."""


@dataclass(frozen=True, slots=True)
class LoadedResults:
    """One result file: where it came from and its JSON document."""

    path: str
    doc: dict[str, Any]


def load_results(path: str | Path) -> LoadedResults:
    """Read one ``--output`` JSON file; :class:`MergeError` if it is not one."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MergeError(f"cannot read {name}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MergeError(f"{name}:{exc.lineno}: not JSON: {exc.msg}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tests"), list):
        raise MergeError(f'{name}: not a faultbox result file (no "tests" list)')
    if doc.get("version") != TRACE_FORMAT_VERSION:
        raise MergeError(
            f"{name}: result format version {doc.get('version')!r}, "
            f"this faultbox reads version {TRACE_FORMAT_VERSION}"
        )
    for i, test in enumerate(doc["tests"]):
        if not isinstance(test, dict) or not isinstance(test.get("name"), str):
            raise MergeError(f"{name}: tests[{i}] has no name")
    return LoadedResults(name, doc)


def _same(files: list[LoadedResults], key: str, what: str) -> None:
    """Refuse files that disagree on ``key`` (a missing key is a value of its own)."""
    first = files[0]
    for other in files[1:]:
        a, b = first.doc.get(key), other.doc.get(key)
        if a != b:
            raise MergeError(
                f"cannot merge results of different {what}: {first.path} has "
                f"{_shown(a)}, {other.path} has {_shown(b)}"
            )


def _shard_of(f: LoadedResults) -> tuple[int, int, int] | None:
    """(K, N, tests before sharding) of a ``--shard`` run's file, None for a whole run."""
    shard = f.doc.get("shard")
    if shard is None:
        return None
    try:
        k, n, of_tests = (int(shard[key]) for key in ("index", "total", "of_tests"))
    except (TypeError, KeyError, ValueError):
        raise MergeError(f'{f.path}: malformed "shard" record: {shard!r}') from None
    return k, n, of_tests


def _check_shards(files: list[LoadedResults]) -> None:
    """Files of ``--shard`` runs must be of one partition, and all of its shards: a shard
    whose file is missing (a CI job that died before uploading) would drop its tests."""
    shards = {f.path: _shard_of(f) for f in files}
    sharded = {path: s for path, s in shards.items() if s is not None}
    if not sharded:
        return
    if len(sharded) != len(files):
        whole = next(path for path, s in shards.items() if s is None)
        raise MergeError(f"cannot merge a whole run ({whole}) with shards of one")
    (first, (_, n, of_tests)), *_ = sharded.items()
    for path, (_, other_n, other_of) in sharded.items():
        if (other_n, other_of) != (n, of_tests):
            raise MergeError(
                f"cannot merge shards of different partitions: {first} is a shard of {n} "
                f"({of_tests} tests), {path} of {other_n} ({other_of} tests)"
            )
    given: dict[int, str] = {}
    for path, (k, _, _) in sharded.items():
        if k in given:
            raise MergeError(f"shard {k}/{n} is given twice: {given[k]} and {path}")
        given[k] = path
    missing = [f"{k}/{n}" for k in range(1, n + 1) if k not in given]
    if missing:
        raise MergeError(
            f"missing the results of shard {', '.join(missing)} (of {of_tests} tests in "
            f"{n} shards; given: {', '.join(f'{k}/{n}' for k in sorted(given))})"
        )


def _shown(value: Any) -> str:
    return "none recorded" if value is None else repr(value)


def _test_key(test: dict[str, Any]) -> tuple[str, int]:
    return test["name"], int(test.get("run_index", 0))


def _ordered_union(lists: list[list[str]]) -> list[str]:
    return list(dict.fromkeys(v for values in lists for v in values))


def _merge_matrix(files: list[LoadedResults]) -> dict[str, Any] | None:
    matrices = [f.doc["matrix"] for f in files if isinstance(f.doc.get("matrix"), dict)]
    if not matrices:
        return None
    cells = [c for m in matrices for c in m.get("cells", [])]
    excluded_pairs = _ordered_union(
        [[json.dumps([e["scenario"], e["fault"]]) for e in m.get("excluded", [])] for m in matrices]
    )
    passed = sum(1 for c in cells if c.get("passed"))
    return {
        "scenarios": _ordered_union([m.get("scenarios", []) for m in matrices]),
        "faults": _ordered_union([m.get("faults", []) for m in matrices]),
        "cells": cells,
        "excluded": [
            dict(zip(("scenario", "fault"), json.loads(p), strict=True)) for p in excluded_pairs
        ],
        "total": len(cells),
        "passed": passed,
        "failed": len(cells) - passed,
        "passed_without_fault": sum(
            1 for c in cells if c.get("passed") and not c.get("faults_fired", True)
        ),
    }


def merge_results(files: list[LoadedResults], *, all_shards: bool = False) -> dict[str, Any]:
    """One result document from the files of one run's shards (a single file: itself).

    Tests (and matrix cells) come in the order one run reports them: by name, then run
    index, so shards given in any order give the same document; totals are recomputed;
    ``duration_ms`` is the sum of the shards' (the time spent running tests, not the wall
    time of shards run side by side). The result is a valid result file itself. With
    ``all_shards`` (``faultbox merge``), files of ``--shard`` runs must be all N shards of
    one partition, each once; a report of some shards (``faultbox report``) needs not.
    """
    if not files:
        raise MergeError("no result files given")
    _same(files, "star_file", "specs")
    _same(files, "faultbox_version", "faultbox versions")
    if all_shards:
        _check_shards(files)
    seen: dict[tuple[str, int], str] = {}
    tests: list[dict[str, Any]] = []
    for f in files:
        for test in f.doc["tests"]:
            key = _test_key(test)
            if key in seen:
                raise MergeError(
                    f"test {key[0]} is in both {seen[key]} and {f.path}: "
                    "shards must run different tests"
                )
            seen[key] = f.path
            tests.append(test)
    tests.sort(key=_test_key)  # the runner's order (tests sorted by name, runs in order)
    out: dict[str, Any] = {"version": TRACE_FORMAT_VERSION}
    if "star_file" in files[0].doc:
        out["star_file"] = files[0].doc["star_file"]
    out["duration_ms"] = sum(int(f.doc.get("duration_ms", 0)) for f in files)
    out["pass"] = sum(1 for t in tests if t.get("result") == "pass")
    out["fail"] = len(tests) - out["pass"]
    out["tests"] = tests
    matrix = _merge_matrix(files)
    if matrix is not None:
        rank = {(t["matrix"]["scenario"], t["matrix"]["fault"]): i
                for i, t in enumerate(tests) if isinstance(t.get("matrix"), dict)}  # fmt: skip
        matrix["cells"].sort(key=lambda c: rank.get((c["scenario"], c["fault"]), len(rank)))
        out["matrix"] = matrix
    if "faultbox_version" in files[0].doc:
        out["faultbox_version"] = files[0].doc["faultbox_version"]
    return out


def merge_files(paths: list[str | Path], *, all_shards: bool = False) -> dict[str, Any]:
    """Load and merge result files (:class:`MergeError` on the first problem); with
    ``all_shards``, files of ``--shard`` runs must be every shard of one partition."""
    return merge_results([load_results(p) for p in paths], all_shards=all_shards)
