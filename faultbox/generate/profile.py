"""The profile run: what each service really did while a scenario ran, and which mutations fire.

``faultbox generate`` runs every scenario once on real services with every syscall a mutation
could fault intercepted (nothing denied), then keeps a mutation only when its syscalls were seen
for the faulted service. A fault that cannot fire proves nothing and passes as a green cell.

The run itself needs the runtime (processes, seccomp), which sits above this package: the CLI
hands ``command.py`` a :class:`ProfileRunner` (``runtime/profile_runner.py``), so this module only
defines what the runner returns and how to read it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from faultbox.intercept import expand_syscalls
from faultbox.intercept.syspaths import is_system_path
from faultbox.starlark_env.loader import LoadedSpec
from faultbox.starlark_env.values import Service

from .mutations import MUTATION_TABLE, Mutation

#: Receive families a connection reset can hit; clients differ (Go and the demos read(2),
#: CPython's socket.recv and libpq recvfrom(2)).
RECEIVE_KEYS = ("read", "recvfrom")


@dataclass(frozen=True)
class Call:
    """One intercepted syscall of the profile run."""

    service: str
    syscall: str
    path: str  # fd target (``/tmp/x.wal``, ``socket:[12]``) or connect destination (``127.0.0.1:5432``)
    during: bool  # made while the scenario ran (False: while services started)


@dataclass
class ScenarioProfile:
    """What one scenario did under the profile run."""

    scenario: str
    calls: list[Call] = dataclasses.field(default_factory=list)
    error: str = ""  # why the profile could not run (services did not start, …); calls unknown
    failed: str = ""  # the scenario itself failed; calls are what it did up to then


class ProfileRunner(Protocol):
    """Runs each named scenario once with ``syscalls`` intercepted on every service."""

    def __call__(
        self, spec: LoadedSpec, scenarios: Sequence[str], syscalls: frozenset[str]
    ) -> list[ScenarioProfile]: ...


def profiled_syscalls() -> frozenset[str]:
    """Every syscall a generated mutation can fault (families expanded), plus the receives."""
    keys = {key for kind in MUTATION_TABLE for key in kind.keys} | set(RECEIVE_KEYS)
    keys.discard("")
    return frozenset(s for key in keys for s in expand_syscalls(key))


@dataclass(frozen=True)
class Verdict:
    """Does a mutation fire in its scenario: the keywords to fault and what was seen."""

    fires: bool
    keys: tuple[str, ...]
    seen: str  # evidence (kept) or the reason it cannot fire (dropped)


def _is_file(path: str) -> bool:
    """A file on disk (not a socket/pipe/anon inode, not a system path the fault skips)."""
    return path.startswith("/") and not is_system_path(path)


def _port(dest: str) -> int:
    host, _, port = dest.rpartition(":")
    return int(port) if host and port.isdigit() else -1


def _ports(svc: Service) -> frozenset[int]:
    return frozenset(i.port for i in svc.interfaces.values())


def _port_text(svc: Service) -> str:
    ports = sorted(_ports(svc))
    return f"port{'s' if len(ports) > 1 else ''} {', '.join(map(str, ports))}"


def _counts(calls: Iterable[Call]) -> str:
    tally = Counter(c.syscall for c in calls)
    return ", ".join(f"{name} {n}×" for name, n in tally.most_common())


class _Seen:
    """The calls of one scenario profile, indexed for the questions mutations ask."""

    def __init__(self, profile: ScenarioProfile) -> None:
        self.during = [c for c in profile.calls if c.during]
        self.all = profile.calls

    def connects(self, src: Service, dst: Service, *, during: bool = True) -> list[Call]:
        ports = _ports(dst)
        calls = self.during if during else self.all
        return [
            c
            for c in calls
            if c.service == src.name and c.syscall == "connect" and _port(c.path) in ports
        ]

    def of(self, svc: Service, key: str) -> list[Call]:
        names = set(expand_syscalls(key))
        return [c for c in self.during if c.service == svc.name and c.syscall in names]


def _connect_verdict(m: Mutation, seen: _Seen) -> Verdict:
    caller, callee = m.edge.caller, m.edge.callee
    if m.is_partition:
        calls = seen.connects(caller, callee) + seen.connects(callee, caller)
        if not calls:
            why = f"{caller.name} and {callee.name} never connected to each other"
            return Verdict(False, (), why)
        return Verdict(True, (), f"seen {len(calls)}×")
    calls = seen.connects(caller, callee)
    if not calls:
        why = f"{caller.name} never connected to {callee.name} ({_port_text(callee)})"
        return Verdict(False, (), why)
    return Verdict(True, m.kind.keys, f"seen {len(calls)}× from {caller.name} to {callee.name}")


def _reset_verdict(m: Mutation, seen: _Seen) -> Verdict:
    caller, callee = m.edge.caller, m.edge.callee
    # A pooled connection may be opened while services start: any connect to the callee counts.
    if not seen.connects(caller, callee, during=False):
        why = f"{caller.name} never connected to {callee.name} ({_port_text(callee)})"
        return Verdict(False, (), why)
    on_sockets = {
        key: [c for c in seen.of(caller, key) if c.path.startswith("socket:")]
        for key in RECEIVE_KEYS
    }
    keys = tuple(key for key in RECEIVE_KEYS if on_sockets[key])
    if not keys:
        return Verdict(False, (), f"{caller.name} received nothing on a socket")
    calls = [c for key in keys for c in on_sockets[key]]
    return Verdict(True, keys, f"seen {_counts(calls)} on sockets")


def _disk_verdict(m: Mutation, seen: _Seen) -> Verdict:
    svc = m.target
    (key,) = m.kind.keys
    calls = seen.of(svc, key)
    files = [c for c in calls if _is_file(c.path)]
    if files:
        paths = sorted({c.path for c in files})
        shown = ", ".join(paths[:3]) + (", …" if len(paths) > 3 else "")
        return Verdict(True, m.kind.keys, f"seen {_counts(files)} on {shown}")
    family = " or ".join(expand_syscalls(key)[:2]) if key == "fsync" else key
    if not calls:
        return Verdict(False, (), f"{svc.name} never called {family}")
    where = "sockets or pipes" if any(not c.path.startswith("/") for c in calls) else "system paths"
    return Verdict(False, (), f"{svc.name} wrote to no file ({_counts(calls)}, all on {where})")


def verdict(m: Mutation, profile: ScenarioProfile) -> Verdict:
    """Would ``m`` fire in its scenario, judging by what the profile run saw?"""
    seen = _Seen(profile)
    if m.kind.kind in ("down", "slow", "partition"):
        return _connect_verdict(m, seen)
    if m.kind.kind == "reset":
        return _reset_verdict(m, seen)
    return _disk_verdict(m, seen)


@dataclass(frozen=True)
class Skipped:
    """A mutation the profile run showed cannot fire, and why."""

    mutation: Mutation
    reason: str


def apply_profile(
    mutations: list[Mutation], profiles: dict[str, ScenarioProfile]
) -> tuple[list[Mutation], list[Skipped]]:
    """Mutations that fire (with the keywords seen and the evidence), and the ones dropped.

    A scenario whose profile could not run keeps every mutation, marked as not profiled.
    """
    kept: list[Mutation] = []
    skipped: list[Skipped] = []
    for m in mutations:
        profile = profiles.get(m.scenario)
        if profile is None:
            kept.append(m)
            continue
        if profile.error:
            kept.append(dataclasses.replace(m, unchecked=profile.error))
            continue
        v = verdict(m, profile)
        if v.fires:
            kept.append(dataclasses.replace(m, keys=v.keys, seen=f"{v.seen} in the profile run"))
        else:
            skipped.append(Skipped(m, v.seen))
    return kept, skipped
