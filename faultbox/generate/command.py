"""``faultbox generate SPEC``: write ``<scenario>.faults.star`` files (or one ``--output`` file)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click

from . import codegen
from .analysis import Topology, analyze, load_path
from .mutations import Mutation, build_mutations, dry_run_counts, select


def _fail(message: str, *hints: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    for hint in hints:
        click.echo(f"  hint: {hint}", err=True)
    sys.exit(1)


def _check_filters(topo: Topology, scenario: str | None, service: str | None) -> None:
    names = [sc.name for sc in topo.scenarios]
    if scenario is not None and scenario not in names:
        _fail(f"no scenario named {scenario!r}; scenarios: {', '.join(names)}")
    services = [s.name for s in topo.services]
    if service is not None and service not in services:
        _fail(f"no service named {service!r}; services: {', '.join(services)}")


def _check_loadable(topo: Topology, output_dir: Path, first_file: str) -> None:
    path = load_path(topo.source, output_dir)
    if path.startswith("../"):
        _fail(
            f'{first_file} would load("{path}"), but load() only reaches files inside the '
            "directory of the spec that loads them",
            "run faultbox generate in the spec's directory (or one above it), or pass "
            "--output <spec's directory>/NAME.faults.star",
        )


def _drop_unbound(topo: Topology, mutations: list[Mutation]) -> list[Mutation]:
    missing = codegen.unbound(topo, mutations)
    for item in missing:
        click.echo(
            f"warning: {item.kind} {item.name!r} is not bound to a global variable of the spec, "
            "so generated code cannot load() it; its mutations are skipped",
            err=True,
        )
    bad_services = {u.name for u in missing if u.kind == "service"}
    bad_scenarios = {u.name for u in missing if u.kind == "scenario"}
    return [
        m
        for m in mutations
        if m.scenario not in bad_scenarios
        and m.edge.caller.name not in bad_services
        and m.edge.callee.name not in bad_services
    ]


def _print_dry_run(mutations: list[Mutation]) -> None:
    for sc, target, n in dry_run_counts(mutations):
        click.echo(f"  {sc} × {target}: {n} mutations", err=True)
    click.echo(f"  Total: {len(mutations)} mutations", err=True)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror or exc}")


@click.command("generate")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Print mutation counts per target; write nothing.")
@click.option(
    "--output",
    "output",
    type=click.Path(dir_okay=False),
    help="Write every scenario into this one file (default: <scenario>.faults.star each, here).",
)
@click.option("--scenario", metavar="NAME", help="Only this scenario.")
@click.option(
    "--service", metavar="NAME", help="Only faults on this service (or partitions of it)."
)
@click.option(
    "--category",
    type=click.Choice(["network", "disk", "all"]),
    default="all",
    show_default=True,
    help="Only this kind of fault (partitions are network).",
)
def generate_cmd(
    spec: str,
    dry_run: bool,
    output: str | None,
    scenario: str | None,
    service: str | None,
    category: str,
) -> None:
    """Propose failure scenarios for SPEC's scenario() probes as .faults.star files.

    For every edge caller → callee (depends_on or env wiring): connection refused, slow
    connect and connection reset on the caller, a partition, and write EIO, write ENOSPC and
    fsync EIO on the callee. Each scenario gets fault_assumption()s, a fault_matrix() and
    partition tests; the files load() SPEC and run with `faultbox test`.
    """
    from faultbox.starlark_env.loader import SpecLoadError, load_spec

    try:
        loaded = load_spec(spec)
    except SpecLoadError as exc:
        _fail(str(exc))
    topo = analyze(loaded)
    if not topo.scenarios:
        _fail(
            "no scenario() functions found — nothing to generate",
            "register happy paths with scenario(fn), e.g. scenario(order_flow)",
        )
    _check_filters(topo, scenario, service)
    reserved = {sym.name for sym in topo.service_symbols.values()}
    reserved |= {sc.symbol.name for sc in topo.scenarios if sc.symbol is not None}
    everything = build_mutations(topo, reserved)
    chosen = _drop_unbound(topo, select(everything, scenario=scenario, service=service,
                                        category=category))  # fmt: skip
    if not chosen:
        why = (
            "no edges between services: the generator needs depends_on= (or an env value "
            "holding another service's address)"
            if not topo.edges
            else "the filters (--scenario/--service/--category) leave no mutation"
        )
        _fail(f"nothing to generate: {why}")
    if dry_run:
        _print_dry_run(chosen)
        return

    if output is not None:
        target = Path(output)
        _check_loadable(topo, target.parent, str(target))
        _write(target, codegen.render(topo, chosen, target, spec))
        click.echo(f"wrote {output} ({codegen.count(chosen)} mutations)", err=True)
        return
    files = [(sc.name, Path(f"{sc.name}.faults.star")) for sc in topo.scenarios]
    files = [(name, path) for name, path in files if any(m.scenario == name for m in chosen)]
    _check_loadable(topo, Path.cwd(), str(files[0][1]))
    for name, path in files:
        mine = [m for m in chosen if m.scenario == name]
        _write(path, codegen.render(topo, mine, path, spec))
        click.echo(f"wrote {path}", err=True)
