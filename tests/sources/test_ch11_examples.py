"""Chapter 11's specs (examples/ch11) run with `faultbox test`.

The Postgres/Kafka/Redis specs run from a copy with their ports renumbered (the chapter's
5432/8080/9092/6379 are shared with other tests on the machine); the stdout spec runs as is,
because mock-db listens on 5432 whatever the spec says.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sources.conftest import (
    EXAMPLES,
    REPO,
    needs_postgres,
    needs_redis,
    needs_tansu,
    run_spec,
    shifted_copy,
)

PORTS = {5432: 25432, 8080: 28080, 9092: 29092, 6379: 26379}


@needs_postgres
def test_postgres_wal_example(tmp_path: Path, public_tmp: Path) -> None:
    run = run_spec(shifted_copy(EXAMPLES / "postgres-wal.star", public_tmp, PORTS), tmp_path)
    for name in ("test_order_persisted_to_db", "test_no_insert_on_payment_failure"):
        assert run.result(name) == "pass", run.section(name)
    (wal,) = run.events("test_order_persisted_to_db", "wal")
    assert wal["data"]["item"] == "widget" and wal["data"]["action"] == "INSERT"


@needs_postgres
@needs_tansu
def test_kafka_topic_example(tmp_path: Path, public_tmp: Path) -> None:
    run = run_spec(shifted_copy(EXAMPLES / "kafka-topic.star", public_tmp, PORTS), tmp_path)
    for name in ("test_order_event_published", "test_no_orphan_events_on_db_failure"):
        assert run.result(name) == "pass", run.section(name)


@needs_redis
def test_redis_poll_example(tmp_path: Path, public_tmp: Path) -> None:
    run = run_spec(shifted_copy(EXAMPLES / "redis-poll.star", public_tmp, PORTS), tmp_path)
    assert run.result("test_session_created") == "pass", run.section("test_session_created")
    values = [p["data"]["value"] for p in run.events("test_session_created", "poll")]
    assert values == ["", "alice"]


@pytest.fixture
def demo_binaries() -> None:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, str(REPO / "demo" / "build.py")], check=True, capture_output=True
    )


def test_stdout_example(tmp_path: Path, demo_binaries: None) -> None:
    run = run_spec(EXAMPLES / "events-test.star", tmp_path)
    assert len(run.tests) == 9
    for name in run.tests:
        assert run.result(name) == "pass", run.section(name)
    assert run.returncode == 0
