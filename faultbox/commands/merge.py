"""``faultbox merge RESULTS.json...``: the result files of one spec's shards as one result set."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from faultbox.report import junitxml
from faultbox.report.from_json import suite_from_doc
from faultbox.report.merge import MergeError, merge_files
from faultbox.report.terminal import Reporter

from ._common import die


@click.command("merge")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", "output", type=click.Path(dir_okay=False),
              help="Write the merged JSON result file to FILE.")  # fmt: skip
@click.option("--junit", type=click.Path(dir_okay=False),
              help="Write one JUnit XML report of every test to FILE.")  # fmt: skip
def command(results: tuple[str, ...], output: str | None, junit: str | None) -> None:
    """Combine the result files (--output JSON) of one spec's shards into one result set.

    Prints the failures with their replay commands, the matrix table over every cell and
    the totals. Files of different specs or faultbox versions, with one test in two files,
    or shards of a --shard N run missing, are refused (exit 1). Exit 0 if every test
    passed, 2 if any failed.
    """
    try:
        doc = merge_files(list(results), all_shards=True)  # a shard's file lost: refused
    except MergeError as exc:
        die(str(exc))
    doc = _in_run_order(doc)
    suite = suite_from_doc(doc)
    reporter = Reporter()
    for result in suite.results:
        if not result.passed:
            for line in reporter.block(result):
                reporter.out.write(line + "\n")
    try:
        if output:  # the merged document itself: nothing recomputed
            text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
            Path(output).write_text(text, encoding="utf-8")
        if junit:
            junitxml.write_junit(suite, junit)
    except OSError as exc:
        die(f"cannot write output: {exc}")
    click.echo(f"\nmerged {len(results)} result files: {len(suite.results)} tests", err=True)
    reporter.suite_done(suite)
    sys.exit(0 if suite.failed == 0 else 2)


def _in_run_order(doc: dict[str, Any]) -> dict[str, Any]:
    """Tests (and matrix cells) in the order one run reports them: by name, then run."""
    tests = sorted(doc["tests"], key=lambda t: (t["name"], int(t.get("run_index", 0))))
    out = {**doc, "tests": tests}
    matrix = doc.get("matrix")
    if isinstance(matrix, dict):
        rank = {
            (t["matrix"]["scenario"], t["matrix"]["fault"]): i
            for i, t in enumerate(tests) if isinstance(t.get("matrix"), dict)
        }  # fmt: skip
        cells = sorted(matrix.get("cells", []),
                       key=lambda c: rank.get((c["scenario"], c["fault"]), len(rank)))  # fmt: skip
        out["matrix"] = {**matrix, "cells": cells}
    return out
