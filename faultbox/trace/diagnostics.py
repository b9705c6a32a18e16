"""Post-test diagnostics: hints about faults that never fired, crashes, vacuous passes.

:func:`diagnose` looks at a finished :class:`TestResult` (its rules, events, outcome) and
returns :class:`Diagnostic` records; the console prints them under the test block and the
JSON export lists them. Also home of two helpers the writers share: :func:`syscall_summary`
and :func:`effective_rules`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from .events import Event
from .query import compile_pattern
from .results import Diagnostic, RuleReport, TestResult
from .vocabulary import EventType

__all__ = [
    "diagnose",
    "left_behind_diagnostic",
    "effective_rules",
    "family_calls",
    "is_faulted",
    "is_allowed",
    "not_fired_text",
    "passed_without_fault",
    "rule_text",
    "rules_from_events",
    "source_note_diagnostic",
    "syscall_summary",
    "unfired_faults",
]

FAULT_ACTIONS = frozenset({"deny", "delay", "partial", "error", "response", "drop", "duplicate"})


def is_allowed(decision: str) -> bool:
    """``allow``, ``allow (system path)``, ``allow (released)`` or no decision."""
    return decision == "" or decision.startswith("allow")


def is_faulted(decision: str) -> bool:
    """A decision that changed the call's outcome (deny/delay/hold…), i.e. not allow/trace."""
    return not is_allowed(decision) and decision != "trace"


def syscall_summary(events: Iterable[Event]) -> dict[str, dict]:
    """``{service: {"total": n, "faulted": n, "breakdown": {syscall: n}}}`` (sorted)."""
    totals: dict[str, Counter[str]] = {}
    faulted: Counter[str] = Counter()
    for ev in events:
        if ev.type != EventType.SYSCALL:
            continue
        svc = ev.service
        totals.setdefault(svc, Counter())[ev.fields.get("syscall", "")] += 1
        if is_faulted(ev.fields.get("decision", "")):
            faulted[svc] += 1
    return {
        svc: {
            "total": sum(c.values()),
            "faulted": faulted[svc],
            "breakdown": dict(sorted(c.items())),
        }
        for svc, c in sorted(totals.items())
    }


_DETAIL_RX = re.compile(
    r"^(?P<spec>(?P<action>[a-z_]+)(?:\((?P<arg>[^)]*)\))?)"
    r"(?:\s*→\s*filter:\[(?P<filter>[^\]]*)\])?"
    r'(?:.*?\blabel="(?P<label>(?:[^"\\]|\\.)*)")?'
)


def rules_from_events(events: Sequence[Event]) -> list[RuleReport]:
    """Rebuild rule reports from ``fault_applied``/``trace_applied`` events (the original's way).

    Used when the runner did not record :attr:`TestResult.rules`. Hits are the non-allow
    syscall events of that service, on one of the rule's syscalls, until the next
    ``fault_removed``/``trace_removed`` of that service.
    """
    out: list[RuleReport] = []
    for i, ev in enumerate(events):
        if ev.type not in (EventType.FAULT_APPLIED, EventType.TRACE_APPLIED):
            continue
        kind = "fault" if ev.type == EventType.FAULT_APPLIED else "trace"
        end_type = EventType.FAULT_REMOVED if kind == "fault" else EventType.TRACE_REMOVED
        window: list[Event] = []
        for later in events[i + 1 :]:
            if later.type == end_type and later.service == ev.service:
                break
            if later.type == EventType.SYSCALL and later.service == ev.service:
                window.append(later)
        for key, detail in sorted(ev.fields.items()):
            m = _DETAIL_RX.match(detail)
            if not m:
                continue
            action = m.group("action")
            flt = [s for s in (m.group("filter") or "").split(",") if s]
            names = set(flt) or {key}
            if action == "trace":
                hits = sum(
                    1
                    for w in window
                    if w.fields.get("decision") == "trace" and w.fields.get("syscall") in names
                )
            else:
                hits = sum(
                    1
                    for w in window
                    if is_faulted(w.fields.get("decision", "")) and w.fields.get("syscall") in names
                )
            out.append(
                RuleReport(
                    kind=kind,
                    service=ev.service,
                    key=key,
                    action=action,
                    spec=m.group("spec"),
                    filter=flt,
                    label=(m.group("label") or "").replace('\\"', '"'),
                    hits=hits,
                    errno=m.group("arg") or "",
                )
            )
    return out


def effective_rules(result: TestResult) -> list[RuleReport]:
    """``result.rules`` if the runner recorded them, else rules rebuilt from events."""
    return list(result.rules) if result.rules else rules_from_events(result.events)


def rule_text(r: RuleReport) -> str:
    """``write=deny(EIO) on db label="x"``: how messages and reports name a rule."""
    label = f' label="{r.label}"' if r.label else ""
    return f"{r.key}={r.spec} on {r.service}{label}"


def _fault_rules(rules: Iterable[RuleReport]) -> list[RuleReport]:
    return [r for r in rules if r.kind != "trace" and r.action in FAULT_ACTIONS]


def _partitions_fired(rules: Iterable[RuleReport]) -> set[str]:
    # A partition is one rule per direction; traffic usually flows one way only, so it
    # counts as fired when any direction fired (rules of one partition share a label).
    return {r.label for r in rules if r.kind == "partition" and r.hits > 0}


def _rules_not_fired(rules: list[RuleReport]) -> list[RuleReport]:
    """Deny/delay rules with 0 hits (a partition that fired one way counts as fired)."""
    fired = _partitions_fired(rules)
    return [r for r in rules if r.hits == 0 and not (r.kind == "partition" and r.label in fired)]


def _fault_key(r: RuleReport) -> tuple[str, ...]:
    if r.kind == "partition":
        return (r.kind, r.label)
    return (r.kind, r.service, r.spec, r.label)


def unfired_faults(result: TestResult) -> list[RuleReport]:
    """The rules of the faults of a test that never fired.

    A fault is one effect on one service: the rules with the same kind, service, spec and
    label, e.g. ``read=deny(ECONNRESET)`` and ``recvfrom=deny(ECONNRESET)`` on api (syscall
    variants of one failure), or both directions of a partition. It fired when any of its
    rules did. (``FAULT_NOT_FIRED`` is finer: one warning per rule with 0 hits.)
    """
    rules = _fault_rules(effective_rules(result))
    fired = {_fault_key(r) for r in rules if r.hits > 0}
    return [r for r in rules if _fault_key(r) not in fired]


def passed_without_fault(result: TestResult) -> bool:
    """The test passed while at least one of its faults never fired (a vacuous pass?);
    see :func:`unfired_faults`."""
    return result.passed and bool(unfired_faults(result))


def _family(r: RuleReport) -> set[str]:
    return set(r.filter) or {r.key}


def family_calls(r: RuleReport, events: Iterable[Event]) -> int:
    """How many syscall events of ``r``'s service were of one of the syscalls ``r`` covers."""
    names = _family(r)
    return sum(
        1
        for e in events
        if e.type == EventType.SYSCALL
        and e.service == r.service
        and e.fields.get("syscall") in names
    )


def _calls_text(r: RuleReport, n: int) -> str:
    """``0 of 12 write calls matched`` / ``no write call was intercepted``."""
    names = _family(r)
    family = r.key if r.key in names else "/".join(sorted(names))
    if n == 0:
        return f"no {family} call was intercepted"
    return f"0 of {n} {family} call{'s' if n != 1 else ''} matched"


def _seen_text(r: RuleReport) -> str:
    """What a protocol rule saw instead (its ``filter`` holds the requests seen)."""
    if not r.filter:
        return "no request reached the interface while it was active"
    shown = ", ".join(r.filter[:5]) + (", …" if len(r.filter) > 5 else "")
    return f"requests seen: {shown}"


def not_fired_text(r: RuleReport, events: Iterable[Event]) -> str:
    """``fault write=deny(EIO) on db never fired (0 of 12 write calls matched)``."""
    if r.kind == "protocol":
        return f"fault {rule_text(r)} never matched ({_seen_text(r)})"
    return f"fault {rule_text(r)} never fired ({_calls_text(r, family_calls(r, events))})"


def _fault_not_fired(r: RuleReport, events: Sequence[Event]) -> Diagnostic:
    if r.kind == "protocol":
        return Diagnostic(
            level="warning",
            code="FAULT_NOT_FIRED",
            message=f"protocol rule {rule_text(r)} was installed but never matched (0 hits)",
            suggestion=_seen_text(r) + "\ncriteria are globs (INSERT*), case-insensitive",
            service=r.service,
            syscall=r.key,
        )
    svc_calls = [e for e in events if e.type == EventType.SYSCALL and e.service == r.service]
    names = _family(r)
    same_family = [e for e in svc_calls if e.fields.get("syscall") in names]
    hints: list[str] = []
    if r.path_glob and same_family:
        match = compile_pattern(r.path_glob)
        paths = sorted({e.fields.get("path", "") for e in same_family} - {""})
        if not any(match(p) for p in paths):
            shown = ", ".join(paths[:5]) + (", …" if len(paths) > 5 else "")
            hints.append(
                f"{len(same_family)} {r.key} call(s) were intercepted but none on a path "
                f'matching "{r.path_glob}" (paths seen: {shown or "unresolved"})'
            )
    if not same_family:
        hints.append(
            "the target may use a different syscall variant (e.g., pwrite64 instead of write), "
            "or never reached this code path while the rule was active"
        )
        seen = Counter(e.fields.get("syscall", "") for e in svc_calls)
        if seen:
            top = " ".join(f"{k}:{v}" for k, v in sorted(seen.items()))
            hints.append(f"syscalls intercepted on {r.service} meanwhile: {top}")
    if r.kind == "partition" or r.key == "connect":
        hints.append(
            "connect faults only affect new connections; a pooled connection opened before "
            "the rule was installed is not cut"
        )
    hints.append("run with --verbose to see all intercepted syscalls")
    return Diagnostic(
        level="warning",
        code="FAULT_NOT_FIRED",
        message=f"fault rule {rule_text(r)} was installed but never fired (0 hits), "
        + _calls_text(r, len(same_family)),
        suggestion="\n".join(hints),
        service=r.service,
        syscall=r.key,
    )


def left_behind_diagnostic(processes: list[str]) -> Diagnostic:
    """``LEFT_BEHIND`` (warning): processes that outlived their service (a daemon it forked
    into a session of its own) and that faultbox ended at the end of the test."""
    shown = ", ".join(processes[:5]) + (f" and {len(processes) - 5} more" if processes[5:] else "")
    return Diagnostic(
        level="warning",
        code="LEFT_BEHIND",
        message=f"processes outlived their service and were killed at the end of the test: {shown}",
        suggestion=(
            "a service daemonized (forked into a new session); run it in the foreground "
            "(e.g. redis-server --daemonize no, postgres instead of pg_ctl start) so that "
            "faultbox supervises and stops the process that does the work"
        ),
    )


def source_note_diagnostic(service: str, text: str) -> Diagnostic:
    """``SOURCE_NOTE`` (info): what an event source wants said at the end of a test, e.g. a
    ``wal_stream(tables=[…])`` name that matched nothing, or a topic that does not exist."""
    return Diagnostic(
        level="info",
        code="SOURCE_NOTE",
        message=text,
        suggestion="check the name in the spec's observe=[…] against what the service has",
        service=service,
    )


def _source_errors(result: TestResult) -> list[Diagnostic]:
    """``SOURCE_ERROR``: one per source_error event (error when the test failed)."""
    out = []
    for ev in result.events:
        if ev.type != EventType.SOURCE_ERROR:
            continue
        source = ev.fields.get("source", "source")
        arg = ev.fields.get("topic") or ev.fields.get("command") or ev.fields.get("url")
        what = f'{source}("{arg}")' if arg else source
        out.append(
            Diagnostic(
                level="warning" if result.passed else "error",
                code="SOURCE_ERROR",
                message=f"the {what} of {ev.service} {ev.fields.get('error', 'failed')} "
                f"(event #{ev.seq})",
                suggestion="a query over this source's events after that cannot be proven "
                "(docs/event-sources.md)",
                service=ev.service,
            )
        )
    return out


def _asserted_on_a_response(result: TestResult) -> bool:
    """Whether an assertion builtin ran after the test got an answer from a service.

    ``assert_eq(resp.status, 503)`` checks what the caller saw, which is as good a check of
    the failure path as a trace assertion. Values carry no provenance, so the test is
    temporal: the last assertion came after some ``step_recv`` event.
    """
    mark = result.last_assertion_seq
    if not mark:
        return False
    return any(ev.type == EventType.STEP_RECV and ev.seq <= mark for ev in result.events)


def diagnose(result: TestResult) -> list[Diagnostic]:
    """Diagnostics for one finished test, most severe first.

    * ``SERVICE_CRASHED`` (error; info when the test passed): a ``service_exited`` event not
      caused by faultbox's own teardown (``fields["expected"] != "true"``), with its exit code
      / signal.
    * ``TIMEOUT_DURING_FAULT`` (error): the test timed out while a delay fault fired.
    * ``FAULT_NOT_FIRED`` (warning): a deny/delay rule with 0 hits.
    * ``FAULT_FIRED_BUT_SUCCESS`` (warning): a deny rule hit, the test passed, and the test
      made no trace assertion (needs :attr:`TestResult.trace_assertions`; skipped if unknown)
      nor any assertion after a step's answer (:attr:`TestResult.last_assertion_seq`).
    * ``MULTIPLE_FAULTS_INTERACTION`` (info): the test failed with more than one rule firing.
    """
    events = result.events
    rules = effective_rules(result)
    out: list[Diagnostic] = []

    for ev in events:
        if ev.type != EventType.SERVICE_EXITED or ev.fields.get("expected") == "true":
            continue
        if result.failure_type == "service_start":
            continue  # the start failure itself already says which service exited and how
        code = ev.fields.get("exit_code", "")
        sig = ev.fields.get("signal", "")
        how = f"killed by {sig}" if sig else f"exit code {code or '?'}"
        if result.passed:
            # The test asserted on the exit (an exit nobody asserted on fails the test):
            # worth a note, not an error inside a PASS block.
            suggestion = (
                "the test passed: it asserted on the exit (an exit the test does not look "
                "at fails it), as with "
                f'assert_eventually(type="service_exited", service="{ev.service}")'
            )
        elif result.failure_type == "service_exited":
            suggestion = (
                f"{ev.service} exited by itself and the test did not assert on it; if the "
                "exit is expected, say so: "
                f'assert_eventually(type="service_exited", service="{ev.service}")'
            )
        else:
            suggestion = (
                f"{ev.service} exited while the test was still running; check its output "
                "(shown with the failure) — an unhandled injected error is a common cause"
            )
        faults_on_svc = [
            r for r in rules if r.service == ev.service and r.hits > 0 and r.action in FAULT_ACTIONS
        ]
        if faults_on_svc:
            suggestion += "; faults that fired on it: " + ", ".join(
                f"{r.key}={r.spec}" for r in faults_on_svc
            )
        out.append(
            Diagnostic(
                level="info" if result.passed else "error",
                code="SERVICE_CRASHED",
                message=f"service {ev.service} exited during the test ({how}, event #{ev.seq})",
                suggestion=suggestion,
                service=ev.service,
            )
        )

    out.extend(_source_errors(result))
    fault_rules = _fault_rules(rules)

    if not result.passed and result.failure_type == "timeout":
        delays = [r for r in fault_rules if r.action == "delay" and r.hits > 0]
        if delays:
            out.append(
                Diagnostic(
                    level="error",
                    code="TIMEOUT_DURING_FAULT",
                    message="the test timed out while delay faults were firing: "
                    + ", ".join(rule_text(r) for r in delays),
                    suggestion="the delay may exceed a client timeout or the test timeout; "
                    "shorten the delay or raise the timeout if the wait is expected",
                    service=delays[0].service,
                    syscall=delays[0].key,
                )
            )

    for r in _rules_not_fired(fault_rules):
        out.append(_fault_not_fired(r, events))

    if result.passed and result.trace_assertions == 0 and not _asserted_on_a_response(result):
        for r in fault_rules:
            if r.action == "deny" and r.hits > 0:
                what = (
                    "made no assertions at all"
                    if result.assertions == 0
                    else "made no trace assertion and no assertion on a step's answer"
                )
                out.append(
                    Diagnostic(
                        level="warning",
                        code="FAULT_FIRED_BUT_SUCCESS",
                        message=f"fault rule {rule_text(r)} fired {r.hits} time(s) and the "
                        f"test passed, but it {what}",
                        suggestion="check that the failure path really ran, e.g. "
                        f'assert_eventually(service="{r.service}", decision="deny*") '
                        "or assert on the error the caller saw",
                        service=r.service,
                        syscall=r.key,
                    )
                )

    fired = [r for r in rules if r.kind != "trace" and r.hits > 0 and r.action in FAULT_ACTIONS]
    if not result.passed and len(fired) > 1:
        out.append(
            Diagnostic(
                level="info",
                code="MULTIPLE_FAULTS_INTERACTION",
                message=f"{len(fired)} fault rules fired in this failing test: "
                + ", ".join(rule_text(r) for r in fired),
                suggestion="the failure may come from their combination; run each fault alone "
                "to see which one causes it",
            )
        )
    return out
