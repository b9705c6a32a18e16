"""``faultbox test SPEC``: run a spec's tests on fresh services and report them."""

from __future__ import annotations

import dataclasses
import sys

import click

from faultbox.report import html as html_report
from faultbox.report import junitxml
from faultbox.report.terminal import Reporter
from faultbox.runtime import discovery
from faultbox.runtime.runner import Interrupted, RunOptions
from faultbox.starlark_env.duration_args import MAX_DURATION_NS, duration_ns
from faultbox.starlark_env.errors import SpecError
from faultbox.starlark_env.loader import SpecLoadError, load_spec
from faultbox.trace import export_json
from faultbox.trace import normalize as norm
from faultbox.trace import shiviz as sv
from faultbox.trace.results import SuiteResult

from . import scale
from ._common import check_output_paths, die


@click.command("test")
@scale.scale_options  # -j/--jobs, --serial, --shard, --durations-file
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option(
    "--test",
    "test_name",
    metavar="NAME",
    help="Run only this test (with or without test_; globs allowed).",
)
@click.option(
    "--seed", type=int, default=None, help="Seed for probabilistic faults (default: the run index)."
)
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run each test N times; stop a test at its first failing run.",
)
@click.option(
    "--timeout",
    "timeout",
    default="60s",
    show_default=True,
    help="Per-test timeout (e.g. 30s, 2m).",
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Show every intercepted syscall and the services' output."
)
@click.option(
    "--show",
    type=click.Choice(["all", "fail"]),
    default="all",
    show_default=True,
    help="Which tests to report (console and files).",
)
@click.option(
    "--output", "output", type=click.Path(dir_okay=False), help="Write the JSON trace to FILE."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: print the JSON trace on stdout.",
)
@click.option("--junit", type=click.Path(dir_okay=False), help="Write a JUnit XML report to FILE.")
@click.option(
    "--shiviz", type=click.Path(dir_okay=False), help="Write a ShiViz log of all tests to FILE."
)
@click.option(
    "--normalize",
    type=click.Path(dir_okay=False),
    help="Write the normalized trace (for faultbox diff) to FILE.",
)
@click.option(
    "--html", type=click.Path(dir_okay=False),
    help="Write a self-contained HTML report (matrix, failures, timelines) to FILE.",
)  # fmt: skip
def command(spec: str, test_name: str | None, seed: int | None, runs: int, timeout: str,
             verbose: bool, show: str, output: str | None, fmt: str, junit: str | None,
             shiviz: str | None, normalize: str | None, html: str | None) -> None:  # fmt: skip
    """Run the tests of SPEC (a .star file) on fresh services."""
    if test_name is not None and not test_name.strip():
        # An empty name would select every test: surely not what was meant.
        raise click.BadParameter("needs a test name, got an empty string", param_hint="--test")
    timeout_s = parse_timeout(timeout)
    try:
        loaded = load_spec(spec)
    except SpecLoadError as exc:
        die(str(exc))
    try:
        tests = discovery.discover(loaded)
    except SpecError as exc:
        die(f"{spec}: {exc.message}")
    if not tests:
        die(f"{spec}: no tests found (define test_* functions, scenario(), fault_scenario() "
             "or fault_matrix())")  # fmt: skip
    if test_name:
        selected = discovery.select(tests, test_name)
        if not selected:
            names = ", ".join(t.name for t in tests)
            guess = discovery.closest(tests, test_name)
            hint = f"\n  did you mean --test {guess}?" if guess else ""
            die(f"no test matches {test_name!r}; available: {names}{hint}")
        tests = selected
    tests = scale.shard_tests(tests)  # --shard K/N or the CI environment
    check_output_paths(output, junit, shiviz, normalize, html)
    reporter = Reporter(verbose=verbose, show=show)
    reporter.matrix_cells = sum(1 for t in tests if t.matrix is not None)
    opts = RunOptions(
        seed=seed, runs=runs, timeout_s=timeout_s, verbose=verbose,
        echo_to=sys.stderr if fmt == "json" else None,  # stdout carries only the JSON
    )  # fmt: skip
    try:
        suite = scale.run_tests(loaded, tests, opts, reporter)  # -j N: isolated workers
    except (Interrupted, KeyboardInterrupt):  # the latter: raised after a teardown finished
        click.echo("\ninterrupted: services stopped", err=True)
        sys.exit(130)
    reported = suite
    if show == "fail":  # files get only the failures; the console's matrix table keeps all cells
        reported = dataclasses.replace(suite, results=[r for r in suite.results if not r.passed])
    _write_outputs(reported, output, fmt, junit, shiviz, normalize)
    if html:
        _write_html(reported, html)
    reporter.suite_done(suite)
    sys.exit(0 if suite.failed == 0 else 2)


def _write_outputs(suite: SuiteResult, output: str | None, fmt: str, junit: str | None,
                   shiviz: str | None, normalize: str | None) -> None:  # fmt: skip
    """The files the options asked for, and the JSON on stdout with --format json."""
    try:
        if output:
            export_json.write_json(suite, output)
        if junit:
            junitxml.write_junit(suite, junit)
        if shiviz:
            sv.write_shiviz(suite, shiviz)
        if normalize:
            norm.write_normalized(suite, normalize)
    except OSError as exc:
        die(f"cannot write output: {exc}")
    if fmt == "json":
        export_json.write_json(suite, sys.stdout)


def _write_html(suite: SuiteResult, path: str) -> None:
    try:
        html_report.write_suite_html(suite, path)
    except OSError as exc:
        die(f"cannot write output: {exc}")


def parse_timeout(text: str) -> float:
    """``--timeout``: seconds (``90``) or a duration (``30s``, ``2m``), more than 0, at most 24h."""
    try:
        seconds = float(text) if text.replace(".", "", 1).isdigit() else duration_ns(text) / 1e9
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from None
    if seconds <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--timeout")
    if seconds * 1e9 > MAX_DURATION_NS:
        raise click.BadParameter("is longer than the maximum of 24h", param_hint="--timeout")
    return seconds
