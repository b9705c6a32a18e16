"""``faultbox test``'s scale-out options: ``-j/--jobs``, ``--serial``, ``--shard``, ``--durations-file``.

``shard_tests`` picks shard K/N of the selected tests (runtime/sharding.py), ``run_tests``
runs them serially or in isolated workers (runtime/parallel.py). ``faultbox merge``
(commands/merge.py) combines the shards' result files.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from faultbox.report.merge import MergeError, load_results
from faultbox.report.terminal import Reporter
from faultbox.runtime import parallel, runner
from faultbox.runtime.isolation import probe
from faultbox.runtime.sharding import (
    ShardError,
    load_durations,
    longest_first,
    parse_shard,
    shard_from_env,
)
from faultbox.runtime.sharding import shard_names as _shard_names

from ._common import die

__all__ = [
    "ScaleOptions",
    "effective_jobs",
    "run_tests",
    "scale_options",
    "shard_tests",
    "start_order",
]


@dataclass
class ScaleOptions:
    """``test``'s -j/--jobs, --serial, --shard and --durations-file."""

    jobs: int = 1
    serial: list[str] = field(default_factory=list)
    shard: str | None = None
    durations_file: str | None = None
    picked: tuple[int, int, int] | None = None  # the shard run: (K, N, tests before sharding)

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
            help="Test durations from FILE (an earlier --output): balance --shard by time, "
            "and start the longest tests first with -j (default: the --output file's last run).",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


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
                return tests  # a --durations-file then only orders a -j run
            (k, n), where = found
        durations = load_durations(durations_file) if durations_file else None
    except ShardError as exc:
        die(str(exc))
    picked = _shard_names([t.name for t in tests], k, n, durations)
    chosen = [t for t in tests if t.name in picked]
    scale.picked = (k, n, len(tests))  # recorded in --output: merge tells a missing shard
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


def _earlier_durations(star_file: str) -> tuple[dict[str, float], str] | None:
    """Test durations known before the run, and where from: ``--durations-file``, else the
    ``--output`` file of an earlier run of the same spec (about to be overwritten)."""
    scale = ScaleOptions.current()
    if scale.durations_file:
        try:
            return load_durations(scale.durations_file), scale.durations_file
        except ShardError as exc:
            die(str(exc))
    ctx = click.get_current_context(silent=True)
    output = ctx.params.get("output") if ctx is not None else None
    if not isinstance(output, str) or not os.path.isfile(output):
        return None
    try:  # only a result file of this spec counts; anything else is just overwritten
        if load_results(output).doc.get("star_file") != star_file:
            return None
        return load_durations(output), f"{output} (the last run)"
    except (MergeError, ShardError):
        return None


def start_order(tests: list[Any], star_file: str, jobs: int) -> list[Any] | None:
    """The order in which a -j run starts ``tests``: longest first when earlier durations
    are known (so the longest test does not start last and hold the run up alone), else
    None (the tests' order)."""
    found = _earlier_durations(star_file)
    if found is None:
        return None
    durations, where = found
    known = sum(1 for t in tests if t.name in durations)
    if known == 0:
        return None
    by_name = {t.name: t for t in tests}
    ordered = [by_name[name] for name in longest_first([t.name for t in tests], durations)]
    click.echo(
        f"-j {jobs}: longest tests first, by the durations in {where} "
        f"({known} of {len(tests)} tests known)",
        err=True,
    )
    return ordered


def run_tests(loaded: Any, tests: list[Any], opts: Any, reporter: Reporter) -> Any:
    """The suite: in this process (-j 1) or in isolated workers (-j N)."""
    scale = ScaleOptions.current()
    jobs = effective_jobs(scale.jobs) if len(tests) > 1 else 1
    if jobs <= 1:
        suite = runner.run_suite(loaded, tests, opts, on_result=reporter.test_done)
    else:
        order = start_order(tests, loaded.display_path, jobs)
        suite = parallel.run_reported(loaded, tests, opts, jobs, serial=scale.serial,
                                      reporter=reporter, start_order=order)  # fmt: skip
    suite.shard = scale.picked
    return suite
