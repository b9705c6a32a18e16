"""The work behind ``faultbox lab`` (``commands/lab.py`` holds its command line)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any, NoReturn

import click

from faultbox.report import junitxml
from faultbox.runtime import discovery
from faultbox.runtime.lab_bundles import (
    INDEX_FILE,
    MAIN_SPEC,
    LabError,
    check_declared,
    find_bundles,
    render_index,
    save_results,
    scaffold,
)
from faultbox.runtime.runner import Interrupted, RunOptions, run_test
from faultbox.starlark_env.duration_args import duration_ns
from faultbox.starlark_env.errors import SpecError
from faultbox.starlark_env.lab_builtins import STAGES, FailureModeDef, lab_declarations
from faultbox.starlark_env.loader import LoadedSpec, SpecLoadError, load_spec
from faultbox.trace.results import SuiteResult, TestResult


def _die(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _load(lab_dir: Path) -> tuple[LoadedSpec, list[FailureModeDef], list[Any]]:
    try:
        bundles = find_bundles(lab_dir)
        spec = load_spec(lab_dir / MAIN_SPEC)
        declared = lab_declarations(spec.registry).failure_modes
        check_declared(bundles, declared, lab_dir)
    except (LabError, SpecLoadError) as exc:
        _die(str(exc))
    return spec, declared, bundles


def run(directory: str, fm_ids: tuple[str, ...], stages: tuple[str, ...], runs: int, seed: int,
        timeout: str, junit: str | None, verbose: bool) -> None:  # fmt: skip
    """``faultbox lab run``: every selected stage, the table, the results file; exits."""
    lab_dir = Path(directory)
    try:
        timeout_s = duration_ns(timeout) / 1e9
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from None
    spec, declared, _bundles = _load(lab_dir)
    known = {fm.id: fm for fm in declared}
    for fm_id in fm_ids:
        if fm_id not in known:
            _die(f"no failure mode {fm_id!r} in {lab_dir}; known: {', '.join(sorted(known))}")
    wanted = [known[i] for i in sorted(fm_ids or known)]
    try:
        cases = {c.name: c for c in discovery.discover(spec) if c.kind == "lab_stage"}
    except SpecError as exc:
        _die(f"{lab_dir / MAIN_SPEC}: {exc.message}")
    opts = RunOptions(seed=seed, timeout_s=timeout_s, verbose=verbose, echo_to=sys.stderr)
    table: dict[str, dict[str, list[TestResult]]] = {}
    last: list[TestResult] = []
    try:
        for fm in wanted:
            for stage in fm.stages:
                if stages and stage not in stages:
                    continue
                case = cases[f"test_{fm.id}_{stage}"]
                results = table.setdefault(fm.id, {}).setdefault(stage, [])
                for run_index in range(runs):
                    result = run_test(spec, case, seed, opts)
                    result.run_index = run_index
                    results.append(result)
                    if run_index == 0:
                        _print_stage(fm, stage, result)
                last.append(results[-1])
    except (Interrupted, KeyboardInterrupt):
        click.echo("\ninterrupted: services stopped", err=True)
        sys.exit(130)
    click.echo(render_table(wanted, table, runs))
    save_results(
        lab_dir, {fm: {st: _record(rs) for st, rs in by.items()} for fm, by in table.items()}
    )
    if junit:
        suite = SuiteResult(star_file=str(lab_dir / MAIN_SPEC), results=last,
                            duration_ms=sum(r.duration_ms for r in last))  # fmt: skip
        try:
            junitxml.write_junit(suite, junit)
        except OSError as exc:
            _die(f"cannot write {junit}: {exc}")
    failed = any(not _stable_pass(rs) for by in table.values() for rs in by.values())
    sys.exit(2 if failed else 0)


def _verdict(r: TestResult) -> str:
    return r.labels.get("verdict") or ("error" if not r.passed else "?")


def _stable_pass(results: list[TestResult]) -> bool:
    return all(r.passed for r in results) and len({_verdict(r) for r in results}) == 1


def _record(results: list[TestResult]) -> dict[str, Any]:
    verdicts = Counter(_verdict(r) for r in results)
    first = results[0]
    return {
        "verdict": _verdict(first),
        "passed": _stable_pass(results),
        "violated": first.labels.get("violated", ""),
        "runs": len(results),
        "identical": verdicts[_verdict(first)],
        "seed": first.seed,
    }


def _print_stage(fm: FailureModeDef, stage: str, r: TestResult) -> None:
    status = "PASS" if r.passed else "FAIL"
    verdict = _verdict(r)
    head = f"--- {status}: {fm.id} {stage}: {verdict}"
    violated = r.labels.get("violated")
    if verdict == "reproduced" and violated:
        head += f" ({violated} violated)"
    elif verdict == "prevented":
        head += f" by its guardrail ({r.labels.get('guardrail', '')})"
    click.echo(f"\n{head} ({r.duration_ms}ms, seed={r.seed}) ---")
    if r.labels.get("evidence") and (verdict == "reproduced" or not r.passed):
        click.echo("  evidence:")
        for line in r.labels["evidence"].splitlines():
            click.echo(f"    {line}")
    if not r.passed and r.reason and "evidence" not in r.labels:
        click.echo(f"  reason: {r.reason}")
    elif not r.passed and r.reason:
        click.echo(f"  reason: {r.reason.splitlines()[0]}")
    if not r.passed and r.replay_command:
        click.echo(f"  replay: {r.replay_command}")


def render_table(
    fms: list[FailureModeDef], table: dict[str, dict[str, list[TestResult]]], runs: int
) -> str:
    """FM × stage, each cell the verdict (and, with --runs, how many runs agreed)."""
    rows = [["failure mode", *STAGES]]
    for fm in fms:
        row = [f"{fm.id} {fm.title}"]
        for stage in STAGES:
            results = table.get(fm.id, {}).get(stage)
            if not results:
                row.append("n/a" if stage not in fm.stages else "-")
                continue
            cell = _verdict(results[0])
            if runs > 1:
                cell += f" {Counter(_verdict(r) for r in results)[_verdict(results[0])]}/{runs}"
            row.append(cell if _stable_pass(results) else f"FAIL {cell}")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n" + "\n".join(lines)


def new(name: str, directory: str) -> None:
    """``faultbox lab new``: scaffold a bundle and load it in lab.star."""
    try:
        bundle = scaffold(Path(directory), name)
    except (LabError, OSError) as exc:
        _die(str(exc))
    click.echo(
        f"created {bundle.path}/spec.md and scenario.star ({bundle.id}); loaded in {MAIN_SPEC}"
    )


def index(directory: str, output: str | None) -> None:
    """``faultbox lab index``: write the markdown index."""
    lab_dir = Path(directory)
    _spec, declared, bundles = _load(lab_dir)
    target = Path(output) if output else lab_dir / INDEX_FILE
    try:
        target.write_text(render_index(lab_dir, declared, bundles), encoding="utf-8")
    except OSError as exc:
        _die(f"cannot write {target}: {exc}")
    click.echo(f"wrote {target} ({len(declared)} failure modes)")
