from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from tracekit import make_result, slow_wal_rule

from faultbox.report.junitxml import junit_xml, write_junit
from faultbox.trace.results import SuiteResult


def test_junit_shape(suite: SuiteResult, tmp_path: Path) -> None:
    suite.results.append(
        make_result(
            "test_m",
            False,
            reason="bad \x01 char\nsecond line",
            failure_type="assertion",
            matrix=("order_flow", "db_down"),
            service_output={"db": "oops\x07"},
        )
    )
    p = tmp_path / "junit.xml"
    write_junit(suite, p)
    root = ET.parse(p).getroot()
    assert root.tag == "testsuites"
    (ts,) = root.findall("testsuite")
    assert ts.get("name") == "faultbox"
    assert (ts.get("tests"), ts.get("failures"), ts.get("errors"), ts.get("skipped")) == (
        "3",
        "2",
        "0",
        "0",
    )
    assert ts.get("time") == "0.500"
    cases = ts.findall("testcase")
    assert [c.get("name") for c in cases] == ["test_wal_written", "test_zz_flaky", "test_m"]
    assert {c.get("classname") for c in cases} == {"traces-test"}
    assert cases[0].get("time") == "0.225"
    assert cases[0].find("failure") is None
    assert len(root.findall(".//failure")) == int(ts.get("failures"))
    fail = cases[1].find("failure")
    assert fail.get("message") == "assert_eq failed: 503 != 200"
    assert fail.get("type") == "assertion"
    assert "replay: faultbox test traces-test.star --test zz_flaky --seed 7" in fail.text
    assert "per-service syscall summary:" in fail.text
    m = cases[2]
    assert m.find("failure").get("message") == "bad \ufffd char"
    props = {p.get("name"): p.get("value") for p in m.find("properties")}
    assert props == {"scenario": "order_flow", "fault": "db_down", "seed": "0"}
    assert "oops" in m.find("system-out").text


def test_repeated_runs_get_distinct_names() -> None:
    runs = [make_result("test_x", True, run_index=i) for i in range(3)]
    root = ET.fromstring(junit_xml(SuiteResult("a/b/spec.star", runs, 3)).split("\n", 1)[1])
    names = [c.get("name") for c in root.iter("testcase")]
    assert names == ["test_x[run 0]", "test_x[run 1]", "test_x[run 2]"]
    assert {c.get("classname") for c in root.iter("testcase")} == {"spec"}


def test_harness_failures_are_junit_errors(suite: SuiteResult) -> None:
    suite.results.append(
        make_result(
            "test_start",
            False,
            reason='failed to start services: service "db" exited with code 3 before it was ready',
            failure_type="service_start",
        )
    )
    root = ET.fromstring(junit_xml(suite).split("\n", 1)[1])
    (ts,) = root.findall("testsuite")
    assert (ts.get("failures"), ts.get("errors")) == ("1", "1")
    start = [c for c in ts.findall("testcase") if c.get("name") == "test_start"][0]
    assert start.find("failure") is None
    assert start.find("error").get("type") == "service_start"


def test_a_fault_that_never_fired_is_a_property_and_a_system_out_line() -> None:
    quiet = make_result(
        "test_matrix_health_check_slow_wal", True, matrix=("health_check", "slow_wal"),
        rules=[slow_wal_rule(hits=0)], labels={"failure_mode": "FM-3"},
    )  # fmt: skip
    root = ET.fromstring(junit_xml(SuiteResult("s.star", [quiet], 1)).split("\n", 1)[1])
    case = root.find(".//testcase")
    props = {p.get("name"): p.get("value") for p in case.find("properties")}
    assert props == {
        "scenario": "health_check",
        "fault": "slow_wal",
        "seed": "0",
        "failure_mode": "FM-3",
        "faults_not_fired": 'write=delay(100ms) on inventory label="slow WAL"',
    }
    assert case.find("system-out").text == (
        'warning: fault write=delay(100ms) on inventory label="slow WAL" never fired '
        "(0 of 3 write calls matched)"
    )
    assert case.find("failure") is None
