"""The ``faultbox`` command line: test, generate, diff, --version.

Exit codes: 0 everything passed, 1 usage or spec error, 2 test failures (or traces differ).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from faultbox import __version__, scale_cli
from faultbox.generate.command import make_generate_command
from faultbox.generate.profile import ScenarioProfile
from faultbox.lab_cli import lab
from faultbox.report import html as html_report
from faultbox.report.merge import MergeError, merge_files
from faultbox.runtime import interrupts
from faultbox.starlark_env.loader import LoadedSpec
from faultbox.trace.results import SuiteResult


def _die(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _parse_timeout(text: str) -> float:
    from faultbox.starlark_env.duration_args import MAX_DURATION_NS, duration_ns

    try:
        seconds = float(text) if text.replace(".", "", 1).isdigit() else duration_ns(text) / 1e9
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from None
    if seconds <= 0:
        raise click.BadParameter("must be more than 0", param_hint="--timeout")
    if seconds * 1e9 > MAX_DURATION_NS:
        raise click.BadParameter("is longer than the maximum of 24h", param_hint="--timeout")
    return seconds


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", message="faultbox %(version)s")
def cli() -> None:
    """faultbox: find the ways a distributed system breaks.

    Specs are Starlark files that declare services (real processes), drive them, inject
    syscall faults with seccomp, and assert on what happened inside.

    Exit codes: 0 all passed, 1 usage or spec error, 2 test failures (or traces differ),
    130 interrupted.
    """


@cli.command("test")
@scale_cli.scale_options  # -j/--jobs, --serial, --shard, --durations-file
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
def test_cmd(spec: str, test_name: str | None, seed: int | None, runs: int, timeout: str,
             verbose: bool, show: str, output: str | None, fmt: str, junit: str | None,
             shiviz: str | None, normalize: str | None, html: str | None) -> None:  # fmt: skip
    """Run the tests of SPEC (a .star file) on fresh services."""
    from faultbox.report.terminal import Reporter
    from faultbox.runtime import discovery
    from faultbox.runtime.runner import Interrupted, RunOptions
    from faultbox.starlark_env.errors import SpecError
    from faultbox.starlark_env.loader import SpecLoadError, load_spec

    if test_name is not None and not test_name.strip():
        # An empty name would select every test: surely not what was meant.
        raise click.BadParameter("needs a test name, got an empty string", param_hint="--test")
    timeout_s = _parse_timeout(timeout)
    try:
        loaded = load_spec(spec)
    except SpecLoadError as exc:
        _die(str(exc))
    try:
        tests = discovery.discover(loaded)
    except SpecError as exc:
        _die(f"{spec}: {exc.message}")
    if not tests:
        _die(f"{spec}: no tests found (define test_* functions, scenario(), fault_scenario() "
             "or fault_matrix())")  # fmt: skip
    if test_name:
        selected = discovery.select(tests, test_name)
        if not selected:
            names = ", ".join(t.name for t in tests)
            guess = discovery.closest(tests, test_name)
            hint = f"\n  did you mean --test {guess}?" if guess else ""
            _die(f"no test matches {test_name!r}; available: {names}{hint}")
        tests = selected
    tests = scale_cli.shard_tests(tests)  # --shard K/N or the CI environment
    _check_output_paths(output, junit, shiviz, normalize, html)
    reporter = Reporter(verbose=verbose, show=show)
    reporter.matrix_cells = sum(1 for t in tests if t.matrix is not None)
    opts = RunOptions(
        seed=seed, runs=runs, timeout_s=timeout_s, verbose=verbose,
        echo_to=sys.stderr if fmt == "json" else None,  # stdout carries only the JSON
    )  # fmt: skip
    try:
        suite = scale_cli.run_tests(loaded, tests, opts, reporter)  # -j N: isolated workers
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


def _check_output_paths(*paths: str | None) -> None:
    """Refuse unwritable output files before running anything, not after the whole suite."""
    import os

    for path in paths:
        if not path:
            continue
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            _die(f"cannot write {path}: directory {parent} does not exist")
        if not os.access(parent, os.W_OK) or (Path(path).exists() and not os.access(path, os.W_OK)):
            _die(f"cannot write {path}: permission denied")


def _write_outputs(suite, output, fmt, junit, shiviz, normalize) -> None:  # type: ignore[no-untyped-def]
    from faultbox.report import junitxml
    from faultbox.trace import export_json
    from faultbox.trace import normalize as norm
    from faultbox.trace import shiviz as sv

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
        _die(f"cannot write output: {exc}")
    if fmt == "json":
        export_json.write_json(suite, sys.stdout)


def _write_html(suite: SuiteResult, path: str) -> None:
    try:
        html_report.write_suite_html(suite, path)
    except OSError as exc:
        _die(f"cannot write output: {exc}")


@cli.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
    help="The HTML file to write.",
)  # fmt: skip
def report_cmd(results: tuple[str, ...], output: str) -> None:
    """Render result files (--output JSON) as one self-contained HTML report.

    Several files (the shards of one run) are merged first; files of different specs or
    faultbox versions, or with a test in two files, are refused (exit 1).
    """
    _check_output_paths(output)
    try:
        doc = merge_files(list(results))
    except MergeError as exc:
        _die(str(exc))
    try:
        html_report.write_html(doc, output, sources=results)
    except OSError as exc:
        _die(f"cannot write {output}: {exc}")
    n = len(doc["tests"])
    click.echo(f"wrote {output}: {n} test{'s' if n != 1 else ''} from {len(results)} "
               f"result file{'s' if len(results) != 1 else ''}", err=True)  # fmt: skip


@cli.command("diff")
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
@click.option(
    "--color/--no-color", default=None, help="Color the output (default: when a terminal)."
)
@click.option(
    "--service", "services", multiple=True, metavar="NAME",
    help="Compare only this service's lines (glob; repeatable).",
)  # fmt: skip
@click.option(
    "--type", "types", multiple=True, metavar="[SERVICE:]TYPE",
    help="Compare only lines of this type: syscall, wal, topic, poll, stdout, stderr, "
    "source_error, step_send, step_recv, service_started, service_ready, service_exited, "
    "fault_applied, fault_removed, or the groups lifecycle, step, fault. SERVICE:TYPE: "
    "only that service's (e.g. api:syscall). Repeatable.",
)  # fmt: skip
@click.option(
    "--syscall", "syscalls", multiple=True, metavar="NAME",
    help="Compare only these syscalls (glob; repeatable). Other types only if --type names them.",
)  # fmt: skip
@click.option(
    "--path", "paths", multiple=True, metavar="GLOB",
    help="Compare only syscalls on matching paths (query glob, * crosses /; repeatable).",
)  # fmt: skip
@click.option(
    "--exclude", "exclude", multiple=True, metavar="GLOB",
    help="Leave out lines whose text matches (whole-line glob, e.g. 'openat allow /usr/*').",
)  # fmt: skip
@click.option(
    "--ignore-order", is_flag=True,
    help="Compare each section's lines sorted: what happened, not in which order "
    "(for servers whose processes run concurrently).",
)  # fmt: skip
def diff_cmd(a: str, b: str, color: bool | None, services: tuple[str, ...],
             types: tuple[str, ...], syscalls: tuple[str, ...], paths: tuple[str, ...],
             exclude: tuple[str, ...], ignore_order: bool) -> None:  # fmt: skip
    """Compare two normalized traces (written with --normalize). Exit 0 if identical, 2 if not.

    Filters narrow both traces before they are compared; each kind must hold (AND), repeated
    values of one kind are alternatives (OR). A filter that matches nothing is an error (1).
    """
    from faultbox.trace.diff import NarrowError, Narrowing, diff_traces

    try:
        narrowing = Narrowing(services, types, syscalls, paths, exclude, ignore_order)
    except NarrowError as exc:
        _die(str(exc))
    texts = []
    for path in (a, b):
        try:
            texts.append(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            _die(f"cannot read {path}: {exc}")
    use_color = sys.stdout.isatty() if color is None else color
    try:
        identical, text = diff_traces(texts[0], texts[1], color=use_color, narrowing=narrowing)
    except NarrowError as exc:
        _die(str(exc))
    click.echo(text)
    sys.exit(0 if identical else 2)


def _profile_scenarios(spec: LoadedSpec, scenarios: Sequence[str], syscalls: frozenset[str]) -> list[ScenarioProfile]:  # fmt: skip
    """``generate``'s profile runner: the scenarios once on real services (runtime/profile_runner.py)."""
    # local import: the runtime loads only when generate really profiles
    from faultbox.runtime.profile_runner import profile_scenarios

    return profile_scenarios(spec, scenarios, syscalls)


def _register_generate() -> None:
    # generate stays below the runtime: it gets the profile runner from here
    cli.add_command(make_generate_command(_profile_scenarios))


_register_generate()
cli.add_command(lab)  # faultbox lab run/new/index: the failure lab (faultbox/lab_cli.py)
cli.add_command(scale_cli.merge_cmd)  # faultbox merge: the shards' result files as one


def main() -> None:
    """Console entry point: click with our exit codes (usage errors are 1, not click's 2).

    SIGINT and SIGTERM end in exit 130 whenever they arrive (``runtime/interrupts.py``):
    during start-up, a test, its teardown (which is completed first), or after the summary.
    """
    interrupts.install()  # normally done already by ``import faultbox``
    try:
        interrupts.arm()  # raises now if a signal came while modules were importing
        code = _run_cli()
        interrupted = interrupts.finish()  # from here on both signals are ignored
    except KeyboardInterrupt:  # raised at most once, so this block is not cut short
        click.echo("interrupted", err=True)
        code = 130
        interrupted = interrupts.finish()
    if interrupted:
        if code != 130:
            click.echo("interrupted", err=True)
        interrupts.exit_interrupted()
    sys.exit(code)


def _run_cli() -> int:
    """Run the command; its exit code (a KeyboardInterrupt propagates)."""
    try:
        cli.main(standalone_mode=False)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        click.echo(exc.code, err=True)
        return 1
    except click.exceptions.UsageError as exc:
        exc.show()
        return 1
    except click.exceptions.ClickException as exc:
        exc.show()
        return 1
    except click.exceptions.Abort:  # click's form of a KeyboardInterrupt
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # a bug in faultbox: one clear line, the traceback in a file
        click.echo(f"faultbox: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo(f"  the full traceback is in {_save_traceback()}; please report it", err=True)
        return 1
    return 0


def _save_traceback() -> str:
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix="faultbox-crash-", suffix=".txt")
    with open(fd, "w") as f:
        traceback.print_exc(file=f)
    return path


if __name__ == "__main__":
    main()
