"""Failure-mode stages as tests: baseline, reproduce, prevent, recover.

Every ``failure_mode(...)`` of a spec becomes up to four tests ``test_<id>_<stage>``:

* baseline — no fault, no guardrail: every invariant must hold, otherwise the experiment
  itself is invalid (the test fails and says so).
* reproduce — the faults, no guardrail: at least one invariant must be violated (the test
  passes and its labels carry the violated ids and the evidence events); if all of them
  hold, the reproduction is *stale* and the test fails.
* prevent — the faults and the guardrail: every invariant must hold.
* recover — the faults and the guardrail, then ``recover(lab)`` (typically ``crash()`` and
  ``restart()``), then every invariant must hold.

``config=`` overrides apply in every stage; ``guardrail=`` overrides in prevent and recover.
The invariants are checked while the faults are still active (except in recover, which
checks after its recovery), so a check sees the system in the state the fault left it in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlark import BuiltinFunction, EvalError

from faultbox.starlark_env import _interp
from faultbox.starlark_env.context import require_session
from faultbox.starlark_env.errors import AssertionFailure, TestTimeout, error_message
from faultbox.starlark_env.lab_builtins import (
    FailureModeDef,
    InvariantDef,
    LabStage,
    Violation,
    lab_declarations,
)
from faultbox.starlark_env.loader import LoadedSpec
from faultbox.starlark_env.queries import EventValue
from faultbox.trace.events import Event

#: Evidence events kept per violated invariant (the first ones: they show how it started).
EVIDENCE_KEPT = 8


@dataclass
class StageTest:
    """What discovery turns into a TestCase."""

    name: str
    fn: Any  # a Starlark builtin the runner calls as the test body
    timeout_s: float | None
    prepare: Callable[[Any], None]


@dataclass
class CheckOutcome:
    invariant: str
    holds: bool
    message: str = ""
    evidence: tuple[Event, ...] = ()


def stage_tests(spec: LoadedSpec) -> list[StageTest]:
    """One test per stage of every failure mode the spec declares."""
    out = []
    for fm in lab_declarations(spec.registry).failure_modes:
        for stage in fm.stages:
            out.append(
                StageTest(
                    name=f"test_{fm.id}_{stage}",
                    fn=BuiltinFunction(name=f"{fm.id}_{stage}", impl=_body(fm, stage)),
                    timeout_s=fm.timeout_s,
                    prepare=_prepare(spec, fm, stage),
                )
            )
    return out


def _prepare(spec: LoadedSpec, fm: FailureModeDef, stage: str) -> Callable[[Any], None]:
    def prepare(session: Any) -> None:
        overrides = list(fm.config)
        if stage in ("prevent", "recover"):
            overrides += fm.guardrail  # a guardrail override wins over the config's
        services = spec.registry.services
        for ov in overrides:
            base = session.overrides.get(ov.service.name, services[ov.service.name])
            session.overrides[ov.service.name] = ov.apply(base)
        session.labels.update(
            failure_mode=fm.id, stage=stage, invariants=",".join(i.id for i in fm.invariants)
        )
        if stage in ("prevent", "recover") and fm.guardrail:
            session.labels["guardrail"] = "; ".join(o.describe() for o in fm.guardrail)

    return prepare


def _body(fm: FailureModeDef, stage: str) -> Callable[[], None]:
    def run() -> None:
        session = require_session(f"{fm.id}_{stage}")
        lab = LabStage(fm=fm.id, stage=stage)
        faults = [] if stage == "baseline" else fm.faults
        with session.assumptions(faults):
            _interp.call_starlark(fm.scenario, lab)
            if stage != "recover":
                outcomes = check_invariants(session, fm.invariants)
        if stage == "recover":
            _interp.call_starlark(fm.recover, lab)
            outcomes = check_invariants(session, fm.invariants)
        judge(session, fm, stage, outcomes)

    return run


def check_invariants(session: Any, invariants: list[InvariantDef]) -> list[CheckOutcome]:
    """Run every invariant's check; a failing check (fail(), assert_*) is a violation."""
    out = []
    for inv in invariants:
        session.log.sync()
        try:
            value = _interp.call_starlark(inv.check)
        except TestTimeout:
            raise
        except EvalError as exc:
            out.append(CheckOutcome(inv.id, False, error_message(exc)))
            continue
        out.append(_outcome(inv.id, value))
    return out


def _outcome(inv_id: str, value: Any) -> CheckOutcome:
    """Read a check's return value: None/True/empty list hold; anything else is a violation."""
    if value is None or value is True:
        return CheckOutcome(inv_id, True)
    if value is False:
        return CheckOutcome(inv_id, False, "check returned False")
    if isinstance(value, str):
        return CheckOutcome(inv_id, not value, value)
    if isinstance(value, Violation):
        return CheckOutcome(inv_id, False, value.message, _events(value.evidence))
    items = list(value) if hasattr(value, "__iter__") else [value]
    if not items:
        return CheckOutcome(inv_id, True)
    messages = [v.message for v in items if isinstance(v, Violation)]
    evidence: list[Any] = []
    for v in items:
        evidence.extend(v.evidence if isinstance(v, Violation) else [v])
    return CheckOutcome(inv_id, False, "; ".join(messages), _events(evidence))


def _events(values: Any) -> tuple[Event, ...]:
    return tuple(v.event for v in values if isinstance(v, EventValue))


def evidence_line(ev: Event) -> str:
    """One event as evidence: ``#41 effects: j1: effect applied by worker_b``."""
    what = ""
    if isinstance(ev.data, dict):
        what = str(ev.data.get("msg", "")) or ""
    if not what and "syscall" in ev.fields:
        parts = [ev.fields.get(k, "") for k in ("syscall", "decision", "path")]
        what = " ".join(p for p in parts if p)
    if not what:
        what = " ".join(f"{k}={v}" for k, v in sorted(ev.fields.items())) or ev.type
    return f"#{ev.seq} {ev.service or '-'} {ev.type}: {what}"


def _describe(outcomes: list[CheckOutcome]) -> str:
    lines = []
    for o in outcomes:
        if o.holds:
            continue
        lines.append(f"{o.invariant} violated" + (f": {o.message}" if o.message else ""))
        lines.extend("    " + evidence_line(ev) for ev in o.evidence[:EVIDENCE_KEPT])
        if len(o.evidence) > EVIDENCE_KEPT:
            lines.append(f"    … {len(o.evidence) - EVIDENCE_KEPT} more events")
    return "\n".join(lines)


def judge(session: Any, fm: FailureModeDef, stage: str, outcomes: list[CheckOutcome]) -> None:
    """Record the verdict in the session's labels; raise AssertionFailure if the stage failed."""
    violated = [o for o in outcomes if not o.holds]
    labels = session.labels
    for o in outcomes:
        labels[o.invariant] = "holds" if o.holds else "violated"
    labels["violated"] = ",".join(o.invariant for o in violated)
    detail = _describe(outcomes)
    if detail:
        labels["evidence"] = detail
    if stage == "reproduce":
        if violated:
            labels["verdict"] = "reproduced"
            return
        labels["verdict"] = "stale"
        ids = ", ".join(o.invariant for o in outcomes)
        raise AssertionFailure(
            f"{fm.id} reproduce is stale: under the faults every invariant held ({ids}); "
            "the reproduction no longer reproduces"
        )
    if not violated:
        labels["verdict"] = {"baseline": "valid", "prevent": "prevented"}.get(stage, "recovered")
        return
    if stage == "baseline":
        labels["verdict"] = "invalid"
        raise AssertionFailure(
            f"{fm.id} experiment invalid: without faults or guardrail the invariants must hold\n"
            + detail
        )
    labels["verdict"] = "not_prevented" if stage == "prevent" else "not_recovered"
    raise AssertionFailure(f"{fm.id} {stage} failed\n{detail}")
