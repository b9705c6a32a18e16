"""Protocol fault builtins: error, response, drop, duplicate (and delay's protocol form).

They only describe a rule; ``fault(svc.iface, rule, …, run=fn)``, ``fault_start(svc.iface,
rule, …)`` and ``fault_assumption(target=svc.iface, rules=[…])`` bind rules to an interface.
The proxy (``faultbox/proxy``) carries them out on every connection to that interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlark import StarlarkList

from faultbox.proxy.rules import CRITERIA, PROTOCOL_ACTIONS, PROTOCOL_CRITERIA, ProtocolRule

from ._builtin import builtin, type_name, want
from ._interp import HostValue
from .errors import SpecError
from .rule_sets import duration_value, parse_probability
from .values import FaultRuleSpec, InterfaceRef


@dataclass(eq=False)
class ProtocolRuleSpec(HostValue):
    """A protocol rule before it is bound to an interface."""

    rule: ProtocolRule

    _starlark_type = "protocol_rule"

    def __repr__(self) -> str:
        return self.rule.spec_text()


def _criteria(builtin_name: str, values: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    out = []
    for name in CRITERIA:
        value = values.get(name)
        if value is None:
            continue
        want(value, str, builtin_name, name, 'a string (a glob such as "INSERT*")')
        out.append((name, value))
    return tuple(out)


def _status(builtin_name: str, status: Any) -> int | str | None:
    if status is None:
        return None
    if isinstance(status, bool):
        raise SpecError(f"{builtin_name}(): status must be an HTTP status or a SQLSTATE")
    if isinstance(status, int):
        if not 100 <= status <= 599:
            raise SpecError(f"{builtin_name}(): HTTP status {status} is outside 100-599")
        return status
    if (
        isinstance(status, str)
        and len(status) == 5
        and status.isalnum()
        and status == status.upper()
    ):
        return status  # a SQLSTATE such as "23505"
    raise SpecError(
        f'{builtin_name}(): status must be an HTTP status (503) or a SQLSTATE ("23505"), '
        f"got {status!r}"
    )


def _rule(builtin_name: str, action: str, criteria: dict[str, Any], probability: Any,
          label: Any, **payload: Any) -> ProtocolRuleSpec:  # fmt: skip
    want(label, str, builtin_name, "label", "a string")
    for name in ("message", "body"):
        if payload.get(name) is not None:
            want(payload[name], str, builtin_name, name, "a string")
    value = payload.get("value")
    if value is not None:
        want(value, str, builtin_name, "value", "a string")
    return ProtocolRuleSpec(ProtocolRule(
        action=action, criteria=_criteria(builtin_name, criteria),
        status=_status(builtin_name, payload.get("status")),
        message=payload.get("message") or "", body=payload.get("body") or "", value=value,
        delay_ns=payload.get("delay_ns", 0),
        probability=parse_probability(probability, builtin_name), label=label,
    ))  # fmt: skip


@builtin("error")
def error(
    method: Any = None, path: Any = None, query: Any = None, command: Any = None,
    key: Any = None, topic: Any = None, status: Any = None, message: Any = None,
    probability: Any = "100%", label: str = "",
) -> ProtocolRuleSpec:  # fmt: skip
    """Refuse matching requests: an HTTP error status, a SQL error, a Redis error reply."""
    crit = {"method": method, "path": path, "query": query, "command": command, "key": key,
            "topic": topic}  # fmt: skip
    return _rule("error", "error", crit, probability, label, status=status, message=message)


@builtin("response")
def response(
    method: Any = None, path: Any = None, query: Any = None, command: Any = None,
    key: Any = None, topic: Any = None, status: Any = None, body: Any = None,
    value: Any = None, probability: Any = "100%", label: str = "",
) -> ProtocolRuleSpec:  # fmt: skip
    """Answer matching requests in the server's place (HTTP status + body, a Redis value)."""
    crit = {"method": method, "path": path, "query": query, "command": command, "key": key,
            "topic": topic}  # fmt: skip
    return _rule("response", "response", crit, probability, label, status=status, body=body,
                 value=value)  # fmt: skip


@builtin("drop")
def drop(
    method: Any = None, path: Any = None, query: Any = None, command: Any = None,
    key: Any = None, topic: Any = None, probability: Any = "100%", label: str = "",
) -> ProtocolRuleSpec:  # fmt: skip
    """Close the connection (both ends) instead of passing a matching request on."""
    crit = {"method": method, "path": path, "query": query, "command": command, "key": key,
            "topic": topic}  # fmt: skip
    return _rule("drop", "drop", crit, probability, label)


@builtin("duplicate")
def duplicate(topic: Any = None, probability: Any = "100%", label: str = "") -> ProtocolRuleSpec:
    """Send a matching request (a tcp line) to the server twice."""
    return _rule("duplicate", "duplicate", {"topic": topic}, probability, label)


def protocol_delay(duration: Any, criteria: dict[str, Any], probability: Any,
                   label: str) -> ProtocolRuleSpec:  # fmt: skip
    """``delay("500ms", query="SELECT*")``: hold matching requests, then pass them on."""
    ns, _text = duration_value(duration)
    return _rule("delay", "delay", criteria, probability, label, delay_ns=ns)


def bind_rules(iface: InterfaceRef, rules: Any, builtin_name: str) -> list[ProtocolRule]:
    """Check ``rules`` (protocol rules, or a plain ``delay``) against ``iface``'s protocol."""
    if isinstance(rules, StarlarkList):
        rules = list(rules)
    out = []
    for spec in rules:
        if isinstance(spec, FaultRuleSpec) and spec.action == "delay":
            rule = ProtocolRule("delay", delay_ns=spec.delay_ns, probability=spec.probability,
                                label=spec.label)  # fmt: skip
        elif isinstance(spec, ProtocolRuleSpec):
            rule = spec.rule
        else:
            raise SpecError(
                f"{builtin_name}(): rules for interface {iface.service.name}.{iface.name} must "
                f"be error(...), response(...), drop(...), duplicate(...) or delay(...), "
                f"got {type_name(spec)}"
            )
        protocol = iface.protocol
        known = PROTOCOL_CRITERIA.get(protocol)
        actions = PROTOCOL_ACTIONS.get(protocol)
        where = f"{builtin_name}(): {iface.service.name}.{iface.name} ({protocol})"
        if known is None or actions is None:
            raise SpecError(f"{where}: protocol faults are not supported for {protocol}")
        for name, _ in rule.criteria:
            if name not in known:
                have = ", ".join(sorted(known)) or "none (every request matches)"
                raise SpecError(f"{where} has no {name}= criterion (criteria: {have})")
        if rule.action not in actions:
            raise SpecError(f"{where}: {rule.action}() is not supported (supported: "
                            f"{', '.join(sorted(actions))})")  # fmt: skip
        if protocol == "postgres" and isinstance(rule.status, int):
            raise SpecError(f'{where}: status= is a SQLSTATE here, e.g. status="23505"')
        if protocol == "http" and isinstance(rule.status, str):
            raise SpecError(f"{where}: status= is an HTTP status here, e.g. status=503")
        out.append(rule)
    if not out:
        raise SpecError(f"{builtin_name}(): give at least one rule, e.g. error(...)")
    return out
