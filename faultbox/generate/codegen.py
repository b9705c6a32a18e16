"""Render mutations as a ``.faults.star`` file (reference §3.6, sections in the tutorial's order).

Layout: header comment, one ``load()`` per source file, ``# --- Fault Assumptions ---`` with
``# network faults`` then ``# disk faults``, one ``fault_matrix(...)`` over every scenario of the
file, then ``# --- Network Partitions ---`` with one test per partition. Sections without
content are left out (``fault_matrix`` needs at least one fault).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from faultbox.intercept import expand_syscalls

from .call_graph import Symbol, Topology, load_path
from .mutations import CATEGORIES, Mutation
from .profile import Skipped

HEADER = """\
# ============================================================
# Auto-generated failure scenarios by: faultbox generate
# Source: {source}
# Generated: {date}
#
# Uses fault_assumption() + fault_matrix() for composable testing.
# Add overrides= to fault_matrix() for per-cell expectations.
# ============================================================
"""

#: Longest ``faults = [...]`` line kept on one line; longer lists get one fault per line.
MAX_LINE = 100


@dataclass
class Unbound:
    """Something generated code would need but cannot ``load()``: not bound to a public global."""

    kind: str  # "service" | "scenario"
    name: str


def unbound(topo: Topology, mutations: list[Mutation]) -> list[Unbound]:
    """Services and scenarios the mutations need that no global variable holds."""
    out: list[Unbound] = []
    scenario_syms = {sc.name: sc.symbol for sc in topo.scenarios}
    for m in mutations:
        if scenario_syms.get(m.scenario) is None and Unbound("scenario", m.scenario) not in out:
            out.append(Unbound("scenario", m.scenario))
        for svc in (m.edge.caller, m.edge.callee):
            if svc.name not in topo.service_symbols and Unbound("service", svc.name) not in out:
                out.append(Unbound("service", svc.name))
    return out


def _symbols(topo: Topology, mutations: list[Mutation]) -> list[Symbol]:
    scenario_syms = {sc.name: sc.symbol for sc in topo.scenarios}
    syms: list[Symbol] = []
    for m in mutations:
        needed = [scenario_syms.get(m.scenario), topo.service_symbols.get(m.target.name)]
        if m.is_partition:
            needed += [topo.service_symbols.get(m.edge.callee.name)]
        for sym in needed:
            if sym is not None and sym not in syms:
                syms.append(sym)
    return syms


def _load_lines(topo: Topology, mutations: list[Mutation], output_dir: Path) -> list[str]:
    by_file: dict[Path, list[str]] = {topo.source: []}
    for sym in _symbols(topo, mutations):
        by_file.setdefault(sym.file, [])
        if sym.name not in by_file[sym.file]:
            by_file[sym.file].append(sym.name)
    lines = []
    for file, names in by_file.items():
        if names:
            quoted = ", ".join(f'"{n}"' for n in sorted(names))
            lines.append(f'load("{load_path(file, output_dir)}", {quoted})')
    return lines


def _var(topo: Topology, service_name: str) -> str:
    return topo.service_symbols[service_name].name


def _scenario_var(topo: Topology, scenario: str) -> str:
    for sc in topo.scenarios:
        if sc.name == scenario and sc.symbol is not None:
            return sc.symbol.name
    raise KeyError(scenario)


def covers(
    keys: tuple[str, ...], group: list[Mutation], what: str = "", per_scenario: bool = False
) -> str:
    """``# covers: <syscalls> (<what the profile run saw>)`` for one assumption or partition;
    ``per_scenario`` (a file of several scenarios): one ``#   <scenario>: <seen>`` line each."""
    syscalls = ", ".join(s for key in keys for s in expand_syscalls(key)) + what
    if any(m.unchecked for m in group):
        return f"# covers: {syscalls} (not profiled)"
    seen = list(dict.fromkeys(m.seen for m in group if m.seen))
    if per_scenario and seen:
        return "\n".join([f"# covers: {syscalls}", *(f"#   {m.scenario}: {m.seen}" for m in group)])
    return f"# covers: {syscalls}" + (f" ({'; '.join(seen)})" if seen else "")


def _assumption(topo: Topology, group: list[Mutation], per_scenario: bool) -> list[str]:
    """One ``fault_assumption`` for every scenario's mutation of that name (same fault)."""
    m = group[0]
    k = m.kind
    keys = tuple(dict.fromkeys(key for g in group for key in g.keys))
    value = f'deny("{k.arg}")' if k.action == "deny" else f'delay("{k.arg}")'
    return [
        covers(keys, group, per_scenario=per_scenario),
        f'{m.name} = fault_assumption("{m.name}",',
        f"    target = {_var(topo, m.target.name)},",
        *(f"    {key} = {value}," for key in keys),
        ")",
        "",
    ]


def _shared_caller_notes(topo: Topology, faults: list[Mutation]) -> dict[str, str]:
    """First assumption name per caller with several callees → a note for the reader."""
    notes: dict[str, str] = {}
    done: set[str] = set()
    for m in faults:
        caller = m.edge.caller
        callees = [e.callee.name for e in topo.edges if e.caller is caller]
        if m.category != "network" or len(callees) < 2 or caller.name in done:
            continue
        done.add(caller.name)
        notes[m.name] = (
            f"# note: connect/receive faults on {caller.name} hit all of its connections "
            f"({', '.join(callees)}), not only the one in the name"
        )
    return notes


def _faults_list(names: list[str]) -> list[str]:
    one_line = f"    faults = [{', '.join(names)}],"
    if len(one_line) <= MAX_LINE:
        return [one_line]
    return ["    faults = [", *(f"        {n}," for n in names), "    ],"]


def _excluded(
    scenarios: list[str], faults: list[Mutation], mutations: list[Mutation], skipped: list[Skipped]
) -> list[tuple[str, str, str]]:
    """Matrix cells whose fault cannot fire in that scenario: (scenario, fault name, reason)."""
    present = {(m.scenario, m.name) for m in mutations}
    dropped = {(s.mutation.scenario, s.mutation.name) for s in skipped}
    return [
        (sc, f.name, "never fires here (see the end)" if (sc, f.name) in dropped else "")
        for sc in scenarios
        for f in faults
        if (sc, f.name) not in present
    ]


def _not_generated(skipped: list[Skipped]) -> list[str]:
    """The trailing comment block listing what the profile run showed cannot fire."""
    if not skipped:
        return []
    out = [
        "# --- Not generated: these never fired in the profile run ---",
        "# (faultbox generate --no-profile proposes them anyway)",
        "#",
    ]
    for s in skipped:
        m = s.mutation
        where = f"{'/'.join(m.kind.keys) or 'connect'} on {m.target.name}"
        out.append(f"#   {m.scenario} × {m.name} ({where}): {s.reason}")
    return [*out, ""]


def _unchecked_note(mutations: list[Mutation]) -> list[str]:
    """Header lines saying which scenarios no profile run checked, and why."""
    why = dict.fromkeys((m.scenario, m.unchecked) for m in mutations if m.unchecked)
    if not why:
        return []
    out = ["#", "# Not profiled: these mutations were not checked against a real run of the"]
    out.append("# scenario, so some may never fire.")
    out += [f"#   {scenario}: {reason}" for scenario, reason in why]
    return out


def _exclude_lines(topo: Topology, cells: list[tuple[str, str, str]]) -> list[str]:
    if not cells:
        return []
    lines = ["    exclude = ["]
    for sc, name, reason in cells:
        note = f"  # {reason}" if reason else ""
        lines.append(f"        ({_scenario_var(topo, sc)}, {name}),{note}")
    return [*lines, "    ],"]


def render(
    topo: Topology,
    mutations: list[Mutation],
    output_file: Path,
    source_display: str,
    today: datetime.date | None = None,
    skipped: list[Skipped] | None = None,
) -> str:
    """The text of one ``.faults.star`` file holding ``mutations`` (any number of scenarios).

    ``skipped``: mutations the profile run dropped; listed in a trailing comment, and excluded
    from the matrix where another scenario keeps the same fault.
    """
    skipped = skipped or []
    today = today or datetime.date.today()
    header = HEADER.format(source=source_display, date=today.isoformat()).splitlines()
    out = [*header[:-1], *_unchecked_note(mutations), header[-1]]
    if not mutations:
        return "\n".join([*out, "", "# No mutations generated.", "", *_not_generated(skipped)])
    out += ["", *_load_lines(topo, mutations, output_file.parent), ""]

    faults: list[Mutation] = []
    for m in mutations:
        if not m.is_partition and all(f.name != m.name for f in faults):
            faults.append(m)
    partitions = [m for m in mutations if m.is_partition]
    scenarios = list(dict.fromkeys(m.scenario for m in mutations))

    if faults:
        out += ["# --- Fault Assumptions ---", ""]
        notes = _shared_caller_notes(topo, faults)
        for category in CATEGORIES:
            group = [m for m in faults if m.category == category]
            if not group:
                continue
            out.append(f"# {category} faults")
            for m in group:
                if m.name in notes:
                    out.append(notes[m.name])
                same = [g for g in mutations if g.name == m.name]
                out += _assumption(topo, same, per_scenario=len(scenarios) > 1)
        matrix_scenarios = [
            s for s in scenarios if any(m.scenario == s and not m.is_partition for m in mutations)
        ]
        out += [
            "# --- Fault Matrix ---",
            "",
            "fault_matrix(",
            f"    scenarios = [{', '.join(_scenario_var(topo, s) for s in matrix_scenarios)}],",
            *_faults_list([m.name for m in faults]),
            *_exclude_lines(topo, _excluded(matrix_scenarios, faults, mutations, skipped)),
            ")",
            "",
        ]
    if partitions:
        out += ["# --- Network Partitions ---", ""]
        for m in partitions:
            a, b = _var(topo, m.edge.caller.name), _var(topo, m.edge.callee.name)
            fn = _scenario_var(topo, m.scenario)
            what = f" between {m.edge.caller.name} and {m.edge.callee.name}"
            out += [
                covers(("connect",), [m], what),
                f"def {m.name}():",
                f'    """{m.scenario} with network partition between '
                f'{m.edge.caller.name} and {m.edge.callee.name}."""',
                f"    partition({a}, {b}, run={fn})",
                "",
            ]
    out += _not_generated(skipped)
    return "\n".join(out)


def count(mutations: list[Mutation]) -> int:
    """Tests the file will hold: distinct (scenario, fault) cells plus partition tests."""
    return len({(m.scenario, m.name) for m in mutations})
