"""Failure-lab builtins: invariant(), violation(), failure_mode(), override(), crash(), restart().

``invariant`` and ``failure_mode`` only declare; ``faultbox.runtime.lab_stages`` turns every
failure mode into its stage tests (baseline, reproduce, prevent, recover). ``override`` is a
variant of one service (extra env, other args, another binary) that a failure mode starts
instead of the declared service: ``config=`` for the system under study, ``guardrail=`` for
the fix. ``crash``/``restart`` act on the running test's session and work in any test.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from starlark import Dict, StarlarkList

from ._builtin import builtin, type_name, want
from ._interp import HostValue, call_position, is_callable
from .context import require_session
from .duration_args import duration_arg
from .errors import SpecError
from .plans import FaultAssumption
from .registry import SpecRegistry, current_registry
from .values import Service

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
STAGES = ("baseline", "reproduce", "prevent", "recover")


@dataclass(eq=False)
class InvariantDef(HostValue):
    """``invariant(id, description, check=fn)``: ``fn()`` decides whether it holds."""

    id: str
    description: str
    check: Any
    declared_at: str = ""

    _starlark_type = "invariant"

    @property
    def fields(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description}

    def __repr__(self) -> str:
        return f"<invariant {self.id}>"


@dataclass(eq=False)
class ServiceOverride(HostValue):
    """``override(svc, env={...}, args=[...], binary="...")``: one service, configured otherwise."""

    service: Service
    env: dict[str, str]
    args: list[str] | None = None
    binary: str = ""

    _starlark_type = "override"

    def apply(self, svc: Service) -> Service:
        """``svc`` with this variant's env merged in and its args/binary replaced."""
        return dataclasses.replace(
            svc,
            env={**svc.env, **self.env},
            args=list(self.args) if self.args is not None else list(svc.args),
            binary=self.binary or svc.binary,
        )

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.env.items()]
        if self.args is not None:
            parts.append("args=" + " ".join(self.args))
        if self.binary:
            parts.append(f"binary={self.binary}")
        return f"{self.service.name}: {', '.join(parts)}"

    def __repr__(self) -> str:
        return f"<override {self.describe()}>"


@dataclass(eq=False)
class FailureModeDef(HostValue):
    """A declared failure mode; its stages become tests ``test_<id>_<stage>``."""

    id: str
    title: str
    invariants: list[InvariantDef]
    scenario: Any
    faults: list[FaultAssumption] = field(default_factory=list)
    config: list[ServiceOverride] = field(default_factory=list)
    guardrail: list[ServiceOverride] = field(default_factory=list)
    recover: Any = None
    trigger: str = ""
    timeout_s: float | None = None
    declared_at: str = ""

    _starlark_type = "failure_mode"

    @property
    def stages(self) -> list[str]:
        """The stages this failure mode has (prevent needs a guardrail, recover a function)."""
        out = ["baseline", "reproduce"]
        if self.guardrail:
            out.append("prevent")
        if self.recover is not None:
            out.append("recover")
        return out

    @property
    def fields(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title}

    def __repr__(self) -> str:
        return f"<failure_mode {self.id}>"


@dataclass(eq=False)
class LabStage(HostValue):
    """What a scenario or recover function is told: ``lab.stage``, ``lab.faulted``, ``lab.guarded``."""

    fm: str
    stage: str

    _starlark_type = "lab_stage"

    @property
    def fields(self) -> dict[str, Any]:
        return {"id": self.fm, "stage": self.stage, "faulted": self.stage != "baseline",
                "guarded": self.stage in ("prevent", "recover")}  # fmt: skip


@dataclass(eq=False)
class Violation(HostValue):
    """``violation(message, evidence=[events])``: what a check returns when its invariant broke."""

    message: str
    evidence: list[Any]

    _starlark_type = "violation"

    @property
    def fields(self) -> dict[str, Any]:
        return {"message": self.message}


@dataclass
class LabDeclarations:
    invariants: dict[str, InvariantDef] = field(default_factory=dict)
    failure_modes: list[FailureModeDef] = field(default_factory=list)


def lab_declarations(reg: SpecRegistry) -> LabDeclarations:
    """The failure-lab declarations of one spec (kept on its registry)."""
    # Stored in the registry's instance dict so the registry needs no lab-specific field.
    found = reg.__dict__.get("_lab")
    if found is None:
        found = reg.__dict__["_lab"] = LabDeclarations()
    return found


def _identifier(value: Any, where: str, what: str) -> str:
    want(value, str, where, what, "a string")
    if not _ID.match(value):
        raise SpecError(f"{where}(): {what} {value!r} must be a letter then letters, digits or _")
    return str(value)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, StarlarkList | list | tuple):
        return list(value)
    return [value]


def _overrides(value: Any, where: str, arg: str) -> list[ServiceOverride]:
    out = _list(value)
    for item in out:
        if not isinstance(item, ServiceOverride):
            raise SpecError(f"{where}: {arg} items must be override(...), got {type_name(item)}")
    names = [o.service.name for o in out]
    if len(set(names)) != len(names):
        raise SpecError(f"{where}: {arg} overrides one service twice; merge them")
    return out


@builtin("invariant")
def invariant(id: Any, description: Any = "", check: Any = None) -> InvariantDef:
    """Declare an invariant; ``check()`` fails, returns False, a message or evidence if violated."""
    inv_id = _identifier(id, "invariant", "id")
    want(description, str, "invariant", "description", "a string")
    if not is_callable(check):
        raise SpecError(f"invariant({inv_id!r}): check= must be a function")
    decls = lab_declarations(current_registry())
    if inv_id in decls.invariants:
        raise SpecError(f"invariant({inv_id!r}): declared twice")
    inv = InvariantDef(id=inv_id, description=description, check=check, declared_at=call_position())
    decls.invariants[inv_id] = inv
    return inv


@builtin("override")
def override(service: Any, env: Any = None, args: Any = None, binary: Any = "") -> ServiceOverride:
    """A variant of ``service``: ``override(effects, env={"IDEMPOTENT": "1"})``."""
    if not isinstance(service, Service):
        raise SpecError(
            f"override(): the first argument must be a service, got {type_name(service)}"
        )
    where = f"override({service.name})"
    if env is not None and not isinstance(env, Dict | dict):
        raise SpecError(f"{where}: env= must be a dict of strings")
    env_map = {str(k): v for k, v in (env or {}).items()}
    for key, val in env_map.items():
        if not isinstance(val, str):
            raise SpecError(f"{where}: env[{key!r}] must be a string, got {type_name(val)}")
    arg_list = None if args is None else [str(a) for a in _list(args)]
    want(binary, str, "override", "binary", "a string")
    if not env_map and arg_list is None and not binary:
        raise SpecError(f"{where}: give env=, args= or binary= (an override that changes nothing)")
    return ServiceOverride(service=service, env=env_map, args=arg_list, binary=binary)


@builtin("failure_mode")
def failure_mode(
    id: Any,
    title: Any = "",
    invariants: Any = None,
    scenario: Any = None,
    faults: Any = None,
    config: Any = None,
    guardrail: Any = None,
    recover: Any = None,
    trigger: Any = "",
    timeout: Any = None,
) -> FailureModeDef:
    """Declare a failure mode: its stages run as tests ``test_<id>_<stage>``."""
    fm_id = _identifier(id, "failure_mode", "id")
    where = f"failure_mode({fm_id!r})"
    want(title, str, "failure_mode", "title", "a string")
    want(trigger, str, "failure_mode", "trigger", "a string")
    invs = _list(invariants)
    if not invs:
        raise SpecError(f"{where}: invariants= must list at least one invariant(...)")
    for inv in invs:
        if not isinstance(inv, InvariantDef):
            raise SpecError(
                f"{where}: invariants= items must be invariant(...), got {type_name(inv)}"
            )
    if not is_callable(scenario):
        raise SpecError(f"{where}: scenario= must be a function (it gets the stage: lab.faulted …)")
    if recover is not None and not is_callable(recover):
        raise SpecError(f"{where}: recover= must be a function")
    fas = _list(faults)
    for fa in fas:
        if not isinstance(fa, FaultAssumption):
            raise SpecError(
                f"{where}: faults= items must be fault_assumption(...), got {type_name(fa)}"
            )
    decls = lab_declarations(current_registry())
    if any(fm.id == fm_id for fm in decls.failure_modes):
        raise SpecError(f"{where}: declared twice")
    fm = FailureModeDef(
        id=fm_id, title=title, invariants=invs, scenario=scenario, faults=fas,
        config=_overrides(config, where, "config="),
        guardrail=_overrides(guardrail, where, "guardrail="),
        recover=recover, trigger=trigger,
        timeout_s=duration_arg(timeout, "failure_mode", "timeout") if timeout else None,
        declared_at=call_position(),
    )  # fmt: skip
    decls.failure_modes.append(fm)
    return fm


@builtin("violation")
def violation(message: Any, evidence: Any = None) -> Violation:
    """A violated invariant, for a check to return: the message and the events that prove it."""
    want(message, str, "violation", "message", "a string")
    return Violation(message=message, evidence=_list(evidence))


def _service_name(value: Any, builtin_name: str) -> str:
    if isinstance(value, Service):
        return value.name
    if isinstance(value, str):
        return value
    raise SpecError(f"{builtin_name}(): the argument must be a service, got {type_name(value)}")


def lose_unsynced_on_container(service: str) -> str:
    """Why ``crash(svc, lose_unsynced=True)`` is refused for an ``image=`` service."""
    return (
        f"crash({service}, lose_unsynced=True): {service!r} is a container (image=); the crash "
        "journal resolves created, truncated and renamed files by path in faultbox's own mount "
        "namespace, which names other files than the container's, so a power loss on a "
        "container is not modelled yet (docs/crash-consistency.md); crash it without "
        "lose_unsynced, or run it as a binary service"
    )


@builtin("crash")
def crash(service: Any, lose_unsynced: Any = False, torn: Any = False) -> None:
    """SIGKILL the service's process group now; recorded as ``service_exited`` crashed=true.

    ``lose_unsynced=True``: a power loss — what it wrote since each file's last fsync is
    undone (docs/crash-consistency.md); ``torn=True``: each file's un-fsynced writes are
    torn at one seeded byte, in their order (those before it survive)."""
    name = _service_name(service, "crash")
    want(lose_unsynced, bool, "crash", "lose_unsynced", "True or False")
    want(torn, bool, "crash", "torn", "True or False")
    if torn and not lose_unsynced:
        raise SpecError("crash(): torn=True needs lose_unsynced=True")
    if lose_unsynced and isinstance(service, Service) and service.image:
        raise SpecError(lose_unsynced_on_container(service.name))
    session = require_session("crash")
    try:
        session.crash(name, lose_unsynced, torn)
    except Exception as exc:  # a lifecycle failure fails the test, at the crash() line
        raise SpecError(str(exc)) from None


@builtin("restart")
def restart(service: Any) -> None:
    """Start the service again (same binary, args, env, data directory) and wait until ready."""
    name = _service_name(service, "restart")
    session = require_session("restart")
    try:
        session.restart(name)
    except Exception as exc:
        raise SpecError(str(exc)) from None
