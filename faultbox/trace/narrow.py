"""Narrowing a normalized trace to what a user cares about (``faultbox diff --service …``).

The normalized format (:mod:`.normalize`) says which service and which event type each line
belongs to: ``=== test ===`` starts a test, ``--- svc ---`` a service's own section
(syscalls, lifecycle, faults, steps) and ``--- svc wal ---`` an event-source stream. This
module reads that structure back and keeps the lines every given filter accepts:

* ``services``: the line's service matches one of the globs;
* ``types``: the line's type is one of them (``syscall``, ``wal``, ``stdout``, ``step_send``,
  … and the groups ``lifecycle``, ``step``, ``fault``), or ``SERVICE:TYPE`` names both;
* ``syscalls`` / ``paths``: a syscall line's syscall / path matches one of the globs; lines
  of other types pass only when ``types`` names their type (without ``types``, giving
  ``syscalls`` or ``paths`` means "syscall lines only");
* ``exclude``: lines whose text matches one of the globs are dropped;
* ``ignore_order``: the lines of each section are compared sorted (a multiset), for servers
  whose processes run concurrently (PostgreSQL's backends, checkpointer, walsender…).

Globs are the queries' (:func:`.query.compile_pattern`; ``paths`` with the directory rule
of path globs, as a query's ``path=``). A test header is always kept (the
set of tests is compared too); a section header only when some of its lines are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .normalize import SOURCE_TYPES
from .query import compile_pattern
from .vocabulary import EventType

__all__ = ["KNOWN_TYPES", "Line", "Narrowing", "NarrowError", "parse_lines"]

_SYSCALL = EventType.SYSCALL.value
_LIFECYCLE = (EventType.SERVICE_STARTED, EventType.SERVICE_READY, EventType.SERVICE_EXITED)
_STEPS = (EventType.STEP_SEND, EventType.STEP_RECV)
_FAULTS = (EventType.FAULT_APPLIED, EventType.FAULT_REMOVED)
_OWN_TYPES: tuple[str, ...] = tuple(t.value for t in (*_LIFECYCLE, *_FAULTS, *_STEPS))
_GROUPS: dict[str, tuple[str, ...]] = {
    "lifecycle": tuple(t.value for t in _LIFECYCLE),
    "step": tuple(t.value for t in _STEPS),
    "fault": tuple(t.value for t in _FAULTS),
}
#: Every value ``--type`` accepts.
KNOWN_TYPES: tuple[str, ...] = (_SYSCALL, *_OWN_TYPES, *SOURCE_TYPES, *_GROUPS)


class NarrowError(ValueError):
    """A filter that cannot be right: an unknown type, or one that matches nothing."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a normalized trace and what it belongs to (``kind``: test|section|event)."""

    number: int  # 1-based, in the file
    text: str
    kind: str
    service: str = ""
    type: str = ""
    syscall: str = ""
    path: str = ""


def _split_syscall(text: str) -> tuple[str, str]:
    """``write deny(no space left on device) /x`` → ``("write", "/x")``."""
    name, _, rest = text.partition(" ")
    if rest.startswith(("deny(", "delay(", "partial(")) and ")" in rest:
        rest = rest[rest.index(")") + 1 :]
    elif rest.startswith("allow (system path)"):
        rest = rest[len("allow (system path)") :]
    else:
        rest = rest.partition(" ")[2]
    return name, rest.strip()


def _event(number: int, text: str, service: str, stream: str) -> Line:
    if stream:
        return Line(number, text, "event", service, stream)
    word = text.split(" ", 1)[0]
    if word in _OWN_TYPES:
        return Line(number, text, "event", service, word)
    name, path = _split_syscall(text)
    return Line(number, text, "event", service, _SYSCALL, name, path)


def parse_lines(text: str) -> list[Line]:
    """Every line of a normalized trace with its service and type (headers as such)."""
    out: list[Line] = []
    service, stream = "", ""
    for i, raw in enumerate(text.replace("\r\n", "\n").strip().split("\n"), 1):
        if not raw:
            continue
        if raw.startswith("=== ") and raw.endswith(" ==="):
            service, stream = "", ""
            out.append(Line(i, raw, "test"))
        elif raw.startswith("--- ") and raw.endswith(" ---") and len(raw) > 8:
            name = raw[4:-4]
            head, _, last = name.rpartition(" ")
            service, stream = (head, last) if head and last in SOURCE_TYPES else (name, "")
            out.append(Line(i, raw, "section", service, stream))
        else:
            out.append(_event(i, raw, service, stream))
    return out


Matcher = Callable[[str], bool]


def _any(globs: Sequence[str], *, path: bool = False) -> Matcher | None:
    if not globs:
        return None
    preds = [compile_pattern(g, path=path) for g in globs]
    return lambda value: any(p(value) for p in preds)


@dataclass
class Narrowing:
    """The filters of one ``faultbox diff`` call; :meth:`apply` keeps what they accept."""

    services: Sequence[str] = ()
    types: Sequence[str] = ()
    syscalls: Sequence[str] = ()
    paths: Sequence[str] = ()
    exclude: Sequence[str] = ()
    ignore_order: bool = False
    _types: list[tuple[Matcher | None, frozenset[str]]] = field(default_factory=list, init=False)
    _match: dict[str, Matcher | None] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for spec in self.types:
            svc, _, typ = spec.rpartition(":")
            if typ not in KNOWN_TYPES:
                raise NarrowError(
                    f"--type {spec}: unknown type {typ!r}; known: {', '.join(KNOWN_TYPES)}"
                )
            self._types.append((_any([svc] if svc else []), frozenset(_GROUPS.get(typ, (typ,)))))
        self._match = {"service": _any(self.services), "syscall": _any(self.syscalls),
                       "path": _any(self.paths, path=True), "exclude": _any(self.exclude)}  # fmt: skip

    @property
    def active(self) -> bool:
        """True when any filter is given (otherwise :meth:`apply` keeps everything)."""
        return bool(
            self.services or self.types or self.syscalls or self.paths or self.exclude
            or self.ignore_order
        )  # fmt: skip

    def _type_ok(self, ln: Line) -> bool:
        if not self._types:  # --syscall / --path alone: syscall lines only
            return not (self.syscalls or self.paths) or ln.type == _SYSCALL
        return any(ln.type in types and (svc_ok is None or svc_ok(ln.service))
                   for svc_ok, types in self._types)  # fmt: skip

    def _keep(self, ln: Line) -> bool:
        m = self._match
        if (ok := m["service"]) and not ok(ln.service):
            return False
        if not self._type_ok(ln):
            return False
        if ln.type == _SYSCALL:
            if (ok := m["syscall"]) and not ok(ln.syscall):
                return False
            if (ok := m["path"]) and not ok(ln.path):
                return False
        return not ((ok := m["exclude"]) and ok(ln.text))

    def apply(self, lines: Sequence[Line]) -> list[Line]:
        """The kept lines: events accepted by every filter, their section headers, all tests."""
        if not self.active:
            return list(lines)
        out: list[Line] = []
        pending: Line | None = None  # a section header waiting for its first kept line
        for ln in lines:
            if ln.kind == "test":
                out.append(ln)
                pending = None
            elif ln.kind == "section":
                pending = ln
            elif self._keep(ln):
                if pending is not None:
                    out.append(pending)
                    pending = None
                out.append(ln)
        return _sorted_sections(out) if self.ignore_order else out

    def check_matches(self, *traces: Sequence[Line]) -> None:
        """Refuse a ``--service``/``--syscall``/``--path`` value that matches no line of any
        trace: a misspelled name would make two traces trivially identical."""
        events = [ln for lines in traces for ln in lines if ln.kind == "event"]
        checks = (("--service", self.services, lambda ln: ln.service),
                  ("--syscall", self.syscalls, lambda ln: ln.syscall if ln.type == _SYSCALL else None),
                  ("--path", self.paths, lambda ln: ln.path if ln.type == _SYSCALL else None))  # fmt: skip
        for flag, globs, value in checks:
            for glob in globs:
                pred = compile_pattern(glob, path=flag == "--path")
                if not any((v := value(ln)) is not None and pred(v) for ln in events):
                    raise NarrowError(f"{flag} {glob}: matches nothing in either trace"
                                      + _known(flag, events))  # fmt: skip


def _sorted_sections(lines: list[Line]) -> list[Line]:
    """Each section's lines sorted by text (headers stay): ``ignore_order`` compares what
    each service did, not in which order its concurrent processes happened to do it."""
    out: list[Line] = []
    run: list[Line] = []
    for ln in [*lines, Line(0, "", "test")]:  # the sentinel flushes the last section
        if ln.kind == "event":
            run.append(ln)
            continue
        out.extend(sorted(run, key=lambda x: x.text))
        run = []
        if ln.number:
            out.append(ln)
    return out


def _known(flag: str, events: Sequence[Line]) -> str:
    if flag == "--service":
        names = sorted({ln.service for ln in events})
    elif flag == "--syscall":
        names = sorted({ln.syscall for ln in events if ln.type == _SYSCALL})
    else:
        return ""
    shown = ", ".join(names[:20]) + (", …" if len(names) > 20 else "")
    return f" (seen: {shown})" if names else ""
