"""`faultbox test` on specs that drive real servers (tests/sources/specs/*.star)."""

from __future__ import annotations

from pathlib import Path

from tests.sources.conftest import SPECS, needs_postgres, needs_redis, needs_tansu, run_spec


@needs_postgres
def test_wal_stream_on_postgres(tmp_path: Path) -> None:
    run = run_spec(SPECS / "wal.star", tmp_path)
    for name in (
        "test_insert_is_a_wal_event",
        "test_update_delete_and_filter",
        "test_query_step",
        "test_insert_fails_when_wal_fsync_denied",
    ):
        assert run.result(name) == "pass", run.section(name)
    # The WAL event joins the trace like any other: vector clock, service, JSON data.
    (wal,) = run.events("test_insert_is_a_wal_event", "wal")
    assert wal["service"] == "postgres"
    assert wal["data"] == {"id": 1, "item": "widget", "qty": 2, "paid": True,
                           "table": "orders", "action": "INSERT"}  # fmt: skip
    assert wal["fields"]["table"] == "orders" and wal["fields"]["lsn"]
    assert wal["vector_clock"]["postgres"] >= 1
    # With fdatasync denied the INSERT never commits; the stream reports the crash it saw.
    denied = "test_insert_fails_when_wal_fsync_denied"
    assert not run.events(denied, "wal")
    fault = run.tests[denied]["faults"][0]
    assert fault["syscall"] == "fdatasync" and fault["hits"] >= 1
    errors = run.events(denied, "source_error")
    assert errors and errors[0]["fields"]["source"] == "wal_stream"


@needs_postgres
def test_wal_stream_needs_logical_wal_level(tmp_path: Path) -> None:
    run = run_spec(SPECS / "wal_replica.star", tmp_path)
    assert run.returncode != 0
    assert run.result("test_needs_logical") == "fail"
    text = run.section("test_needs_logical")
    assert 'failed to start services: service "postgres": wal_stream(): logical decoding' in text
    assert '"-c", "wal_level=logical"' in text


@needs_redis
def test_poll_and_steps_on_redis(tmp_path: Path) -> None:
    run = run_spec(SPECS / "redis.star", tmp_path)
    assert run.result("test_set_is_a_poll_event") == "pass", run.section("test_set_is_a_poll_event")
    assert run.result("test_steps") == "pass", run.section("test_steps")
    polls = run.events("test_set_is_a_poll_event", "poll")
    assert [p["data"] for p in polls] == [{"value": ""}, {"value": "hello"}]
    assert polls[1]["fields"] == {"command": "GET greeting", "value": "hello"}


@needs_redis
def test_redis_exits_when_aof_fsync_is_denied(tmp_path: Path) -> None:
    run = run_spec(SPECS / "redis_aof.star", tmp_path)
    assert run.result("test_exit_is_in_the_trace") == "pass", run.section(
        "test_exit_is_in_the_trace"
    )
    exited = run.events("test_exit_is_in_the_trace", "service_exited")
    assert exited and exited[0]["service"] == "redis"
    assert exited[0]["fields"]["exit_code"] == "1"
    # Unchecked, the failed step fails the test, and the console says why: redis is gone.
    text = run.section("test_unchecked_set_fails")
    assert run.result("test_unchecked_set_fails") == "fail"
    assert 'reason: Connection closed by server. (service "redis" exited with code 1)' in text
    assert "service redis exited during the test (exit code 1" in text
    assert "Can't persist AOF for fsync error" in text


@needs_tansu
def test_topic_on_kafka_broker(tmp_path: Path) -> None:
    run = run_spec(SPECS / "kafka.star", tmp_path)
    for name in (
        "test_publish_is_a_topic_event",
        "test_service_publishes",
        "test_producer_connect_denied",
    ):
        assert run.result(name) == "pass", run.section(name)
    (ev,) = run.events("test_publish_is_a_topic_event", "topic")
    assert ev["data"] == {"order_id": 7, "item": "widget"}
    assert {k: ev["fields"][k] for k in ("topic", "partition", "offset", "key")} == {
        "topic": "order-events",
        "partition": ev["fields"]["partition"],
        "offset": "0",
        "key": "o7",
    }
    denied = run.tests["test_producer_connect_denied"]
    assert denied["faults"][0]["syscall"] == "connect" and denied["faults"][0]["hits"] >= 1
    assert not run.events("test_producer_connect_denied", "topic")
