"""``faultbox diff A B``: compare two normalized traces, narrowed to what matters."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from faultbox.trace.diff import NarrowError, Narrowing, diff_traces

from ._common import die


@click.command("diff")
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
def command(a: str, b: str, color: bool | None, services: tuple[str, ...],
             types: tuple[str, ...], syscalls: tuple[str, ...], paths: tuple[str, ...],
             exclude: tuple[str, ...], ignore_order: bool) -> None:  # fmt: skip
    """Compare two normalized traces (written with --normalize). Exit 0 if identical, 2 if not.

    Filters narrow both traces before they are compared; each kind must hold (AND), repeated
    values of one kind are alternatives (OR). A filter that matches nothing is an error (1).
    """
    try:
        narrowing = Narrowing(services, types, syscalls, paths, exclude, ignore_order)
    except NarrowError as exc:
        die(str(exc))
    texts = []
    for path in (a, b):
        try:
            texts.append(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            die(f"cannot read {path}: {exc}")
    use_color = sys.stdout.isatty() if color is None else color
    try:
        identical, text = diff_traces(texts[0], texts[1], color=use_color, narrowing=narrowing)
    except NarrowError as exc:
        die(str(exc))
    click.echo(text)
    sys.exit(0 if identical else 2)
