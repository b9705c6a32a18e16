"""Fault rules: the public :class:`Rule` and deterministic probability draws (globs: globs.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from faultbox.intercept.durations import format_go_duration
from faultbox.intercept.errnos import errno_name, strerror_text

ACTIONS = ("deny", "delay", "trace", "allow", "partial")
#: The syscalls a ``partial()`` rule can shorten (a short count only exists for writes).
PARTIAL_SYSCALLS = frozenset({"write", "writev", "pwrite64", "pwritev", "pwritev2"})
_M64 = (1 << 64) - 1


@dataclass(frozen=True)
class Rule:
    """One fault or trace rule for a service.

    ``syscalls`` is already family-expanded. ``path_glob`` ("" = any path) is a glob of
    globs.py (``*`` crosses ``/``, ``?`` is one character, brackets are literal).
    ``dest_ports`` limits a ``connect`` rule to those destination ports (empty = any).
    ``action="allow"`` (an addition to the contract) fires as an explicit ``allow`` and
    stops the evaluation. ``action="partial"`` (write family only): the supervisor writes
    a prefix itself and returns the short count — ``partial_bytes`` bytes, else
    ``partial_fraction`` of the write, else a seeded length (partial_writes.py).
    """

    key: str
    action: str
    syscalls: tuple[str, ...]
    errno: int = 0
    errno_name: str = ""
    delay_ns: int = 0
    probability: float = 1.0
    label: str = ""
    op: str = ""
    path_glob: str = ""
    dest_ports: frozenset[int] = field(default_factory=frozenset)
    partial_bytes: int = 0  # partial(bytes=N); 0: not given
    partial_fraction: float = 0.0  # partial(fraction=F), 0 < F < 1; 0: not given

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"rule {self.key}: unknown action {self.action!r}")
        if isinstance(self.syscalls, str):
            object.__setattr__(self, "syscalls", (self.syscalls,))
        elif not isinstance(self.syscalls, tuple):
            object.__setattr__(self, "syscalls", tuple(self.syscalls))
        if not self.syscalls:
            raise ValueError(f"rule {self.key}: no syscalls")
        if self.action == "deny" and self.errno <= 0:
            # errno 0 would make the kernel skip the syscall and return 0: a silent fake
            # success (the original's issue #139). Refuse it.
            raise ValueError(f"rule {self.key}: deny needs a positive errno")
        if self.action == "delay" and self.delay_ns < 0:
            raise ValueError(f"rule {self.key}: negative delay")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"rule {self.key}: probability must be within 0..1")
        if self.action == "partial":
            self._check_partial()
        if not isinstance(self.dest_ports, frozenset):
            object.__setattr__(self, "dest_ports", frozenset(self.dest_ports))
        if self.action == "deny" and not self.errno_name:
            object.__setattr__(self, "errno_name", errno_name(self.errno))

    def _check_partial(self) -> None:
        other = [s for s in self.syscalls if s not in PARTIAL_SYSCALLS]
        if other:
            raise ValueError(
                f"rule {self.key}: partial() only shortens writes "
                f"({', '.join(sorted(PARTIAL_SYSCALLS))}), not {', '.join(other)}"
            )
        if self.partial_bytes < 0 or (self.partial_bytes and self.partial_fraction):
            raise ValueError(f"rule {self.key}: partial() takes bytes >= 1 or a fraction")
        if not 0.0 <= self.partial_fraction < 1.0:
            raise ValueError(f"rule {self.key}: partial() fraction must be within (0, 1)")

    def decision(self) -> str:
        """The decision text this rule records when it fires (partial: its spec text; the
        record of each cut write says how many bytes it got, partial_writes.py)."""
        if self.action == "deny":
            return f"deny({strerror_text(self.errno)})"
        if self.action == "delay":
            return f"delay({format_go_duration(self.delay_ns)})"
        if self.action == "partial":
            if self.partial_bytes:
                return f"partial(bytes={self.partial_bytes})"
            if self.partial_fraction:
                return f"partial(fraction={self.partial_fraction:g})"
            return "partial()"
        return self.action

    def identity(self) -> str:
        """A stable text naming the rule's content (feeds the probability hash)."""
        ports = ",".join(str(p) for p in sorted(self.dest_ports))
        # partial's parameters only for partial rules: every other rule keeps its identity
        # (and so its probability draws) of before partial() existed
        extra = (self.decision(),) if self.action == "partial" else ()
        return "\x1f".join(
            (
                self.key,
                self.action,
                ",".join(self.syscalls),
                str(self.errno),
                str(self.delay_ns),
                repr(self.probability),
                self.label,
                self.op,
                self.path_glob,
                ports,
                *extra,
            )
        )


def stream_key(seed: int, service: str, syscall: str, identity: str) -> int:
    """64-bit start of the probability stream of one (rule, syscall) on one service."""
    text = f"{seed}\x1e{service}\x1e{syscall}\x1e{identity}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def draw(key: int, n: int) -> float:
    """The n-th uniform draw in [0, 1) of stream ``key`` (splitmix64; no shared RNG state)."""
    z = (key + (n + 1) * 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    z ^= z >> 31
    return (z >> 11) * (1.0 / (1 << 53))
