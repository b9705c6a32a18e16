"""The mutation table: what can go wrong on one edge, and the names the generator gives it.

Every edge ``caller → callee`` gets the same seven mutations (the original's table; no protocol
awareness): three network faults on the caller, a partition between the two, and three disk
faults on the callee. The connection reset denies both receive families (``read`` and
``recvfrom``); the profile run (``profile.py``) keeps only the mutations that fire. Names:

* network faults: ``<callee>_down`` / ``_slow`` / ``_connection_reset``; when the callee has
  several callers, ``<caller>_<callee>_…`` (the original gave them one name and dropped all but
  the first caller's);
* disk faults: ``disk_io_error`` / ``disk_full`` / ``fsync_failure`` when the topology has one
  callee; ``<callee>_disk_io_error`` … when it has several (the original dropped every callee's
  but the first: their labels collided);
* partitions: test ``test_<scenario>_<callee>_partition`` (``…_<caller>_<callee>_partition``
  when the callee has several callers).

Names depend on the whole topology, never on ``--service``/``--category`` filters, so a
filtered run produces the same names as a full one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from faultbox.starlark_env.values import Service

from .call_graph import Edge, Topology

CATEGORIES = ("network", "disk")


@dataclass(frozen=True)
class MutationKind:
    """One row of the mutation table."""

    kind: str  # short id: down, slow, reset, partition, io_error, disk_full, fsync_fail
    category: str  # network | disk
    side: str  # which end of the edge is faulted: caller | callee | both
    keys: tuple[str, ...]  # syscall keywords of the fault (() for partitions)
    action: str  # deny | delay | partition
    arg: str  # errno name or duration
    suffix: str  # name suffix
    severity: str  # critical | high (informational)


MUTATION_TABLE: tuple[MutationKind, ...] = (
    MutationKind("down", "network", "caller", ("connect",), "deny", "ECONNREFUSED", "down", "critical"),
    MutationKind("slow", "network", "caller", ("connect",), "delay", "5s", "slow", "high"),
    # read(2) alone misses clients that receive with recvfrom(2) (CPython's socket.recv, libpq).
    MutationKind(
        "reset", "network", "caller", ("read", "recvfrom"), "deny", "ECONNRESET",
        "connection_reset", "high",
    ),
    MutationKind("partition", "network", "both", (), "partition", "", "partition", "critical"),
    MutationKind("io_error", "disk", "callee", ("write",), "deny", "EIO", "disk_io_error", "critical"),
    MutationKind("disk_full", "disk", "callee", ("write",), "deny", "ENOSPC", "disk_full", "high"),
    MutationKind("fsync_fail", "disk", "callee", ("fsync",), "deny", "EIO", "fsync_failure", "critical"),
)  # fmt: skip


@dataclass(frozen=True)
class Mutation:
    """One generated fault (a ``fault_assumption`` + matrix cell) or partition test."""

    scenario: str
    kind: MutationKind
    edge: Edge
    name: str  # assumption name, or the partition test's function name
    keys: tuple[str, ...] = ()  # the keywords generated (the profile may keep fewer than kind's)
    seen: str = ""  # what the profile run saw of the faulted syscalls
    unchecked: str = ""  # why no profile run judged this mutation ("" = one did)

    @property
    def is_partition(self) -> bool:
        return self.kind.action == "partition"

    @property
    def category(self) -> str:
        return self.kind.category

    @property
    def target(self) -> Service:
        """The faulted service (the caller for network faults and partitions)."""
        return self.edge.callee if self.kind.side == "callee" else self.edge.caller

    def involves(self, service: str) -> bool:
        """Does ``--service service`` select this mutation?"""
        if self.is_partition:
            return service in (self.edge.caller.name, self.edge.callee.name)
        return self.target.name == service


def sanitize(text: str) -> str:
    """A Starlark identifier from a label: lower case, anything but ``[a-z0-9_]`` → ``_``."""
    name = re.sub(r"[^a-z0-9_]", "_", text.lower())
    return f"_{name}" if not name or name[0].isdigit() else name


def _name(kind: MutationKind, edge: Edge, topo: Topology, scenario: str) -> str:
    several_callers = len(topo.callers_of(edge.callee)) > 1
    pair = f"{edge.caller.name}_{edge.callee.name}" if several_callers else edge.callee.name
    if kind.category == "disk":
        several_callees = len(topo.callees) > 1
        return sanitize(f"{edge.callee.name}_{kind.suffix}" if several_callees else kind.suffix)
    if kind.action == "partition":
        return sanitize(f"test_{scenario}_{pair}_partition")
    return sanitize(f"{pair}_{kind.suffix}")


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_fault`` (``name_fault2`` …) if a loaded symbol already uses it."""
    if name not in taken:
        return name
    candidate, n = f"{name}_fault", 2
    while candidate in taken:
        candidate, n = f"{name}_fault{n}", n + 1
    return candidate


def build_mutations(topo: Topology, reserved: Iterable[str] = ()) -> list[Mutation]:
    """Every mutation of every scenario: network (per edge) first, then disk (per callee).

    Identical disk faults (one callee reached over several edges) appear once. ``reserved``
    are names already taken in the generated file (loaded symbols); colliding names get a
    ``_fault`` suffix.
    """
    taken = set(reserved)
    renamed: dict[str, str] = {}
    out: list[Mutation] = []
    for sc in topo.scenarios:
        seen: set[str] = set()
        for category in CATEGORIES:
            for edge in topo.edges:
                for kind in MUTATION_TABLE:
                    if kind.category != category:
                        continue
                    base = _name(kind, edge, topo, sc.name)
                    if base in seen:
                        continue  # the same disk fault on the same callee
                    seen.add(base)
                    if base not in renamed:
                        renamed[base] = _unique(base, taken)
                        taken.add(renamed[base])
                    out.append(Mutation(sc.name, kind, edge, renamed[base], kind.keys))
    return out


def select(
    mutations: list[Mutation],
    *,
    scenario: str | None = None,
    service: str | None = None,
    category: str = "all",
) -> list[Mutation]:
    """The mutations ``--scenario`` / ``--service`` / ``--category`` keep."""
    return [
        m
        for m in mutations
        if (scenario is None or m.scenario == scenario)
        and (service is None or m.involves(service))
        and (category == "all" or m.category == category)
    ]


def dry_run_counts(mutations: list[Mutation]) -> list[tuple[str, str, int]]:
    """``(scenario, target, n)`` in first-appearance order.

    A partition counts toward its caller (the side whose outgoing connections are refused
    first), so the ch10 spec gives ``api: 4`` (3 network faults + the partition), ``db: 3``.
    """
    counts: dict[tuple[str, str], int] = {}
    for m in mutations:
        key = (m.scenario, m.target.name)
        counts[key] = counts.get(key, 0) + 1
    return [(sc, target, n) for (sc, target), n in counts.items()]
