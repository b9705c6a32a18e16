"""The record of one intercepted syscall, as handed to the supervisor's sink."""

from __future__ import annotations

import time
from dataclasses import dataclass

from faultbox.intercept.decide import ACT_DENY, CompiledRule


@dataclass(slots=True)
class SyscallRecord:
    """One notification and what faultbox decided.

    ``pid`` is the thread id the kernel reported; ``path`` the file, fd target
    (``socket:[…]``, ``pipe:[…]``) or connect destination (``127.0.0.1:5432``), "" if none;
    ``latency_ms`` the injected delay (0 unless delayed); ``timestamp_ns`` wall-clock time of
    the notification; ``allowed`` False only for a deny.
    """

    service: str
    syscall: str
    pid: int
    decision: str
    path: str
    label: str
    op: str
    latency_ms: int
    timestamp_ns: int
    allowed: bool


def allowed_record(
    service: str, syscall: str, tid: int, decision: str = "allow", path: str = ""
) -> SyscallRecord:
    """The record of a call that was let through unchanged, stamped now."""
    return SyscallRecord(service, syscall, tid, decision, path, "", "", 0, time.time_ns(), True)


@dataclass(slots=True)
class PartialRecord(SyscallRecord):
    """A write that a ``partial()`` rule cut (partial_writes.py): ``requested`` bytes asked
    for, ``written`` bytes the supervisor wrote (the short count the target got; 0 when the
    prefix write itself failed, then ``decision`` names the error)."""

    requested: int = 0
    written: int = 0


def fired_record(
    service: str, syscall: str, tid: int, path: str, fired: CompiledRule
) -> SyscallRecord:
    """The record of a call a deny, delay, trace or allow rule decided, stamped now."""
    return SyscallRecord(
        service, syscall, tid, fired.decision, path, fired.label, fired.op, fired.latency_ms,
        time.time_ns(), fired.action != ACT_DENY,
    )  # fmt: skip
