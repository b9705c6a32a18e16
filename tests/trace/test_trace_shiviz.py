from __future__ import annotations

import json
import re

from tracekit import TraceBuilder, make_result

from faultbox.trace.results import SuiteResult
from faultbox.trace.shiviz import format_clock, format_shiviz, shiviz_description

LINE_RX = re.compile(r"(?P<host>\S+) (?P<clock>\{.*?\}) (?P<event>.*)")


def parse(text: str) -> list[tuple[str, dict, str]]:
    lines = text.split("\n")
    assert lines[0] == r"(?<host>\S+) (?<clock>\{.*?\}) (?<event>.*)"
    assert lines[1] == ""
    assert lines[-1] == ""  # trailing newline
    out = []
    for line in lines[2:-1]:
        m = LINE_RX.fullmatch(line)
        assert m, line
        out.append((m["host"], json.loads(m["clock"]), m["event"]))
    return out


def test_format_clock() -> None:
    assert format_clock({"test": 2, "inventory": 5}) == '{"inventory": 5, "test": 2}'
    assert format_clock({}) == "{}"


def test_descriptions(order_events) -> None:
    desc = [shiviz_description(e) for e in order_events if e.service]
    assert "lifecycle.started" in desc
    assert "fault_applied" in desc
    assert "step_send.orders post→orders" in desc
    assert "syscall.write delay(100ms) [slow WAL] /tmp/inventory.wal (+100ms)" in desc


def test_suite_log_is_monotonic(suite: SuiteResult) -> None:
    b = TraceBuilder()
    b.start("db")
    b.step("db")
    b.emit("partition_applied", "", between="db,orders")
    third = make_result("test_zz_other", False, events=b.events(), reason="line1\nline2")
    suite.results.append(third)
    parsed = parse(format_shiviz(suite))
    hosts = {h for h, _, _ in parsed}
    assert hosts == {"inventory", "orders", "test", "db"}
    last: dict[str, dict[str, int]] = {}
    for host, clock, _ in parsed:
        assert host in clock
        prev = last.get(host, {})
        assert clock[host] == prev.get(host, 0) + 1, (host, clock, prev)
        assert all(clock.get(h, 0) >= v for h, v in prev.items())
        last[host] = clock
    violations = [(c, e) for h, c, e in parsed if e.startswith("VIOLATION")]
    assert [e for _, e in violations] == [
        "VIOLATION [test_zz_flaky] assert_eq failed: 503 != 200",
        "VIOLATION [test_zz_other] line1 line2",
    ]
    # the violation knows everything that happened in its test
    first_clock = violations[0][0]
    inv_max = max(c["inventory"] for h, c, _ in parsed[: len(parsed) // 2] if h == "inventory")
    assert first_clock["inventory"] >= inv_max
    assert not any("partition" in e for _, _, e in parsed)


def test_event_count_matches(suite: SuiteResult) -> None:
    parsed = parse(format_shiviz(suite))
    n = sum(1 for r in suite.results for e in r.events if e.service)
    assert len(parsed) == n + suite.failed


def test_second_test_clocks_refer_to_its_own_events() -> None:
    def one(name: str):
        b = TraceBuilder()
        b.start("orders")
        b.step("orders")
        return make_result(name, True, events=b.events())

    text = format_shiviz(SuiteResult("s", [one("test_a"), one("test_b")], 1))
    assert text.split("\n")[2:-1] == [
        'orders {"orders": 1} lifecycle.started',
        'orders {"orders": 2} lifecycle.ready',
        'test {"test": 1} step_send.orders post→orders',
        'test {"orders": 2, "test": 2} step_recv.orders post→orders',
        'orders {"orders": 3} lifecycle.started',
        'orders {"orders": 4} lifecycle.ready',
        'test {"orders": 2, "test": 3} step_send.orders post→orders',
        'test {"orders": 4, "test": 4} step_recv.orders post→orders',
    ]
