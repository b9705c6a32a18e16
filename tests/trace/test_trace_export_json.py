from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path

import jsonschema
import pytest
from tracekit import TraceBuilder, make_result, slow_wal_rule

import faultbox
from faultbox.trace.events import Event
from faultbox.trace.export_json import (
    build_trace_output,
    classify_failure,
    event_to_json,
    format_timestamp,
    write_json,
)
from faultbox.trace.results import SuiteResult

SCHEMA_PATH = Path(faultbox.__file__).parent / "schemas" / "trace.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict:
    s = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(s)
    return s


def test_top_level_and_tests(suite: SuiteResult, schema: dict) -> None:
    out = build_trace_output(suite)
    jsonschema.validate(out, schema, cls=jsonschema.Draft202012Validator)
    assert list(out)[:6] == ["version", "star_file", "duration_ms", "pass", "fail", "tests"]
    assert (out["version"], out["pass"], out["fail"]) == (2, 1, 1)
    assert "matrix" not in out
    ok, bad = out["tests"]
    assert ok["result"] == "pass" and "replay_command" not in ok and "reason" not in ok
    assert bad["replay_command"] == "faultbox test traces-test.star --test zz_flaky --seed 7"
    assert bad["error_detail"] == {
        "assertion_type": "assert_eq",
        "message": "assert_eq failed: 503 != 200",
    }
    assert bad["failure_type"] == "assertion"
    assert ok["faults"] == [
        {
            "service": "inventory",
            "syscall": "write",
            "action": "delay",
            "errno": "100ms",
            "hits": 2,
            "label": "slow WAL",
            "kind": "fault",
            "filter": ["write", "writev", "pwrite64"],
        }
    ]
    assert ok["syscall_summary"]["inventory"]["faulted"] == 2
    assert [e["seq"] for e in ok["events"]] == list(range(1, len(ok["events"]) + 1))


def test_event_objects(order_events: list[Event]) -> None:
    started = event_to_json(order_events[0])
    assert started["event_type"] == "lifecycle.started"
    assert started["partition_key"] == started["service"] == "inventory"
    assert "fields" not in started
    assert started["vector_clock"] == {"inventory": 1}
    assert "data" not in started
    write = next(event_to_json(e) for e in order_events if e.fields.get("label"))
    assert write["event_type"] == "syscall.write"
    assert write["fields"]["decision"] == "delay(100ms)"
    part = event_to_json(Event(9, 0, "partition_applied", "", {"between": "a,b"}))
    assert "service" not in part and "partition_key" not in part and "vector_clock" not in part


def test_data_is_jsonable(schema: dict) -> None:
    b = TraceBuilder()
    b.log.emit("stdout", "db", {"line": "x"}, data={"n": 1, "b": b"\xff\x00", "s": {2, 1}})
    r = make_result(events=b.events())
    out = build_trace_output(SuiteResult("s.star", [r], 1))
    jsonschema.validate(out, schema)
    assert out["tests"][0]["events"][0]["data"] == {"n": 1, "b": "/wA=", "s": [1, 2]}
    json.dumps(out)


def test_timestamp_format() -> None:
    ts = format_timestamp(1_774_000_000_000_000_007)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000007(Z|[+-]\d\d:\d\d)", ts)
    parsed = dt.datetime.fromisoformat(ts[:26] + ts[29:].replace("Z", "+00:00"))
    assert int(parsed.timestamp()) == 1_774_000_000


def test_classify_failure() -> None:
    assert classify_failure("assert_true: nope") == "assertion"
    assert classify_failure("test timed out after 30s") == "timeout"
    assert classify_failure('service "db" failed to start') == "service_start"
    assert classify_failure("boom") == "error"


def test_matrix_section(schema: dict) -> None:
    cells = [
        make_result(
            "test_matrix_order_flow_db_down",
            False,
            reason="assert_eq failed: 1 != 2",
            matrix=("order_flow", "db_down"),
        ),
        make_result("test_matrix_order_flow_disk_full", True, matrix=("order_flow", "disk_full")),
        make_result("test_plain", True),
    ]
    suite = SuiteResult(
        "m.star",
        cells,
        10,
        matrix_order=(["order_flow", "refund"], ["disk_full", "db_down"]),
        matrix_excluded=[("refund", "db_down")],
    )
    out = build_trace_output(suite)
    jsonschema.validate(out, schema)
    m = out["matrix"]
    assert m["scenarios"] == ["order_flow", "refund"]
    assert m["faults"] == ["disk_full", "db_down"]
    assert (m["total"], m["passed"], m["failed"]) == (2, 1, 1)
    assert m["cells"][0] == {
        "scenario": "order_flow",
        "fault": "db_down",
        "passed": False,
        "duration_ms": 225,
        "reason": "assert_eq failed: 1 != 2",
        "faults_fired": True,
    }
    assert m["excluded"] == [{"scenario": "refund", "fault": "db_down"}]
    assert m["passed_without_fault"] == 0


def test_a_fault_that_never_fired_is_in_the_json(schema: dict) -> None:
    cell = make_result(
        "test_matrix_order_flow_slow_wal", True, matrix=("order_flow", "slow_wal"),
        rules=[slow_wal_rule(hits=0)], labels={"failure_mode": "FM-3"},
    )  # fmt: skip
    fired = make_result(
        "test_matrix_order_flow_disk", True, matrix=("order_flow", "disk"), rules=[slow_wal_rule()]
    )
    out = build_trace_output(SuiteResult("m.star", [cell, fired], 10))
    jsonschema.validate(out, schema)
    test = out["tests"][0]
    # order_trace() has three write calls on inventory (one on a system path), none faulted
    assert test["faults_not_fired"] == [
        {
            "service": "inventory",
            "syscall": "write",
            "spec": "delay(100ms)",
            "label": "slow WAL",
            "calls": 3,
            "message": 'fault write=delay(100ms) on inventory label="slow WAL" never fired '
            "(0 of 3 write calls matched)",
        }
    ]
    assert test["labels"] == {"failure_mode": "FM-3"}
    assert "faults_not_fired" not in out["tests"][1] and "labels" not in out["tests"][1]
    m = out["matrix"]
    assert [c["faults_fired"] for c in m["cells"]] == [False, True]
    assert m["passed_without_fault"] == 1


def test_schema_rejects_broken_documents(suite: SuiteResult, schema: dict) -> None:
    out = build_trace_output(suite)
    out["tests"][0]["events"][0]["timestamp"] = "yesterday"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(out, schema)
    out = build_trace_output(suite)
    del out["tests"][1]["replay_command"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(out, schema)


def test_write_json_path_and_stream(suite: SuiteResult, tmp_path: Path) -> None:
    p = tmp_path / "trace.json"
    write_json(suite, p)
    text = p.read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "version": 2,')
    buf = io.StringIO()
    write_json(suite, buf)
    assert json.loads(buf.getvalue()) == json.loads(text)
