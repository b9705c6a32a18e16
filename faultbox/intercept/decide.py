"""Stacked rule sets of one service and the per-syscall decision.

Every active set applies. Faults (deny/delay/allow) are tried first, in the order the sets
and their rules were added; trace rules only come after them, so an enclosing ``trace()``
never hides a fault added inside it. The first rule that matches and fires decides.

The hot path reads :attr:`ServiceRules.plans` (syscall number → :class:`Plan`) without a
lock: add/remove build a new dict and swap it in; the supervisor fills it lazily.
"""

from __future__ import annotations

import itertools
import re
import threading
from array import array
from collections.abc import Iterable, Sequence

from faultbox.intercept.globs import compile_glob, glob_matches
from faultbox.intercept.rules import Rule, draw, stream_key
from faultbox.intercept.syscalls import PATH_KIND
from faultbox.intercept.syspaths import is_system_path
from faultbox.intercept.write_sizes import min_length, write_length

ACT_DENY, ACT_DELAY, ACT_TRACE, ACT_ALLOW, ACT_PARTIAL = 1, 2, 3, 4, 5
_ACTION_CODE = {
    "deny": ACT_DENY, "delay": ACT_DELAY, "trace": ACT_TRACE, "allow": ACT_ALLOW,
    "partial": ACT_PARTIAL,
}  # fmt: skip
_ids = itertools.count(1)


class RuleHandle:
    """What :meth:`Supervisor.add_rules` returns: one added rule set and its hit counts."""

    __slots__ = ("id", "service", "rules", "counts", "compiled")

    def __init__(self, service: str, rules: tuple[Rule, ...], seed: int) -> None:
        self.id = next(_ids)
        self.service = service
        self.rules = rules
        # an array, not a list: the native loop counts into this memory without the GIL
        self.counts = array("q", bytes(8 * len(rules)))
        self.compiled = tuple(CompiledRule(self, i, r, seed) for i, r in enumerate(rules))

    @property
    def hits(self) -> list[int]:
        """How often each rule of the set fired so far."""
        return self.counts.tolist()

    def __repr__(self) -> str:
        return f"<RuleHandle {self.id} {self.service} {[r.key for r in self.rules]}>"


class CompiledRule:
    """A rule prepared for the hot path (precomputed decision text, glob, errno)."""

    __slots__ = (
        "handle",
        "index",
        "rule",
        "action",
        "neg_errno",
        "delay_ns",
        "latency_ms",
        "prob",
        "glob",
        "ports",
        "decision",
        "label",
        "op",
        "streams",
        "min_len",
        "native",
        "_seed",
        "_identity",
    )

    def __init__(self, handle: RuleHandle, index: int, rule: Rule, seed: int) -> None:
        self.handle = handle
        self.index = index
        self.rule = rule
        self.action = _ACTION_CODE[rule.action]
        self.neg_errno = -rule.errno
        self.delay_ns = rule.delay_ns
        self.latency_ms = rule.delay_ns // 1_000_000 if rule.action == "delay" else 0
        self.prob = rule.probability
        self.glob: re.Pattern[str] | None = compile_glob(rule.path_glob) if rule.path_glob else None
        self.ports = rule.dest_ports
        self.decision = rule.decision()
        self.label = rule.label
        self.op = rule.op
        # syscall number → [stream key, occurrences]: draws depend only on this rule's own
        # history for this syscall, never on unrelated calls.
        self.streams: dict[int, list[int]] = {}
        self.min_len = min_length(rule) if rule.action == "partial" else 0
        self.native: object | None = None  # its _fastloop.Rule, made by native.py
        self._seed = seed
        # the position in its set keeps two identical rules of one set apart
        self._identity = f"{rule.identity()}\x1f{index}"

    def fires(self, service: str, nr: int, name: str) -> bool:
        """Consume this rule's next draw for ``name`` and compare it with the probability."""
        stream = self.streams.get(nr)
        if stream is None:
            stream = self.streams[nr] = [self.stream_key_for(service, name), 0]
        n = stream[1]
        stream[1] = n + 1
        return draw(stream[0], n) < self.prob

    def stream_key_for(self, service: str, name: str) -> int:
        """The start of this rule's probability stream for syscall ``name`` on ``service``."""
        return stream_key(self._seed, service, name, self._identity)


class Plan:
    """Everything the supervisor needs for one syscall number of one service."""

    __slots__ = ("nr", "name", "kind", "entries")

    def __init__(self, nr: int, name: str, entries: tuple[CompiledRule, ...]) -> None:
        self.nr = nr
        self.name = name
        self.kind = PATH_KIND.get(name, 0)
        self.entries = entries


class ServiceRules:
    """The stacked rule sets of one service."""

    def __init__(self, service: str, seed: int, names: dict[int, str]) -> None:
        self.service = service
        self.seed = seed
        self._names = names
        self._sets: tuple[RuleHandle, ...] = ()
        self._lock = threading.Lock()
        self.plans: dict[int, Plan] = {}

    def add(self, rules: Iterable[Rule]) -> RuleHandle:
        handle = RuleHandle(self.service, tuple(rules), self.seed)
        with self._lock:
            self._sets = (*self._sets, handle)
            self.plans = {}
        return handle

    def remove(self, handle: RuleHandle) -> None:
        with self._lock:
            self._sets = tuple(h for h in self._sets if h is not handle)
            self.plans = {}

    @property
    def active(self) -> tuple[RuleHandle, ...]:
        return self._sets

    def plan(self, nr: int) -> Plan:
        """The (cached) plan for syscall ``nr``."""
        plans = self.plans  # the dict may be swapped meanwhile; then this plan is just unused
        plan = plans.get(nr)
        if plan is None:
            name = self._names.get(nr) or f"syscall_{nr}"
            # Newest rule set first (an inner fault()/allow() overrides an outer one and falls
            # through to it when it does not fire); faults before traces, so a trace around a
            # fault never hides it.
            compiled = [
                c for h in reversed(self._sets) for c in h.compiled if name in c.rule.syscalls
            ]
            faults = [c for c in compiled if c.action != ACT_TRACE]
            traces = [c for c in compiled if c.action == ACT_TRACE]
            plan = plans[nr] = Plan(nr, name, tuple(faults + traces))
        return plan


def evaluate(
    service: str, plan: Plan, path: str, port: int, tid: int = 0, args: Sequence[int] = ()
) -> CompiledRule | None:
    """The rule that fires for this call, or None (then the decision is an allow).

    A rule without a glob does not fire on a system path (the loader, /proc, /dev…); a glob
    that names such a path does. A partial rule applies only to a write on a file (its fd
    names a path) that it can shorten (write_sizes.py; ``tid``/``args`` give the length).
    """
    system = None
    length = -2  # not read yet: only a partial rule needs it
    for c in plan.entries:
        glob = c.glob
        if glob is not None:
            if not path or not glob_matches(glob, path):
                continue
        elif path:
            if system is None:
                system = is_system_path(path)
            if system:
                continue
        if c.ports and port not in c.ports:
            continue
        if c.min_len:
            if not path.startswith("/"):  # sockets, pipes: never cut (partial_writes.py)
                continue
            if length == -2:
                length = write_length(plan.name, tid, args) if args else -1
            if length < c.min_len:
                continue
        if c.prob < 1.0 and not c.fires(service, plan.nr, plan.name):
            continue
        c.handle.counts[c.index] += 1
        return c
    return None
