"""The scale-out parts of the command line: ``test --shard/-j`` and ``faultbox merge``.

``shard_tests`` picks shard K/N of the selected tests (runtime/sharding.py), ``run_tests``
runs them serially or in isolated workers (runtime/parallel.py), ``merge_cmd`` combines the
result files of the shards into one (report/merge.py) and reports it like one run.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from faultbox.report import junitxml
from faultbox.report.from_json import suite_from_doc
from faultbox.report.merge import MergeError, merge_files
from faultbox.report.terminal import Reporter
from faultbox.runtime.isolation import probe
from faultbox.runtime.sharding import ShardError, load_durations, parse_shard, shard_from_env
from faultbox.runtime.sharding import shard_names as _shard_names

__all__ = ["ScaleOptions", "effective_jobs", "merge_cmd", "run_tests", "scale_options",
           "shard_tests"]  # fmt: skip


@dataclass
class ScaleOptions:
    """``test``'s -j/--jobs, --serial, --shard and --durations-file."""

    jobs: int = 1
    serial: list[str] = field(default_factory=list)
    shard: str | None = None
    durations_file: str | None = None

    @classmethod
    def current(cls) -> ScaleOptions:
        """The options of the running ``test`` command (set by :func:`scale_options`)."""
        ctx = click.get_current_context(silent=True)
        found = ctx.meta.get(_META) if ctx is not None else None
        return found if isinstance(found, ScaleOptions) else cls()


_META = "faultbox.scale"


def scale_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add -j/--jobs, --serial, --shard, --durations-file to a command; the command reads
    them with :meth:`ScaleOptions.current` (its own signature stays as it is)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, jobs: int, serial: tuple[str, ...], shard: str | None,
                durations_file: str | None, **kwargs: Any) -> Any:  # fmt: skip
        click.get_current_context().meta[_META] = ScaleOptions(
            jobs, list(serial), shard, durations_file
        )
        return fn(*args, **kwargs)

    options = [
        click.option(
            "-j", "--jobs", type=click.IntRange(min=1), default=1, show_default=True,
            help="Run N tests at once, each in network and mount namespaces of its own "
            "(own loopback, private /tmp). Needs root; else one at a time.",
        ),
        click.option(
            "--serial", multiple=True, metavar="GLOB",
            help="With -j: run these tests in faultbox's own namespaces, one at a time "
            "(tests that reach servers outside the spec's services). Repeatable.",
        ),
        click.option(
            "--shard", metavar="K/N",
            help="Run only shard K of N (a stable partition by test name). Default: from "
            "FAULTBOX_SHARD, JOB_COMPLETION_INDEX+FAULTBOX_SHARD_TOTAL or CI_NODE_INDEX/TOTAL.",
        ),
        click.option(
            "--durations-file", type=click.Path(dir_okay=False), metavar="FILE",
            help="Balance shards by the test durations in FILE (an earlier --output).",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def _die(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def shard_tests(tests: list[Any]) -> list[Any]:
    """The tests of shard K/N (``--shard`` or the CI environment); all of them if none."""
    scale = ScaleOptions.current()
    shard, durations_file = scale.shard, scale.durations_file
    try:
        if shard is not None:
            k, n = parse_shard(shard)
            where = "--shard"
        else:
            found = shard_from_env(os.environ)
            if found is None:
                if durations_file:
                    _die("--durations-file needs --shard K/N (or a CI shard environment)")
                return tests
            (k, n), where = found
        durations = load_durations(durations_file) if durations_file else None
    except ShardError as exc:
        _die(str(exc))
    picked = _shard_names([t.name for t in tests], k, n, durations)
    chosen = [t for t in tests if t.name in picked]
    source = "" if where == "--shard" else f" (from {where})"
    click.echo(f"shard {k}/{n}{source}: {len(chosen)} of {len(tests)} tests", err=True)
    return chosen


def effective_jobs(jobs: int) -> int:
    """``jobs``, or 1 (with a warning saying why) when tests cannot get namespaces here."""
    if jobs <= 1:
        return 1
    reason = probe()
    if reason is None:
        return jobs
    click.echo(
        f"warning: -j {jobs} runs each test in network and mount namespaces of its own, "
        f"which needs root (CAP_SYS_ADMIN): {reason}; running one test at a time",
        err=True,
    )
    return 1


def run_tests(loaded: Any, tests: list[Any], opts: Any, reporter: Reporter) -> Any:
    """The suite: in this process (-j 1) or in isolated workers (-j N)."""
    # local import: the runtime (services, seccomp, httpx) loads only when tests run
    from faultbox.runtime import parallel, runner

    scale = ScaleOptions.current()
    jobs = effective_jobs(scale.jobs) if len(tests) > 1 else 1
    if jobs <= 1:
        return runner.run_suite(loaded, tests, opts, on_result=reporter.test_done)
    return parallel.run_reported(loaded, tests, opts, jobs, serial=scale.serial, reporter=reporter)


@click.command("merge")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", "output", type=click.Path(dir_okay=False),
              help="Write the merged JSON result file to FILE.")  # fmt: skip
@click.option("--junit", type=click.Path(dir_okay=False),
              help="Write one JUnit XML report of every test to FILE.")  # fmt: skip
def merge_cmd(results: tuple[str, ...], output: str | None, junit: str | None) -> None:
    """Combine the result files (--output JSON) of one spec's shards into one result set.

    Prints the failures with their replay commands, the matrix table over every cell and
    the totals. Files of different specs or faultbox versions, or with one test in two
    files, are refused (exit 1). Exit 0 if every test passed, 2 if any failed.
    """
    try:
        doc = merge_files(list(results))
    except MergeError as exc:
        _die(str(exc))
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
        _die(f"cannot write output: {exc}")
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
