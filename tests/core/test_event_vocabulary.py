"""The event vocabulary's clock rules, applied by the event log itself (docs/traces.md), and
the step-method table that the runtime fills with handlers."""

from __future__ import annotations

import pytest

import faultbox.runtime.steps  # noqa: F401  (registers the step handlers)
from faultbox.starlark_env import step_methods
from faultbox.trace.events import EventLog
from faultbox.trace.vocabulary import CLOCK_RULES, TEST_HOST, ClockRule, EventType, Field


def test_every_event_type_has_a_clock_rule() -> None:
    assert set(CLOCK_RULES) == {t.value for t in EventType}
    assert CLOCK_RULES[EventType.SYSCALL] is ClockRule.TICK_THEN_MERGE_NETWORK
    assert CLOCK_RULES[EventType.SERVICE_READY] is ClockRule.TICK


def test_every_event_ticks_its_own_service_and_none_without_one() -> None:
    log = EventLog()
    a = log.emit(EventType.SERVICE_STARTED, "db")
    b = log.emit(EventType.STDOUT, "db", {"msg": "hi"})
    part = log.emit(EventType.PARTITION_APPLIED, "", {Field.BETWEEN: "db,api"})
    assert (a.vector_clock, b.vector_clock, part.vector_clock) == ({"db": 1}, {"db": 2}, {})
    assert type(a.type) is str and a.type == "service_started"


def _syscall(log: EventLog, svc: str, name: str, decision: str) -> None:
    log.emit(EventType.SYSCALL, svc, {Field.SYSCALL: name, Field.DECISION: decision})


@pytest.mark.parametrize(
    ("syscall", "decision", "merged"),
    [
        ("connect", "allow", True),
        ("sendto", "delay(10ms)", True),
        ("connect", "trace", True),
        ("connect", "deny(connection refused)", False),
        ("write", "allow", False),
    ],
)
def test_an_allowed_network_call_merges_every_host(
    syscall: str, decision: str, merged: bool
) -> None:
    log = EventLog()
    log.emit(EventType.SERVICE_READY, "db")
    log.emit(EventType.SERVICE_READY, "db")
    _syscall(log, "api", syscall, decision)
    after = log.emit(EventType.STDOUT, "api")
    assert after.vector_clock == ({"api": 2, "db": 2} if merged else {"api": 2})


def test_a_step_folds_the_test_into_its_target_and_back() -> None:
    log = EventLog()
    log.emit(EventType.SERVICE_READY, "orders")  # orders: 1
    send = log.emit(EventType.STEP_SEND, TEST_HOST, {Field.TARGET: "orders"})
    _syscall(log, "orders", "write", "allow")  # orders learned test's clock before the send
    handled = log.snapshot()[-1]
    recv = log.emit(EventType.STEP_RECV, TEST_HOST, {Field.TARGET: "orders"})
    assert send.vector_clock == {"test": 1}
    assert handled.vector_clock == {"orders": 2}  # the send's own tick is not yet known
    assert recv.vector_clock == {"test": 2, "orders": 2}


def test_every_declared_step_method_has_a_handler() -> None:
    assert step_methods.missing_handlers() == []
    assert step_methods.accepted_keywords("redis", "set") == ("key", "value", "ex")
    assert step_methods.accepted_keywords("redis", "nope") is None


def test_a_handler_for_an_undeclared_method_is_refused() -> None:
    with pytest.raises(ValueError, match="not declared"):
        step_methods.register_handlers("http", {"teleport": lambda s, i, k: None})
