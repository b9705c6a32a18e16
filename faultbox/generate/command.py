"""``faultbox generate SPEC``: write ``<scenario>.faults.star`` files (or one ``--output`` file).

The CLI builds the command with :func:`make_generate_command`, handing in the profile runner
(``runtime/profile_runner.py``): this package never imports the runtime.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import NoReturn

import click

from faultbox.starlark_env.loader import LoadedSpec, SpecLoadError, load_spec

from . import codegen
from .call_graph import Topology, analyze, load_path
from .mutations import Mutation, build_mutations, dry_run_counts, select
from .profile import ProfileRunner, Skipped, apply_profile, profiled_syscalls


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


def _print_dry_run(mutations: list[Mutation], skipped: list[Skipped]) -> None:
    for sc, target, n in dry_run_counts(mutations):
        click.echo(f"  {sc} × {target}: {n} mutations", err=True)
    click.echo(f"  Total: {len(mutations)} mutations", err=True)
    if skipped:
        click.echo(
            f"  Skipped: {len(skipped)} mutations that never fired in the profile run", err=True
        )


def _static(mutations: list[Mutation], why: str) -> list[Mutation]:
    return [dataclasses.replace(m, unchecked=why) for m in mutations]


def _profile(
    loaded: LoadedSpec, chosen: list[Mutation], runner: ProfileRunner
) -> tuple[list[Mutation], list[Skipped]]:
    """Run each scenario once under trace; keep the mutations whose syscalls were seen."""
    scenarios = list(dict.fromkeys(m.scenario for m in chosen))
    click.echo(
        f"profiling {', '.join(scenarios)}: running each scenario once on real services "
        "(--no-profile skips this)",
        err=True,
    )
    profiles = {p.scenario: p for p in runner(loaded, scenarios, profiled_syscalls())}
    for p in profiles.values():
        if p.error:
            click.echo(
                f"warning: the profile run of {p.scenario} could not run: {p.error}\n"
                f"  its mutations are generated unchecked (as with --no-profile): "
                "some may never fire",
                err=True,
            )
        elif p.failed:
            click.echo(
                f"warning: {p.scenario} failed in the profile run ({p.failed}); its mutations "
                "are judged by what it did until then",
                err=True,
            )
    kept, skipped = apply_profile(chosen, profiles)
    for sc in scenarios:
        if profiles.get(sc) is None or profiles[sc].error:
            continue
        n_kept = sum(1 for m in kept if m.scenario == sc)
        mine = [s for s in skipped if s.mutation.scenario == sc]
        click.echo(f"  {sc}: {n_kept} mutations fire, {len(mine)} never did", err=True)
        for s in mine:
            click.echo(f"    skipped {s.mutation.name}: {s.reason}", err=True)
    return kept, skipped


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror or exc}")


def _write_files(
    topo: Topology, spec: str, chosen: list[Mutation], skipped: list[Skipped], output: str | None
) -> None:
    if output is not None:
        target = Path(output)
        _check_loadable(topo, target.parent, str(target))
        _write(target, codegen.render(topo, chosen, target, spec, skipped=skipped))
        click.echo(f"wrote {output} ({codegen.count(chosen)} mutations)", err=True)
        return
    files = [(sc.name, Path(f"{sc.name}.faults.star")) for sc in topo.scenarios]
    files = [(name, path) for name, path in files if any(m.scenario == name for m in chosen)]
    _check_loadable(topo, Path.cwd(), str(files[0][1]))
    for name, path in files:
        mine = [m for m in chosen if m.scenario == name]
        dropped = [s for s in skipped if s.mutation.scenario == name]
        _write(path, codegen.render(topo, mine, path, spec, skipped=dropped))
        click.echo(f"wrote {path}", err=True)
    for sc in dict.fromkeys(s.mutation.scenario for s in skipped):
        if all(m.scenario != sc for m in chosen):
            click.echo(f"note: no mutation fires in {sc}; no file written for it", err=True)


def _generate(
    spec: str,
    *,
    dry_run: bool,
    output: str | None,
    scenario: str | None,
    service: str | None,
    category: str,
    runner: ProfileRunner | None,
) -> None:
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
    skipped: list[Skipped] = []
    if runner is None:
        chosen = _static(chosen, "--no-profile")
    else:
        chosen, skipped = _profile(loaded, chosen, runner)
        if not chosen:
            _fail(
                "nothing to generate: no proposed mutation fired in the profile run "
                "(the reasons are listed above)",
                "--no-profile generates them unchecked",
            )
    if dry_run:
        _print_dry_run(chosen, skipped)
        return
    _write_files(topo, spec, chosen, skipped, output)


def make_generate_command(profile_runner: ProfileRunner | None) -> click.Command:
    """The ``generate`` command; ``profile_runner`` runs scenarios on real services (the CLI
    passes ``runtime.profile_runner.profile_scenarios``; None: every run is static)."""

    @click.command("generate")
    @click.argument("spec", type=click.Path(dir_okay=False))
    @click.option(
        "--dry-run", is_flag=True, help="Print mutation counts per target; write nothing."
    )
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
    @click.option(
        "--no-profile",
        is_flag=True,
        help="Do not run the scenarios: propose every mutation, including ones that never fire.",
    )
    def generate_cmd(
        spec: str,
        dry_run: bool,
        output: str | None,
        scenario: str | None,
        service: str | None,
        category: str,
        no_profile: bool,
    ) -> None:
        """Propose failure scenarios for SPEC's scenario() probes as .faults.star files.

        For every edge caller → callee (depends_on or env wiring): connection refused, slow
        connect and connection reset on the caller, a partition, and write EIO, write ENOSPC
        and fsync EIO on the callee. Each scenario is first run once on real services with
        those syscalls traced; only mutations whose syscalls it really made are kept (each
        says what it covers). The files load() SPEC and run with `faultbox test`.
        """
        _generate(
            spec, dry_run=dry_run, output=output, scenario=scenario, service=service,
            category=category, runner=None if no_profile else profile_runner,
        )  # fmt: skip

    return generate_cmd
