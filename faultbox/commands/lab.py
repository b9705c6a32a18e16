"""``faultbox lab``: run failure-mode bundles stage by stage, scaffold one, write the index.

    faultbox lab run [DIR] [--fm FM_001] [--stage reproduce] [--runs N]
    faultbox lab new NAME [--dir DIR]
    faultbox lab index [DIR] [--output FILE]

Exit codes as for ``faultbox test``: 0 every stage passed, 1 usage or spec error, 2 a stage
failed (an invalid baseline, a stale reproduction, a guardrail that did not prevent, a
recovery that did not restore the invariants), 130 interrupted.
"""

from __future__ import annotations

import click

from faultbox.runtime.lab_bundles import INDEX_FILE
from faultbox.starlark_env.lab_builtins import STAGES

from . import lab_actions


@click.group("lab")
def command() -> None:
    """The failure lab: reproduce a failure, detect it, guard against it, prove it."""


@command.command("run")
@click.argument("directory", default="lab", type=click.Path(file_okay=False))
@click.option(
    "--fm", "fm_ids", multiple=True, metavar="FM_001", help="Only this failure mode (repeatable)."
)
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice(STAGES),
    help="Only this stage (repeatable).",
)
@click.option(
    "--runs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run every stage N times; the table says whether the verdicts were identical.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every run.")
@click.option("--timeout", default="60s", show_default=True, help="Per-stage timeout.")
@click.option("--junit", type=click.Path(dir_okay=False), help="Write a JUnit XML report to FILE.")
@click.option("-v", "--verbose", is_flag=True, help="Echo the services' output.")
def run_cmd(directory: str, fm_ids: tuple[str, ...], stages: tuple[str, ...], runs: int, seed: int,
            timeout: str, junit: str | None, verbose: bool) -> None:  # fmt: skip
    """Run the stages of the failure modes under DIR/failure_modes/ (default DIR: lab)."""
    lab_actions.run(directory, fm_ids, stages, runs, seed, timeout, junit, verbose)


@command.command("new")
@click.argument("name")
@click.option(
    "--dir", "directory", default="lab", show_default=True, type=click.Path(file_okay=False)
)
def new_cmd(name: str, directory: str) -> None:
    """Scaffold a failure-mode bundle (spec.md, scenario.star) and load it in lab.star."""
    lab_actions.new(name, directory)


@command.command("index")
@click.argument("directory", default="lab", type=click.Path(file_okay=False))
@click.option("--output", type=click.Path(dir_okay=False), help=f"Default: DIR/{INDEX_FILE}.")
def index_cmd(directory: str, output: str | None) -> None:
    """Write the failure-mode index (markdown) with the status of the last results."""
    lab_actions.index(directory, output)
