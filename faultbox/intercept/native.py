"""The native supervisor loop (``_fastloop``): loading it and feeding it compiled rules.

The Python loop in supervisor.py is the reference. The native loop makes the same decisions
because everything that defines a decision is computed here, by the reference code, and
handed over as data: the plan of a syscall (``ServiceRules.plan``: which rules, in which
order), each rule's probability stream key (``rules.stream_key``), and each glob as a token
program (:func:`glob_program`, the translation of ``globs.glob_to_regex``). C only executes
them. ``FAULTBOX_SUPERVISOR=python`` selects the
reference loop.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import itertools
import os
import time
import warnings
from types import ModuleType
from typing import Any

from faultbox.intercept import decide, ioctl, syscalls
from faultbox.intercept._build import fastloop_path
from faultbox.intercept.decide import ACT_DENY, CompiledRule, ServiceRules
from faultbox.intercept.errors import InterceptUnavailable
from faultbox.intercept.globs import glob_matches
from faultbox.intercept.paths import decode_sockaddr
from faultbox.intercept.records import SyscallRecord
from faultbox.intercept.syscalls import TABLES, host_arch

ENV = "FAULTBOX_SUPERVISOR"
_MAX_TOKENS = 1024  # loop_glob.c's limit; longer programs fall back to the regex
_T_CHAR, _T_STAR, _T_SKIP = 1, 2, 3
EV_FD, EV_DELAY, EV_MISS, EV_FAIL, EV_FULL, EV_PARTIAL = 0, 1, 2, 3, 4, 5  # Loop.run()'s events
#: Records held before delivery is forced (the Python loop's limit; the native arena's size).
BUFFER_CAP = 65536
_module: ModuleType | None = None
_load_error: str | None = None
_rule_ids = itertools.count(1)
_ALLOW_TEXTS = ("allow", "allow (system path)", "")


def load() -> ModuleType | None:
    """The ``_fastloop`` module, built on first use; None (and why in :func:`load_error`)."""
    global _module, _load_error
    if _module is not None or _load_error is not None:
        return _module
    try:
        path = fastloop_path()
        loader = importlib.machinery.ExtensionFileLoader("faultbox.intercept._fastloop", str(path))
        spec = importlib.util.spec_from_file_location(loader.name, path, loader=loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        check_constants(module.CONSTANTS)
        _module = module
    except (InterceptUnavailable, ImportError, OSError, AttributeError) as e:
        _load_error = str(e)
    return _module


def python_constants() -> dict[str, int]:
    """The values the C side must agree with, as the Python side defines them."""
    names = ("KIND_NONE", "KIND_FD", "KIND_PATH0", "KIND_AT", "KIND_SOCKADDR", "KIND_AT2")
    return {
        **{
            f"ACT_{a}": getattr(decide, f"ACT_{a}")
            for a in ("DENY", "DELAY", "TRACE", "ALLOW", "PARTIAL")
        },
        **{n: getattr(syscalls, n) for n in names},
        "EV_FD": EV_FD,
        "EV_DELAY": EV_DELAY,
        "EV_MISS": EV_MISS,
        "EV_FAIL": EV_FAIL,
        "EV_FULL": EV_FULL,
        "EV_PARTIAL": EV_PARTIAL,
        "FL_T_CHAR": _T_CHAR,
        "FL_T_STAR": _T_STAR,
        "FL_T_SKIP": _T_SKIP,
        "FLAG_CONTINUE": ioctl.FLAG_CONTINUE,
        "NOTIF_RECV": ioctl.NOTIF_RECV,
        "NOTIF_SEND": ioctl.NOTIF_SEND,
        "NOTIF_ID_VALID": ioctl.NOTIF_ID_VALID,
        "NOTIF_SIZE": ioctl.NOTIF.size,
        "RESP_SIZE": ioctl.RESP.size,
        "ARENA_RECORDS": BUFFER_CAP,
    }


def check_constants(c_side: dict[str, int]) -> None:
    """Refuse an extension whose shared constants differ from Python's (a stale or broken
    build would otherwise answer with the wrong action or misread the kernel's structs)."""
    expected = python_constants()
    wrong = [
        f"{k}: C {c_side.get(k)!r}, Python {v!r}" for k, v in expected.items() if c_side.get(k) != v
    ]
    if wrong:
        raise InterceptUnavailable(f"_fastloop constants differ from Python's: {'; '.join(wrong)}")


def load_error() -> str | None:
    """Why :func:`load` returned None."""
    return _load_error


def want_native(backend: str | None) -> bool:
    """Resolve the backend (argument, else ``$FAULTBOX_SUPERVISOR``, else native if built)."""
    choice = (backend or os.environ.get(ENV) or "auto").strip().lower()
    if choice == "python":
        return False
    if choice not in ("native", "auto"):
        raise ValueError(f"{ENV} must be 'python', 'native' or 'auto', not {choice!r}")
    if load() is not None:
        return True
    warnings.warn(
        f"faultbox: native supervisor loop unavailable ({_load_error}); using the Python loop "
        "(same decisions, ~2x the cost per intercepted syscall)",
        RuntimeWarning,
        stacklevel=3,
    )
    return False


# ---- globs ------------------------------------------------------------------------------


def glob_program(glob: str) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]] | None:
    """``glob`` as the token program loop_glob.c runs: (flat tokens, classes), or None when
    it is too long for C (then the rule calls Python's regex instead).

    The translation mirrors :func:`globs.glob_to_regex` token for token: ``*``/``**`` → STAR
    over any character, ``**/`` → SKIP over (STAR, "/"), ``?`` → any one character, anything
    else → that code point. tests/intercept/test_intercept_globs.py checks both on a table.
    """
    any_char, slash = 0, 1
    classes: list[tuple[int, ...]] = [(1,), (0, 0x2F, 0x2F)]  # (negate, lo, hi, ...)
    literal: dict[int, int] = {}
    tokens: list[tuple[int, int]] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        if c == "*":
            j = i
            while j < n and glob[j] == "*":
                j += 1
            if j - i >= 2 and glob.startswith("/", j):  # zero or more whole directories
                tokens += [(_T_SKIP, 3), (_T_STAR, any_char), (_T_CHAR, slash)]
                j += 1
            else:
                tokens.append((_T_STAR, any_char))
            i = j
            continue
        if c == "?":
            tokens.append((_T_CHAR, any_char))
        else:
            k = literal.get(ord(c))
            if k is None:
                k = literal[ord(c)] = len(classes)
                classes.append((0, ord(c), ord(c)))
            tokens.append((_T_CHAR, k))
        i += 1
    if len(tokens) > _MAX_TOKENS:
        return None
    return tuple(v for t in tokens for v in t), tuple(classes)


# ---- the engine -------------------------------------------------------------------------


class NativeEngine:
    """One ``_fastloop.Loop`` plus what Python keeps for it: service ids, rules, plans."""

    def __init__(self) -> None:
        mod = load()
        if mod is None:
            raise InterceptUnavailable(f"native supervisor loop unavailable: {_load_error}")
        self.mod = mod
        self.loop = mod.Loop(decode_sockaddr)
        self._names: dict[int, str] = {nr: n for n, nr in TABLES[host_arch()].items()}
        self._name_table = tuple(self.name(nr) for nr in range(mod.NR_MAX))
        self._service_ids: dict[str, int] = {}
        self._services: list[str] = []
        self._rules: list[ServiceRules | None] = []
        self._numbers: list[set[int]] = []  # per service: numbers with a plan to keep fresh
        # rule id → (decision, label, op, latency_ms, allowed) for records
        self._outcomes: dict[int, tuple[str, str, str, int, bool]] = {}
        self._partials: dict[int, CompiledRule] = {}  # rule id → a partial rule (EV_PARTIAL)
        # numbers decided in Python (connects that may be redirected): they never get a plan
        self.python_numbers: set[int] = set()

    def service_id(self, rules: ServiceRules) -> int:
        sid = self._service_ids.get(rules.service)
        if sid is None:
            sid = self._service_ids[rules.service] = len(self._services)
            self._services.append(rules.service)
            self._rules.append(rules)
            self._numbers.append(set())
        return sid

    def attach(self, listener: int, rules: ServiceRules, numbers: list[int]) -> None:
        """Compile plans for every notified syscall up front, then route the listener."""
        sid = self.service_id(rules)
        self._numbers[sid].update(n for n in numbers if 0 <= n < self.mod.NR_MAX)
        self.rules_changed(rules)
        self.loop.attach(listener, sid)

    def detach(self, listener: int) -> None:
        self.loop.attach(listener, -1)

    def rules_changed(self, rules: ServiceRules) -> None:
        """Replace every plan of the service (caller holds the supervisor's lock)."""
        sid = self.service_id(rules)
        plans = {
            nr: self._plan(rules, nr) for nr in self._numbers[sid] if nr not in self.python_numbers
        }
        self.loop.set_plans(sid, plans, True)

    def miss(
        self, sid: int, nr: int
    ) -> SyscallRecord | tuple[int, int, int, int, list[int]] | None:
        """A syscall the loop has no plan for (caller holds the supervisor's lock).

        In range: compile its plan; the loop then decides the held notification. Out of
        range (no plan can exist, no rule can name it): answer CONTINUE now and return its
        record, instead of handing it to the loop again (which would miss again, forever).
        """
        rules = self._rules[sid]
        assert rules is not None
        if nr in self.python_numbers:  # (listener, id, tid, nr, args): Python decides it
            taken = self.loop.take_pending()
            if taken is not None:
                return taken[0], taken[1], taken[2], taken[3], list(taken[4])
            return None
        if 0 <= nr < self.mod.NR_MAX:
            self._numbers[sid].add(nr)
            self.loop.set_plans(sid, {nr: self._plan(rules, nr)}, False)
            return None
        pending = self.loop.release_pending()
        if pending is None:
            return None
        _sid, _nr, tid = pending
        return SyscallRecord(
            self._services[sid], self.name(nr), tid, "allow", "", "", "", 0, time.time_ns(), True
        )

    def _plan(self, rules: ServiceRules, nr: int) -> tuple[int, tuple[tuple[Any, int], ...]]:
        plan = rules.plan(nr)  # the reference: same rules, same order
        entries = tuple(
            (self._native_rule(c), c.stream_key_for(rules.service, plan.name)) for c in plan.entries
        )
        return plan.kind, entries

    def _native_rule(self, c: CompiledRule) -> Any:
        if c.native is None:
            rid = next(_rule_ids)
            program, match = None, None
            if c.glob is not None:
                program = glob_program(c.rule.path_glob)
                if program is None:
                    pattern = c.glob
                    match = lambda raw: glob_matches(  # noqa: E731
                        pattern, raw.decode("utf-8", "surrogateescape")
                    )
            c.native = self.mod.Rule(
                rid,
                c.action,
                c.neg_errno,
                c.delay_ns,
                c.prob,
                program,
                match,
                tuple(sorted(c.ports)),
                c.handle.counts,
                c.index,
                c.min_len,
            )
            if c.min_len:
                self._partials[rid] = c
            self._outcomes[rid] = (c.decision, c.label, c.op, c.latency_ms, c.action != ACT_DENY)
        return c.native

    def name(self, nr: int) -> str:
        return self._names.get(nr) or f"syscall_{nr}"

    def partial_rule(self, rid: int) -> CompiledRule:
        """The partial rule behind an EV_PARTIAL event."""
        return self._partials[rid]

    def service(self, sid: int) -> str:
        return self._services[sid]

    def drain(self) -> list[SyscallRecord]:
        """Records the loop made since the last drain, as SyscallRecords, in order."""
        return self.loop.drain(
            SyscallRecord, self._services, self._name_table, self._outcomes, _ALLOW_TEXTS
        )

    def stats(self) -> tuple[int, int]:
        return self.loop.stats()
