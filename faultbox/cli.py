"""The ``faultbox`` command line: test, generate, diff, report, merge, lab, --version.

Exit codes: 0 everything passed, 1 usage or spec error, 2 test failures (or traces differ),
130 interrupted.

Each command lives in its own module under ``faultbox/commands/``, imported only when that
command runs (:class:`LazyGroup`): ``faultbox --help`` and ``faultbox diff`` never load the
runtime, the supervisor or ctypes.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import traceback

import click

from faultbox import __version__
from faultbox.runtime import interrupts

# name → (module under faultbox/commands/ whose ``command`` it is, the line ``--help`` shows)
COMMANDS: dict[str, tuple[str, str]] = {
    "diff": ("diff", "Compare two normalized traces (written with --normalize)."),
    "generate": ("generate", "Propose failure scenarios for SPEC's scenario() probes."),
    "lab": ("lab", "The failure lab: reproduce, detect, guard against and prove failures."),
    "merge": ("merge", "Combine the result files (--output JSON) of one spec's shards."),
    "report": ("report", "Render result files (--output JSON) as one HTML report."),
    "test": ("test", "Run the tests of SPEC (a .star file) on fresh services."),
}


class LazyGroup(click.Group):
    """A click group whose commands are imported when they run, not when faultbox starts."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"faultbox.commands.{COMMANDS[cmd_name][0]}")
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The table's lines, so that the group's --help imports no command.
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", message="faultbox %(version)s")
def cli() -> None:
    """faultbox: find the ways a distributed system breaks.

    Specs are Starlark files that declare services (real processes), drive them, inject
    syscall faults with seccomp, and assert on what happened inside.

    Exit codes: 0 all passed, 1 usage or spec error, 2 test failures (or traces differ),
    130 interrupted.
    """


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
    fd, path = tempfile.mkstemp(prefix="faultbox-crash-", suffix=".txt")
    with open(fd, "w") as f:
        traceback.print_exc(file=f)
    return path


if __name__ == "__main__":
    main()
