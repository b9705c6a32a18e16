"""Protocol rules: what a request must look like for a rule to fire, and what it then does.

A :class:`ProtocolRule` is plain data (the Starlark builtins in
``starlark_env/protocol_rules.py`` build it). :class:`RuleBook` holds the stacked rule sets of
every proxied interface; :meth:`RuleBook.decide` picks the rule for one request — newest set
first, rules of a set in order, like syscall rules — and counts hits and what each rule saw.
Probability draws use the syscall rules' streams (``intercept.rules``): a draw depends on the
seed, the interface, the rule and that rule's own occurrence count only.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
from dataclasses import dataclass, field

from faultbox.intercept.rules import draw, stream_key

ACTIONS = ("error", "response", "drop", "duplicate", "delay")
CRITERIA = ("method", "path", "query", "command", "key", "topic")
PAYLOAD = ("status", "message", "body", "value")

#: The match criteria each protocol has (anything else is a load error).
PROTOCOL_CRITERIA: dict[str, frozenset[str]] = {
    "http": frozenset({"method", "path"}),
    "postgres": frozenset({"query"}),
    "redis": frozenset({"command", "key"}),
    "tcp": frozenset(),
    "kafka": frozenset({"topic"}),
}
#: The actions each protocol can carry out.
PROTOCOL_ACTIONS: dict[str, frozenset[str]] = {
    "http": frozenset({"error", "response", "drop", "delay"}),
    "postgres": frozenset({"error", "drop", "delay"}),
    "redis": frozenset({"error", "response", "drop", "delay"}),
    "tcp": frozenset({"drop", "delay", "duplicate"}),
}
_SEEN_KEEP = 20  # distinct requests remembered per rule set, for "never matched" reports


@dataclass(frozen=True)
class ProtocolRule:
    """One protocol fault: ``action`` on requests whose fields match every criterion."""

    action: str
    criteria: tuple[tuple[str, str], ...] = ()
    status: int | str | None = None
    message: str = ""
    body: str = ""
    value: str | None = None
    delay_ns: int = 0
    probability: float = 1.0
    label: str = ""

    def spec_text(self) -> str:
        """The rule as a spec would write it: ``error(query="INSERT*")``."""
        parts = [f'{k}="{v}"' for k, v in self.criteria]
        if self.status is not None:
            parts.append(f"status={self.status!r}" if isinstance(self.status, str) else
                         f"status={self.status}")  # fmt: skip
        if self.message:
            parts.append(f'message="{self.message}"')
        if self.delay_ns:
            parts.append(f"delay={self.delay_ns // 1_000_000}ms")
        if self.probability < 1.0:
            parts.append(f'probability="{self.probability * 100:g}%"')
        return f"{self.action}({', '.join(parts)})"

    def identity(self) -> str:
        return repr(self)


@dataclass
class Request:
    """One request as the proxy parsed it: protocol and its fields (method, path, query, …)."""

    protocol: str
    fields: dict[str, str]
    source: str = ""  # the service that sent it ("test" for faultbox's own steps)

    def summary(self) -> str:
        """What the request was, for reports (``GET /orders``, ``SET k``, ``INSERT …``)."""
        f = self.fields
        if self.protocol == "http":
            return f"{f.get('method', '')} {f.get('path', '')}".strip()
        if self.protocol == "redis":
            return f"{f.get('command', '')} {f.get('key', '')}".strip()
        if self.protocol == "postgres":
            return f.get("query", "")[:120]
        return f.get("line", "")[:120]


def glob_match(pattern: str, value: str) -> bool:
    """A criterion against a value: a glob (``INSERT*``), case-insensitive."""
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


def matches(rule: ProtocolRule, request: Request) -> bool:
    """Every criterion of the rule glob-matches the request's field."""
    for name, pattern in rule.criteria:
        value = request.fields.get(name)
        if value is None:
            return False
        if name == "query":
            value = " ".join(value.split())  # queries span lines: match them as one
        if not glob_match(pattern, value):
            return False
    return True


_ids = itertools.count(1)


@dataclass(eq=False)
class ProtocolHandle:
    """One stacked rule set on one interface, with hit counts and requests it saw."""

    interface: str  # "service.iface"
    rules: tuple[ProtocolRule, ...]
    id: int = field(default_factory=lambda: next(_ids))
    hits: list[int] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    counters: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.hits = [0] * len(self.rules)
        self.counters = [0] * len(self.rules)


@dataclass(frozen=True)
class Fired:
    """The rule that decided a request."""

    rule: ProtocolRule
    handle: ProtocolHandle
    index: int


class RuleBook:
    """Stacked protocol rule sets per interface (thread-safe)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._sets: dict[str, tuple[ProtocolHandle, ...]] = {}
        self._lock = threading.Lock()

    def add(self, interface: str, rules: list[ProtocolRule]) -> ProtocolHandle:
        handle = ProtocolHandle(interface, tuple(rules))
        with self._lock:
            self._sets[interface] = (*self._sets.get(interface, ()), handle)
        return handle

    def remove(self, handle: ProtocolHandle) -> None:
        with self._lock:
            sets = self._sets.get(handle.interface, ())
            self._sets[handle.interface] = tuple(h for h in sets if h is not handle)

    def active(self, interface: str) -> bool:
        return bool(self._sets.get(interface))

    def decide(self, interface: str, request: Request) -> Fired | None:
        """The rule that fires for ``request`` (newest set first), or None: pass it on."""
        sets = self._sets.get(interface, ())
        if not sets:
            return None
        summary = request.summary()
        with self._lock:
            for handle in sets:
                if len(handle.seen) < _SEEN_KEEP and summary not in handle.seen:
                    handle.seen.append(summary)
            for handle in reversed(sets):
                for i, rule in enumerate(handle.rules):
                    if not matches(rule, request):
                        continue
                    if rule.probability < 1.0:
                        n = handle.counters[i]
                        handle.counters[i] = n + 1
                        key = stream_key(self.seed, interface, rule.action,
                                         f"{rule.identity()}\x1f{i}")  # fmt: skip
                        if draw(key, n) >= rule.probability:
                            continue
                    handle.hits[i] += 1
                    return Fired(rule, handle, i)
        return None
