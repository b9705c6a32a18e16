from __future__ import annotations

from tracekit import TraceBuilder, make_result, order_trace, slow_wal_rule

from faultbox.trace.diagnostics import (
    diagnose,
    effective_rules,
    family_calls,
    is_faulted,
    not_fired_text,
    passed_without_fault,
    rules_from_events,
    syscall_summary,
    unfired_faults,
)
from faultbox.trace.results import RuleReport


def codes(diags) -> list[str]:
    return [d.code for d in diags]


def deny_rule(hits: int, key: str = "write", **kw) -> RuleReport:
    return RuleReport(
        kind="fault",
        service=kw.pop("service", "inventory"),
        key=key,
        action="deny",
        spec=kw.pop("spec", "deny(EIO)"),
        filter=kw.pop("filter", ["write", "writev", "pwrite64"]),
        hits=hits,
        errno="EIO",
        **kw,
    )


def test_is_faulted() -> None:
    assert is_faulted("deny(input/output error)")
    assert is_faulted("delay(100ms)")
    assert not is_faulted("allow")
    assert not is_faulted("allow (system path)")
    assert not is_faulted("trace")
    assert not is_faulted("")


def test_syscall_summary(order_events) -> None:
    s = syscall_summary(order_events)
    assert list(s) == ["inventory", "orders"]
    assert s["inventory"] == {
        "total": 5,
        "faulted": 2,
        "breakdown": {"fsync": 1, "openat": 1, "write": 3},
    }
    assert s["orders"]["total"] == 1


def test_rules_from_events_matches_original_derivation(order_events) -> None:
    rules = rules_from_events(order_events)
    assert len(rules) == 1
    r = rules[0]
    assert (r.kind, r.service, r.key, r.action, r.spec) == (
        "fault",
        "inventory",
        "write",
        "delay",
        "delay(100ms)",
    )
    assert r.filter == ["write", "writev", "pwrite64"]
    assert r.label == "slow WAL"
    assert r.hits == 2
    assert r.errno == "100ms"


def test_effective_rules_prefers_runner_rules(order_events) -> None:
    mine = deny_rule(5)
    assert effective_rules(make_result(events=order_events, rules=[mine])) == [mine]
    assert effective_rules(make_result(events=order_events))[0].key == "write"


def test_fault_not_fired_variant_hint() -> None:
    b = TraceBuilder()
    b.start("inventory")
    b.syscall("inventory", "openat", path="/tmp/inventory.wal")
    b.syscall("inventory", "fsync")
    r = make_result(events=b.events(), rules=[deny_rule(0)])
    diags = diagnose(r)
    assert codes(diags) == ["FAULT_NOT_FIRED"]
    d = diags[0]
    assert d.level == "warning" and d.service == "inventory" and d.syscall == "write"
    assert "never fired" in d.message
    assert "different syscall variant" in d.suggestion
    assert "syscalls intercepted on inventory meanwhile: fsync:1 openat:1" in d.suggestion


def test_fault_not_fired_path_hint() -> None:
    b = TraceBuilder()
    b.syscall("inventory", "write", path="/tmp/x.log")
    r = make_result(events=b.events(), rules=[deny_rule(0, path_glob="*.wal")])
    d = diagnose(r)[0]
    assert 'none on a path matching "*.wal" (paths seen: /tmp/x.log)' in d.suggestion


def test_trace_rules_never_warn() -> None:
    t = RuleReport("trace", "inventory", "write", "trace", "trace", ["write"], hits=0)
    assert diagnose(make_result(rules=[t], trace_assertions=0)) == []


def test_fault_fired_but_success() -> None:
    r = make_result(rules=[deny_rule(3)], assertions=0, trace_assertions=0)
    diags = diagnose(r)
    assert codes(diags) == ["FAULT_FIRED_BUT_SUCCESS"]
    assert "made no assertions at all" in diags[0].message
    r = make_result(rules=[deny_rule(3)], assertions=2, trace_assertions=0)
    assert "made no trace assertion" in diagnose(r)[0].message
    # with a trace assertion, failing, or unknown counts: nothing
    assert diagnose(make_result(rules=[deny_rule(3)], trace_assertions=1)) == []
    assert diagnose(make_result(rules=[deny_rule(3)])) == []
    assert "FAULT_FIRED_BUT_SUCCESS" not in codes(
        diagnose(make_result(passed=False, rules=[deny_rule(3)], trace_assertions=0))
    )


def test_service_crashed() -> None:
    b = TraceBuilder()
    b.start("inventory")
    b.emit("service_exited", "inventory", exit_code="2", expected="false")
    b.emit("service_exited", "orders", exit_code="-15", signal="SIGTERM", expected="true")
    diags = diagnose(make_result(passed=False, events=b.events(), rules=[deny_rule(1)]))
    assert codes(diags) == ["SERVICE_CRASHED"]
    d = diags[0]
    assert d.level == "error" and d.service == "inventory"
    assert "exit code 2" in d.message and "event #3" in d.message
    assert "write=deny(EIO)" in d.suggestion


def test_multiple_faults_and_timeout() -> None:
    rules = [deny_rule(1), slow_wal_rule(2)]
    r = make_result(passed=False, failure_type="timeout", rules=rules)
    diags = diagnose(r)
    assert codes(diags) == ["TIMEOUT_DURING_FAULT", "MULTIPLE_FAULTS_INTERACTION"]
    assert diags[1].level == "info"
    assert codes(diagnose(make_result(passed=True, rules=rules))) == []


def test_diagnose_uses_events_when_no_rules() -> None:
    b = order_trace()
    b.emit("fault_applied", "orders", connect="deny(connection refused) → filter:[connect]")
    b.emit("fault_removed", "orders")
    diags = diagnose(make_result(events=b.events()))
    assert codes(diags) == ["FAULT_NOT_FIRED"]
    assert diags[0].service == "orders"
    assert "pooled connection" in diags[0].suggestion


def _partition_rule(service: str, hits: int) -> RuleReport:
    return RuleReport(
        kind="partition", service=service, key="connect", action="deny",
        spec="deny(ECONNREFUSED)", filter=["connect"], label="partition api<->db", hits=hits,
        errno="ECONNREFUSED",
    )  # fmt: skip


def test_a_partition_that_fired_one_way_is_not_reported_as_not_fired() -> None:
    result = make_result(rules=[_partition_rule("api", 2), _partition_rule("db", 0)])
    assert "FAULT_NOT_FIRED" not in codes(diagnose(result))


def test_a_partition_that_never_fired_is_reported() -> None:
    result = make_result(rules=[_partition_rule("api", 0), _partition_rule("db", 0)])
    assert codes(diagnose(result)).count("FAULT_NOT_FIRED") == 2


def test_fault_not_fired_counts_the_calls_it_could_have_matched() -> None:
    b = TraceBuilder()
    for _ in range(3):
        b.syscall("inventory", "write", path="/tmp/x.log")
    b.syscall("inventory", "fsync")
    r = make_result(events=b.events(), rules=[deny_rule(0, path_glob="*.wal")])
    (d,) = diagnose(r)
    assert d.message == (
        "fault rule write=deny(EIO) on inventory was installed but never fired (0 hits), "
        "0 of 3 write calls matched"
    )
    assert unfired_faults(r) == r.rules and passed_without_fault(r)
    assert not_fired_text(r.rules[0], r.events) == (
        "fault write=deny(EIO) on inventory never fired (0 of 3 write calls matched)"
    )
    op = deny_rule(0, key="wal_write", filter=["write", "pwrite64"])
    assert family_calls(op, r.events) == 3
    assert not_fired_text(op, []) == (
        "fault wal_write=deny(EIO) on inventory never fired (no pwrite64/write call was "
        "intercepted)"
    )
    assert not passed_without_fault(make_result(passed=False, events=[], rules=[deny_rule(0)]))
    assert not passed_without_fault(make_result(events=[], rules=[deny_rule(1)]))


def test_an_exit_during_a_passing_test_is_a_note() -> None:
    b = TraceBuilder()
    b.start("db")
    b.emit("service_exited", "db", exit_code="1", expected="false")
    (d,) = diagnose(make_result(events=b.events(), rules=[]))
    assert (d.code, d.level) == ("SERVICE_CRASHED", "info")
    assert d.message == "service db exited during the test (exit code 1, event #3)"
    assert 'assert_eventually(type="service_exited", service="db")' in d.suggestion


def test_an_assertion_on_a_step_answer_checks_the_failure_path() -> None:
    b = order_trace()  # has a step: step_send/step_recv on orders
    recv = next(ev.seq for ev in b.events() if ev.type == "step_recv")
    after = make_result(
        events=b.events(), rules=[deny_rule(3)], assertions=1, trace_assertions=0,
        last_assertion_seq=recv,
    )  # fmt: skip
    assert "FAULT_FIRED_BUT_SUCCESS" not in codes(diagnose(after))
    before = make_result(
        events=b.events(), rules=[deny_rule(3)], assertions=1, trace_assertions=0,
        last_assertion_seq=recv - 1,
    )  # fmt: skip
    assert codes(diagnose(before)) == ["FAULT_FIRED_BUT_SUCCESS"]
    assert "no assertion on a step's answer" in diagnose(before)[0].message


def test_a_fault_fired_when_one_of_its_syscall_variants_did() -> None:
    # connection reset: read=deny(ECONNRESET) fired, recvfrom=deny(ECONNRESET) never did
    read = deny_rule(2, key="read", service="api", filter=["read"], spec="deny(ECONNRESET)")
    recv = deny_rule(0, key="recvfrom", service="api", filter=["recvfrom"], spec="deny(ECONNRESET)")
    r = make_result(events=[], rules=[read, recv], trace_assertions=1)
    assert unfired_faults(r) == [] and not passed_without_fault(r)
    # the rule itself is still reported, as every rule with 0 hits is
    assert codes(diagnose(r)) == ["FAULT_NOT_FIRED"]
    # another effect on the same service is another fault
    other = deny_rule(0, key="fsync", service="api", filter=["fsync"])
    r = make_result(events=[], rules=[read, recv, other], trace_assertions=1)
    assert unfired_faults(r) == [other]
